"""Two MODELs that share weights (ComfyUI clones) as two core denoisers, one loaded at a time.

Why: clones share one set of torch modules, and ComfyUI loads a clone by patching those modules
in place (and unpatching the clone loaded before). `ComfyDenoiser` calls the UNet directly, so a
denoiser whose MODEL is not the one loaded right now would compute with the other's weights.
`LoadedOnUse` reloads its own MODEL (through ComfyUI's model management) when it is called
after another member of its group ran; the attack calls the original model only, then the
erased model only, so each is loaded once.
"""
from __future__ import annotations

from torch import Tensor, nn

from .denoiser import ComfyDenoiser, Delta


class LoadGroup:
    """Which member of a group of denoisers is loaded right now."""

    def __init__(self) -> None:
        self.current: "LoadedOnUse | None" = None


class LoadedOnUse:
    """The core's `Denoiser` over a `ComfyDenoiser`, loading its MODEL when its turn comes."""

    def __init__(self, inner: ComfyDenoiser, group: LoadGroup):
        self.inner, self.group, self.schedule = inner, group, inner.schedule

    def ensure_loaded(self) -> None:
        if self.group.current is not self:
            self.inner.prepare()
            self.group.current = self

    def __call__(self, x_t: Tensor, t: Tensor, cond: Tensor, delta: Delta | None = None) -> Tensor:
        self.ensure_loaded()
        return self.inner(x_t, t, cond, delta)

    def named_weights(self) -> dict[str, Tensor]:
        return self.inner.named_weights()

    def network(self) -> nn.Module:
        return self.inner.network()

    def context_of(self, cond: Tensor) -> Tensor:
        return self.inner.context_of(cond)
