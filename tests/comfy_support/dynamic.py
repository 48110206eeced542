"""A MODEL as ComfyUI's loaders return it on an NVIDIA GPU with dynamic VRAM (the default since
ComfyUI 0.16), made on a CPU.

ComfyUI never makes one for a CPU (`ModelPatcherDynamic.__new__` returns a plain ModelPatcher
there), and the class's constructor allocates host buffers through comfy-aimdo's CUDA library.
`CpuDynamicPatcher` is ComfyUI's own class with exactly those two things left out: `is_dynamic()`,
`clone()` and its loading (which streams through aimdo and fails on a CPU) are ComfyUI's. So a
node that accepts it never loaded it: it trained through the non-dynamic twin ComfyUI's own
`clone(disable_dynamic=True)` builds with the loader's `cached_patcher_init`, which here rebuilds
the same seeded model and counts how often it is asked to.
"""
from __future__ import annotations

import functools
from typing import Callable

PIN_SUBSETS = ("weights", "patches", "weights-loaded", "patches-loaded")


def dynamic_class():
    """ComfyUI's ModelPatcherDynamic, or None where this ComfyUI cannot turn it off per model
    (no `clone(disable_dynamic=...)`: ComfyUI before 0.16)."""
    import inspect

    import comfy.model_patcher as mp

    cls = getattr(mp, "ModelPatcherDynamic", None)
    if cls is None or "disable_dynamic" not in inspect.signature(cls.clone).parameters:
        return None
    return cls


@functools.cache
def cpu_dynamic_class():
    base = dynamic_class()

    class CpuDynamicPatcher(base):
        def __new__(cls, *args, **kwargs):  # ComfyUI's reroutes a CPU device to ModelPatcher
            return object.__new__(cls)

        def register_load_device(self, device):  # no comfy-aimdo host buffers on a CPU
            empty = {subset: (None, [], [-1], [0], [0], {}) for subset in PIN_SUBSETS}
            self.model.dynamic_pins.setdefault(device, empty | {
                "hostbufs_initialized": False, "failed": False, "active": False, "current_prompt": False})

    return CpuDynamicPatcher


class Loader:
    """A loader's `cached_patcher_init`: builds the model again, counting the calls."""

    def __init__(self, build: Callable):
        self.build, self.calls = build, 0

    def __call__(self, disable_dynamic: bool = False):
        self.calls += 1
        return self.build()


def dynamic_model(build: Callable):
    """`build()`'s model (a plain ModelPatcher) as a dynamic MODEL whose loader is `build`."""
    plain = build()
    model = cpu_dynamic_class()(plain.model, plain.load_device, plain.offload_device)
    model.cached_patcher_init = (Loader(build), ())
    return model
