"""Solution to the exercise of notebooks/06_animation.ipynb: how much the picture changes between frames."""

import numpy as np


def frame_changes(frames):
    """change[k] = mean over (h, w, c) of |F_{k+1} − F_k| / 255, for consecutive frames k = 0 … K − 2.

    Shapes: frames, a list of K pairs (step, uint8 array (H, W, 3)), all the same size -> (K − 1,) float64
    """
    images = [frame.astype(np.float64) / 255.0 for _, frame in frames]  # K × (H, W, 3), in [0, 1]
    # float64 before subtracting: uint8 arithmetic wraps around (3 − 5 = 254)
    return np.array([np.abs(after - before).mean() for before, after in zip(images[:-1], images[1:])])
