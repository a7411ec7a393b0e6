"""The NST pipeline, in the order the data flows through it.

    images, samples   load C and S (files, URLs, arrays, the bundled samples) as (1, 3, H, W) in [0, 1]
    colour, masks     optional controls at the two ends: colour modes, regions for guided Gram matrices
    vgg               VGG-19 activations a^[l] at named layers
    costs             J_content, Gram matrices, J_style, J_tv, J: one copy of each formula (_validate: checks)
    noise             the start image G0
    optim             BoxLBFGS, the L-BFGS that keeps G in [0, 1]
    transfer          Objective (J of one G) and run (the loop) -> Result
    tiling, memory    large images: the exact tiled gradient, the memory estimate before a run
    config, hardware  the frozen Config and presets; which device and precision
    checkpoint        the loop's state on disk, for resuming

Nothing here imports ``nst_edu.teaching``; ``nst_edu.output`` (files, plots, animation) is the only other group it
uses (tests/test_layout.py checks both).
"""
