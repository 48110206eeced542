"""The weight step: one update of θ, the concept towards its target, the rest preserved.

θ is an additive delta over the selected weights. One patched pass per update predicts the
concept and every preserved prompt (the superclass and the retain prompts, held at the frozen
model's prediction with weight λ: the package's loss). In a robust run the attack's prefixed
prompt joins the pass and is sent to the same target.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..anchors import widen
from ..concept import ConceptConditioning
from ..denoiser import Denoiser
from ..errors import NonFiniteLossError
from ..latents import Draw
from ..robust import PrefixAdversary
from .frozen import Refs, batched


@dataclass
class WeightStep:
    denoiser: Denoiser
    cc: ConceptConditioning
    preservation: float
    accumulate_grads: bool
    adversary: PrefixAdversary | None = None

    def step(self, delta: dict[str, Tensor], opt: torch.optim.Optimizer, draw: Draw,
             target: Tensor, refs: Refs, update: int) -> dict[str, float]:
        """One weight update: the concept towards `target`, the preserved prompts unchanged
        (and, in a robust run, the attack's prefixed prompt towards `target` too)."""
        cc = self.cc
        keep_conds = [cc.superclass] + ([cc.retain] if cc.retain is not None else [])
        conds = [cc.erase] + (keep_conds if self.preservation > 0 else [])
        losses = self.harden(delta, draw, refs, update)
        if self.adversary is not None:
            conds.append(self.adversary.conditioning())
        out = batched(self.denoiser, draw, torch.cat(conds), delta)
        erased = out[[0, -1]] if self.adversary is not None else out[:1]
        erase = F.mse_loss(widen(erased), widen(target).expand_as(erased))
        kept = out[1:1 + sum(c.shape[0] for c in keep_conds)] if self.preservation > 0 else None
        keep = F.mse_loss(widen(kept), widen(refs.preserved())) if kept is not None \
            else torch.zeros_like(erase)
        loss = erase + self.preservation * keep
        if not torch.isfinite(loss):
            raise NonFiniteLossError("the unlearning loss is not finite: lower the lr, or the "
                                     "anchor lr/bound; no erasure was produced")
        self._apply(delta, opt, loss)
        return {"erase": erase.item(), "preserve": keep.item(), "total": loss.item(), **losses}

    def _apply(self, delta: dict[str, Tensor], opt: torch.optim.Optimizer, loss: Tensor) -> None:
        """θ ← Adam step on `loss`; the gradient replaces the last one, or adds to it as the
        reference's never-zeroed gradient does (`accumulate_grads`). A weight the prediction
        never reads (Qwen-Image's last block computes a text output it discards) gets a zero
        gradient: presets name weights by their part, not by whether this model uses them."""
        params = list(delta.values())
        grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)
        for p, g in zip(params, grads):
            p.grad = g if not self.accumulate_grads or p.grad is None else p.grad + g
        opt.step()

    def harden(self, delta: dict[str, Tensor], draw: Draw, refs: Refs, update: int) -> dict[str, float]:
        """Robust runs: re-attack the current erased model when the prefix is due."""
        if self.adversary is None or not self.adversary.due(update):
            return {}
        return {"attack_gap": self.adversary.attack(self.denoiser, delta, draw, refs["erase"][0])}
