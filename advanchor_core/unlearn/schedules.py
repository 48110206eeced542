"""The schedules: how a run interleaves δ refinement and weight updates over its draws.

- "alternating" (the reference's): per draw, refine δ, then one θ step towards the anchor.
- "sequential": δ refined over every draw first, then every θ step with δ fixed.
- "cyclical": `anchor.steps` passes over the draws, one δ step per draw, then every θ step.

A method without an anchor has no δ phase: every schedule is then its θ steps alone.

Several concepts in one run: each is a `Lane` (its own frozen side, anchor and draws) and
the lanes take turns, update by update, on the one shared delta, so no concept's erasure is
trained once and then left to the others' updates (as chained runs would). Each anchor
phase runs lane after lane; it touches only its own δ.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import Tensor

from ..anchors import AnchorState
from ..latents import Draw
from .config import UnlearnConfig
from .frozen import Refs
from .methods import Method
from .run import Run
from .stopping import StopRule


@dataclass
class Lane:
    """One concept of a run: its parts, its training draws, its anchor (None: no δ) and its
    stopping rule (None: every update)."""

    run: Run
    draws: list[Draw]
    anchor: AnchorState | None
    stop: StopRule | None = None

    def stopped(self) -> bool:
        return self.stop is not None and self.stop.reached is not None

    def read_stop(self, delta: dict[str, Tensor], update: int) -> dict[str, float]:
        """The stopping rule's reading if one is due at `update`, as report entries."""
        reading = self.stop.check(delta, self.anchor, update) if self.stop is not None else None
        return {} if reading is None else {"moved": reading.moved, "drift": reading.drift}


Schedule = Callable[[list[Lane], dict[str, Tensor], torch.optim.Optimizer], None]


def alternating(lanes: list[Lane], delta: dict[str, Tensor], opt: torch.optim.Optimizer) -> None:
    """Per update: refine δ on this draw (warm start, fresh Adam), then one θ step."""
    total = sum(len(lane.draws) for lane in lanes)
    for i, k in _turns(lanes):
        run, draw, anchor = lanes[k].run, lanes[k].draws[i - 1], lanes[k].anchor
        run.progress.check_cancel()
        refs = run.frozen.references(draw, anchor)
        anchor_eps = None
        losses: dict[str, float] = {}
        if anchor is not None:
            anchor_eps, adv, taken = run.anchor.refine_to_target(anchor, draw, refs)
            losses.update(adv=adv, anchor_steps=float(taken))
        losses.update(run.weights.step(delta, opt, draw, run.target(refs, anchor_eps), refs, i))
        losses.update(lanes[k].read_stop(delta, i))
        run.progress.report("unlearn", total, losses)


def sequential(lanes: list[Lane], delta: dict[str, Tensor], opt: torch.optim.Optimizer) -> None:
    """All δ refinement over every draw first, then every θ step with δ fixed."""
    cached = [[lane.run.frozen.references(d) for d in lane.draws] for lane in lanes]
    total = sum(len(lane.draws) for lane in lanes if lane.anchor is not None)
    for lane, refs_of in zip(lanes, cached):
        if lane.anchor is None:
            continue
        for draw, refs in zip(lane.draws, refs_of):
            done = lane.run.anchor.refine(lane.anchor, draw, refs, lane.run.config.anchor.steps)
            lane.run.progress.report("anchor", total,
                                     {"adv": done.loss, "anchor_steps": float(done.taken)})
    _theta_phase(lanes, delta, opt, cached)


def cyclical(lanes: list[Lane], delta: dict[str, Tensor], opt: torch.optim.Optimizer) -> None:
    """`anchor.steps` passes over the draws, one δ step per draw, then every θ step.

    Each visit of a draw starts a fresh δ search (Adam and gradient), as the reference's
    cyclical script re-creates δ and its Adam for every image of every pass.
    """
    cached = [[lane.run.frozen.references(d) for d in lane.draws] for lane in lanes]
    searching = [(lane, refs_of) for lane, refs_of in zip(lanes, cached) if lane.anchor is not None]
    total = sum(lane.run.config.anchor.steps for lane, _ in searching)
    for lane, refs_of in searching:
        for _ in range(lane.run.config.anchor.steps):
            for draw, refs in zip(lane.draws, refs_of):
                done = lane.run.anchor.refine(lane.anchor, draw, refs, 1)
            lane.run.progress.report("anchor", total, {"adv": done.loss})
    _theta_phase(lanes, delta, opt, cached)


def _theta_phase(lanes: list[Lane], delta: dict[str, Tensor], opt: torch.optim.Optimizer,
                 cached: list[list[Refs]]) -> None:
    """Every θ step, towards the anchor as δ left it (or the method's own target)."""
    total = sum(len(lane.draws) for lane in lanes)
    for i, k in _turns(lanes):
        lane = lanes[k]
        run, draw, refs = lane.run, lane.draws[i - 1], cached[k][i - 1]
        run.progress.check_cancel()
        with torch.no_grad():
            anchor_eps = run.anchor.eps(draw, lane.anchor) if lane.anchor is not None else None
        losses = run.weights.step(delta, opt, draw, run.target(refs, anchor_eps), refs, i)
        run.progress.report("unlearn", total, losses | lane.read_stop(delta, i))


def _turns(lanes: list[Lane]) -> Iterator[tuple[int, int]]:
    """(update number within its lane, 1-based; lane index) in the order the lanes take turns,
    a lane whose stopping rule has fired left out from then on."""
    for i in range(1, len(lanes[0].draws) + 1):
        for k, lane in enumerate(lanes):
            if not lane.stopped():
                yield i, k


RUNNERS: dict[str, Schedule] = {"alternating": alternating, "sequential": sequential,
                                "cyclical": cyclical}


def report_count(config: UnlearnConfig, method: Method) -> int:
    """Reports an `unlearn` run makes per concept: one per update, plus the anchor phase's own."""
    if not method.searches_anchor or config.schedule == "alternating":
        return config.steps
    if config.schedule == "sequential":
        return 2 * config.steps
    return config.anchor.steps + config.steps
