"""The anchor's effect size: how far it moves the concept's prediction, in units of the
concept's own distance from its superclass,

    r = ‖ε*(anchor) − ε*(concept)‖ / ‖ε*(concept) − ε*(superclass)‖

(ε* the frozen model, summed over a few training draws before the ratio).

Why: a δ step or bound means different things on different encoders (CLIP-L's concept rows are
~28 long, the lab's MiniLM's 6–11) and models, so settings tuned on one do not carry to another.
r is read off the model's own predictions: r = 0.1 means the anchor moved the prediction a
tenth of the way the superclass is from the concept, on any model. r near 1 is as far as
replacing the concept by its superclass; far above 1 the anchor is no longer near the concept.
"""
from __future__ import annotations

import torch

from ..anchors import AnchorState, widen
from ..concept import ConceptConditioning
from ..denoiser import Denoiser
from ..latents import Draw
from .frozen import batched

EFFECT_DRAWS = 4  # training draws r is measured on (one pass each)


def effect_size(denoiser: Denoiser, cc: ConceptConditioning, anchor: AnchorState,
                draws: list[Draw]) -> float:
    """r of `anchor` for `cc`'s concept prompt and superclass, on the first `EFFECT_DRAWS` draws."""
    moved = apart = 0.0
    with torch.no_grad():
        conds = torch.cat([anchor.conditioning(), cc.erase, cc.superclass])
        for draw in draws[:EFFECT_DRAWS]:
            eps_anchor, eps_concept, eps_super = widen(batched(denoiser, draw, conds, None))
            moved += (eps_anchor - eps_concept).pow(2).sum().item()
            apart += (eps_concept - eps_super).pow(2).sum().item()
    return (moved / max(apart, 1e-30)) ** 0.5
