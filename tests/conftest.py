"""Shared fixtures: small real images, built offline."""

import pytest
import torch


@pytest.fixture(scope="session")
def chelsea() -> torch.Tensor:
    """The scikit-image cat photo at 256 px (1, 3, H, W)."""
    from nst_edu import images

    return images.load_image("chelsea", size=256)


@pytest.fixture(scope="session")
def tiny_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """A 64 px content photo and a 64 px generated style image, for quick runs."""
    from nst_edu import images

    return images.load_image("chelsea", size=64), images.load_image("swirls", size=64)
