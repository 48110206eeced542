"""Two MODELs that share weights (ComfyUI clones) as two core denoisers, one loaded at a time.

Why: clones share one set of torch modules, and ComfyUI loads a clone by patching those modules
in place (and unpatching the clone loaded before). `ComfyDenoiser` calls the UNet directly, so a
denoiser whose MODEL is not the one loaded right now would compute with the other's weights.
`LoadedOnUse` reloads its own MODEL (through ComfyUI's model management) when it is called
after another member of its group ran; the attack calls the original model only, then the
erased model only, so each is loaded once.
"""
from __future__ import annotations

from torch import Tensor

from ...advanchor_core.denoiser import WrappedDenoiser
from .denoiser import ComfyDenoiser, Delta


class LoadGroup:
    """Which member of a group of denoisers is loaded right now."""

    def __init__(self) -> None:
        self.current: "LoadedOnUse | None" = None


class LoadedOnUse(WrappedDenoiser):
    """A `ComfyDenoiser` that loads its MODEL when its turn in the group comes; weights,
    network, schedule and context rows are the inner denoiser's."""

    def __init__(self, inner: ComfyDenoiser, group: LoadGroup):
        super().__init__(inner)
        self.group = group

    def ensure_loaded(self) -> None:
        if self.group.current is not self:
            self.inner.prepare()
            self.group.current = self

    def __call__(self, x_t: Tensor, t: Tensor, cond: Tensor, delta: Delta | None = None) -> Tensor:
        self.ensure_loaded()
        return self.inner(x_t, t, cond, delta)
