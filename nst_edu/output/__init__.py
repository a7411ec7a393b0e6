"""What a run leaves behind: files written atomically (fileio), loss plots (plots), the animation (animation).

These modules read a ``Result``'s plain data (tensors, NumPy arrays, History rows) and import nothing else
from the package, so ``core`` may call them to save a run.
"""
