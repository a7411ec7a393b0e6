"""Solution to exercise 1 of notebooks/08_controlling_colour_regions_and_scale.ipynb: RGB -> luminance Y."""


def luminance(x):
    """Y = 0.299 R + 0.587 G + 0.114 B (YIQ's Y); x (1, 3, H, W) RGB in [0, 1] -> (1, 1, H, W)."""
    R, G, B = x[:, 0:1], x[:, 1:2], x[:, 2:3]  # (1, 1, H, W) each: x is channels FIRST
    return 0.299 * R + 0.587 * G + 0.114 * B  # (1, 1, H, W), in [0, 1]: the weights sum to 1
