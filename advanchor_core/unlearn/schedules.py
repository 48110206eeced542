"""The schedules: how a run interleaves δ refinement and weight updates over its draws.

- "alternating" (the reference's): per draw, refine δ, then one θ step towards the anchor.
- "sequential": δ refined over every draw first, then every θ step with δ fixed.
- "cyclical": `anchor.steps` passes over the draws, one δ step per draw, then every θ step.

A method without an anchor has no δ phase: every schedule is then its θ steps alone.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..anchors import AnchorState
from ..latents import Draw
from .config import UnlearnConfig
from .frozen import Refs
from .methods import Method
from .run import Run

Schedule = Callable[[Run, list[Draw], dict[str, Tensor], torch.optim.Optimizer, AnchorState | None], None]


def alternating(run: Run, draws: list[Draw], delta: dict[str, Tensor], opt: torch.optim.Optimizer,
                anchor: AnchorState | None) -> None:
    """Per update: refine δ on this draw (warm start, fresh Adam), then one θ step."""
    total = len(draws)
    for i, draw in enumerate(draws, 1):
        run.progress.check_cancel()
        refs = run.frozen.references(draw, anchor)
        anchor_eps = None
        losses: dict[str, float] = {}
        if anchor is not None:
            anchor_eps, adv, taken = run.anchor.refine_to_target(anchor, draw, refs)
            losses.update(adv=adv, anchor_steps=float(taken))
        losses.update(run.weights.step(delta, opt, draw, run.target(refs, anchor_eps), refs, i))
        run.progress.report(i, total, "unlearn", losses)


def sequential(run: Run, draws: list[Draw], delta: dict[str, Tensor], opt: torch.optim.Optimizer,
               anchor: AnchorState | None) -> None:
    """All δ refinement over every draw first, then every θ step with δ fixed."""
    cached = [run.frozen.references(d) for d in draws]
    if anchor is not None:
        for i, (draw, refs) in enumerate(zip(draws, cached), 1):
            done = run.anchor.refine(anchor, draw, refs, run.config.anchor.steps)
            run.progress.report(i, len(draws), "anchor",
                                {"adv": done.loss, "anchor_steps": float(done.taken)})
    _theta_phase(run, draws, delta, opt, anchor, cached)


def cyclical(run: Run, draws: list[Draw], delta: dict[str, Tensor], opt: torch.optim.Optimizer,
             anchor: AnchorState | None) -> None:
    """`anchor.steps` passes over the draws, one δ step per draw, then every θ step.

    Each visit of a draw starts a fresh δ search (Adam and gradient), as the reference's
    cyclical script re-creates δ and its Adam for every image of every pass.
    """
    cached = [run.frozen.references(d) for d in draws]
    if anchor is not None:
        passes = run.config.anchor.steps
        for p in range(passes):
            for draw, refs in zip(draws, cached):
                done = run.anchor.refine(anchor, draw, refs, 1)
            run.progress.report(p + 1, passes, "anchor", {"adv": done.loss})
    _theta_phase(run, draws, delta, opt, anchor, cached)


def _theta_phase(run: Run, draws: list[Draw], delta: dict[str, Tensor], opt: torch.optim.Optimizer,
                 anchor: AnchorState | None, cached: list[Refs]) -> None:
    """Every θ step, towards the anchor as δ left it (or the method's own target)."""
    for i, (draw, refs) in enumerate(zip(draws, cached), 1):
        run.progress.check_cancel()
        with torch.no_grad():
            anchor_eps = run.anchor.eps(draw, anchor) if anchor is not None else None
        run.progress.report(i, len(draws), "unlearn",
                            run.weights.step(delta, opt, draw, run.target(refs, anchor_eps), refs, i))


RUNNERS: dict[str, Schedule] = {"alternating": alternating, "sequential": sequential,
                                "cyclical": cyclical}


def report_count(config: UnlearnConfig, method: Method) -> int:
    """Reports an `unlearn` run makes: one per update, plus the anchor phase's own."""
    if not method.searches_anchor or config.schedule == "alternating":
        return config.steps
    if config.schedule == "sequential":
        return 2 * config.steps
    return config.anchor.steps + config.steps
