"""nst_edu: Neural Style Transfer (Gatys, Ecker & Bethge, CVPR 2016), written to be learned from.

The package in one line: ``nst_edu.run("chelsea", "swirls", nst_edu.preset("fast"))`` returns a ``Result``
with the image, the per-step costs and the frames. Each module holds one job; see the README's table.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nst_edu")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

# Imported on first use (PEP 562), so that ``nst-edu`` sets its signal handlers before torch loads (seconds):
# Ctrl-C or SIGTERM during start-up then gets one sentence, not a traceback.
_HOMES = {
    "Config": "core.config",
    "PRESETS": "core.config",
    "preset": "core.config",
    "NonFiniteCostError": "core.transfer",
    "Result": "core.transfer",
    "run": "core.transfer",
}
__all__ = ["Config", "PRESETS", "NonFiniteCostError", "Result", "preset", "run", "__version__"]


def __getattr__(name):
    if name in _HOMES:
        import importlib

        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
