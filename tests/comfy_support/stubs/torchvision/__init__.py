"""Import-only stand-in for torchvision, for tests on the CPU torch wheel.

ComfyUI imports torchvision at module level in code paths SD1.5 never executes; the PyPI
torchvision wheel does not load beside torch 2.13.0+cpu. Anything actually used raises.
"""
from . import models, transforms  # noqa: F401

__version__ = "0.0.0-stand-in"


def __getattr__(name):
    raise AttributeError(f"torchvision stand-in (tests only) has no attribute {name!r}")
