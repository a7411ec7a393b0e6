"""nst_edu: Neural Style Transfer (Gatys, Ecker & Bethge, CVPR 2016), written to be learned from.

The package in one line: ``nst_edu.run("chelsea", "swirls", nst_edu.preset("fast"))`` returns a ``Result``
with the image, the per-step costs and the frames. Each module holds one job; see the README's table.
"""

__version__ = "0.1.0"

from .config import PRESETS, Config, preset  # noqa: E402
from .transfer import NonFiniteCostError, Result, run  # noqa: E402

__all__ = ["Config", "PRESETS", "NonFiniteCostError", "Result", "preset", "run", "__version__"]
