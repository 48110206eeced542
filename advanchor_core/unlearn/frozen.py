"""The frozen side of an update: every prediction that does not depend on δ or θ, one pass.

Why one pass: the concept and attribute targets, the superclass, the retain prompts and ESD's
terms are all predictions of the frozen model, so for one draw they are computed once, in one
batch, however many anchor steps and weight steps then use them. When that batch is small the
anchor's first evaluation rides along in it (`FOLD_LIMIT`), saving the anchor search a pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..anchors import AnchorState
from ..concept import ConceptConditioning
from ..denoiser import Delta, Denoiser
from ..latents import Draw

FOLD_LIMIT = 4  # fold the first anchor evaluation into the frozen batch up to this many samples


@dataclass
class Refs:
    """Frozen predictions for one draw, each [n, B, ...]."""

    by_name: dict[str, Tensor]
    first_anchor: Tensor | None = None

    def __getitem__(self, name: str) -> Tensor:
        return self.by_name[name]

    def preserved(self) -> Tensor:
        """What preservation holds the model to: the superclass's and retain prompts' ε."""
        return torch.cat([self.by_name[n] for n in ("superclass", "retain") if n in self.by_name])


def batched(denoiser: Denoiser, draw: Draw, conds: Tensor, delta: Delta | None) -> Tensor:
    """ε for every cond at this draw: [n, B, ...] from one denoiser pass."""
    n, b = conds.shape[0], draw.x_t.shape[0]
    x = draw.x_t.repeat(n, *([1] * (draw.x_t.dim() - 1)))
    out = denoiser(x, draw.t.repeat(n), conds.repeat_interleave(b, dim=0), delta)
    return out.reshape(n, b, *out.shape[1:])


def frozen_prompts(cc: ConceptConditioning, own: dict[str, Tensor], preservation: float,
                   robust: bool) -> dict[str, Tensor]:
    """The method's own frozen prompts, then what preservation keeps (the superclass and the
    retain prompts), then the attack's target in a robust run (the plain erase prompt).

    The order is the batch's: a prompt named twice keeps its first place."""
    prompts = dict(own)
    if preservation > 0:
        prompts["superclass"] = cc.superclass
        if cc.retain is not None:
            prompts["retain"] = cc.retain
    if robust:
        prompts["erase"] = cc.erase
    return prompts


@dataclass
class FrozenSide:
    """The run's frozen prompts by name, predicted together on each draw."""

    denoiser: Denoiser
    prompts: dict[str, Tensor]

    def references(self, draw: Draw, anchor: AnchorState | None = None) -> Refs:
        """One pass for every frozen prediction of this draw (and the anchor's first, if small)."""
        conds = torch.cat(list(self.prompts.values()))
        fold = anchor is not None and (conds.shape[0] + 1) * draw.x_t.shape[0] <= FOLD_LIMIT
        with torch.set_grad_enabled(fold):
            if fold:
                conds = torch.cat([conds, anchor.conditioning()])
            out = batched(self.denoiser, draw, conds, None)
        sizes = [c.shape[0] for c in self.prompts.values()]
        parts = out.split(sizes + ([1] if fold else []))
        refs = {name: part.detach() for name, part in zip(self.prompts, parts)}
        return Refs(refs, parts[-1][0] if fold else None)
