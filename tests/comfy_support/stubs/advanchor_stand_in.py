"""Import-only stand-ins for torchvision and torchaudio, for tests on the CPU torch wheel.

Why: ComfyUI imports both at start (0.33 imports `torchvision.ops`, `torchvision.models.
optical_flow`, `torchvision.transforms.functional` and `torchaudio` from modules every model
loads), in code the pack's models never run; PyPI's torchvision does not load beside the CPU
torch 2.13.0 wheel and torchaudio has no build for it. Any submodule imports, any name can be
imported, subclassed or read as a default value; calling or instantiating one raises, so a
test that strays into real torchvision or torchaudio code fails loudly.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types


class _StandInType(type):
    def __getattr__(cls, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return stand_in(f"{cls.__qualname__}.{name}")


def _refuse(self, *args, **kwargs):
    raise RuntimeError(f"{type(self).__qualname__} is an import-only stand-in (tests only)")


def stand_in(qualname: str) -> type:
    """A class named `qualname` whose instances cannot be made and whose attributes are stand-ins."""
    return _StandInType(qualname.rsplit(".", 1)[-1], (), {"__init__": _refuse, "__qualname__": qualname})


class StandInModule(types.ModuleType):
    __version__ = "0.0.0-stand-in"

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return stand_in(f"{self.__name__}.{name}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes every `<root>.*` submodule a stand-in module."""

    def __init__(self, root: str):
        self.root = root

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(self.root + "."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = StandInModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def install(package: str) -> None:
    """Turn the package being imported into a stand-in, its submodules too."""
    module = sys.modules[package]
    module.__class__ = StandInModule
    sys.meta_path.append(_Finder(package))
