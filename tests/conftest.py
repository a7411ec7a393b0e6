"""Shared fixtures: small real images, built offline."""

import importlib.util
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def chelsea() -> torch.Tensor:
    """The scikit-image cat photo at 256 px (1, 3, H, W)."""
    from nst_edu.core import images

    return images.load_image("chelsea", size=256)


@pytest.fixture(scope="session")
def tiny_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """A 64 px content photo and a 64 px generated style image, for quick runs."""
    from nst_edu.core import images

    return images.load_image("chelsea", size=64), images.load_image("swirls", size=64)


SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"


def load_solution(name: str):
    """Import a reference solution, notebooks/solutions/<name>.py, as a module (for the checks' tests)."""
    spec = importlib.util.spec_from_file_location(name, SOLUTIONS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stub(*args):
    """A learner's exercise before it is attempted."""
    raise NotImplementedError("write your code here")
