"""How far an erasure has gone, read off the model, and a stopping rule built on it.

On a few held-out draws (drawn with the training draws, never trained on):

    moved = 1 − Σ‖ε_θ(c) − T‖ / Σ‖ε*(c) − T‖       T: the method's target on that draw
    drift = Σ‖ε_θ(s) − ε*(s)‖ / Σ‖ε*(c) − ε*(s)‖    s: the superclass

`moved` is 0 before the first update and 1 once the concept's prediction is its target;
`drift` is how far the superclass's prediction has gone, in units of the concept's distance
from it. Why: an iteration count tuned on one model says nothing about another (the lab's
1.9M parameters against SD1.5's 860M); how far the concept has gone towards its target reads
the same on any model. With `stop_at` a concept stops taking turns once `moved` reaches it
(checked every `stop_every` updates), and `steps` stays the cap. Measured with the model
outside the run's pass count: passes per update stay the method's own cost.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..anchors import AnchorState, widen
from ..denoiser import Denoiser
from ..latents import Draw
from .frozen import FrozenSide, Refs, batched
from .run import Run

HELD_OUT_DRAWS = 2


@dataclass(frozen=True)
class Reached:
    """Where a concept's erasure stood after `update` updates."""

    update: int
    moved: float
    drift: float

    def as_dict(self) -> dict:
        return {"update": self.update, "moved": round(self.moved, 4), "drift": round(self.drift, 4)}


class Gauge:
    """`moved` and `drift` of one concept on its held-out draws (frozen parts computed once)."""

    def __init__(self, denoiser: Denoiser, run: Run, draws: list[Draw]):
        self.denoiser, self.run, self.draws = denoiser, run, draws
        conds = torch.cat([run.cc.erase, run.cc.superclass])
        side = FrozenSide(denoiser, run.frozen.prompts)  # the run's frozen prompts, uncounted
        with torch.no_grad():
            self.frozen: list[tuple[Refs, Tensor]] = [
                (side.references(d), batched(denoiser, d, conds, None)) for d in draws]

    def read(self, delta: dict[str, Tensor], anchor: AnchorState | None, update: int) -> Reached:
        to_go = start = drift = apart = 0.0
        conds = torch.cat([self.run.cc.erase, self.run.cc.superclass])
        with torch.no_grad():
            for draw, (refs, (concept, sup)) in zip(self.draws, self.frozen):
                anchor_eps = None if anchor is None else \
                    batched(self.denoiser, draw, anchor.conditioning(), None)[0]
                target = widen(self.run.target(refs, anchor_eps))
                now, now_sup = widen(batched(self.denoiser, draw, conds, delta))
                concept, sup = widen(concept), widen(sup)
                to_go += (now - target).norm().item()
                start += (concept - target).norm().item()
                drift += (now_sup - sup).norm().item()
                apart += (concept - sup).norm().item()
        return Reached(update, 1 - to_go / max(start, 1e-30), drift / max(apart, 1e-30))


@dataclass
class StopRule:
    """Stop a concept once it has `moved` at least `fraction`, read every `every` updates."""

    gauge: Gauge
    fraction: float
    every: int
    reached: Reached | None = None  # set once the rule fired

    def check(self, delta: dict[str, Tensor], anchor: AnchorState | None, update: int) -> Reached | None:
        """The reading at this update if one is due (and whether the rule fired, in `reached`)."""
        if update % self.every:
            return None
        reading = self.gauge.read(delta, anchor, update)
        if reading.moved >= self.fraction:
            self.reached = reading
        return reading
