"""`unlearn`: one run from settings to an erasure, the base weights never written."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch
from torch import Tensor

from ..anchors import AnchorState, wide_dtype
from ..concept import ConceptConditioning
from ..denoiser import Denoiser
from ..erasure import Erasure, describe
from ..errors import AdvAnchorError
from ..latents import draw_training_latents
from ..presets import select_parameters
from ..progress import OnStep, ShouldCancel, StepReport
from ..robust import PrefixAdversary
from ..sensitivity.anchor_choice import AnchorChoice
from .config import UnlearnConfig
from .effect import effect_size
from .methods import TABLE
from .run import make_run, start_progress
from .schedules import RUNNERS, Lane, report_count
from .stopping import HELD_OUT_DRAWS, Gauge, Reached, StopRule
from .search import start_anchor


Concepts = ConceptConditioning | Sequence[ConceptConditioning]


@dataclass
class UnlearnResult:
    erasure: Erasure
    history: list[StepReport]
    anchor: AnchorState | None      # the (first) concept's anchor where δ ended, with its effect size
    passes_per_update: float
    seconds: float
    anchor_choice: AnchorChoice | None = None  # start "map": the candidate chosen, and the map
    reached: list[Reached] = field(default_factory=list)  # per concept: how far it went, when
    kept: dict[int, dict[str, Tensor]] = field(default_factory=dict)  # `keep_after`'s deltas


def unlearn(denoiser: Denoiser, concepts: Concepts, config: UnlearnConfig = UnlearnConfig(), *,
            latents: Tensor | None = None, latent_shape: tuple[int, ...] | None = None,
            anchor: AnchorState | None = None, adversary: PrefixAdversary | None = None,
            on_step: OnStep | None = None, should_cancel: ShouldCancel | None = None,
            keep_after: Sequence[int] = ()) -> UnlearnResult:
    """Erase each concept of `concepts` (one, or several in one run) from `denoiser`; the base
    weights are never written.

    Several concepts share one delta and take turns, update by update (`schedules`): each gets
    `config.steps` updates (fewer where `config.stop_at` stops it: `stopping`), its own
    training draws (from `latents` when given, shared), its own anchor and its own superclass
    kept. `UnlearnResult.reached` says how far each concept went (`stopping.Reached`).
    `keep_after` names weight-update counts (over all concepts) after which a copy of the
    delta is kept (`UnlearnResult.kept`): one run read at several budgets, as a trade-off
    curve needs. `anchor` warm-starts the first concept's δ (e.g. from a separate anchor
    search); only method "adversarial" has a δ, so an anchor with another method is refused
    rather than silently dropped.

    `adversary` makes the run robust (`robust`): its prefix is re-attacked at intervals and
    erased on too; it is moved in place, and ends as the last attack found. It attacks one
    concept, so a robust run erases one.

    Raises `Cancelled` when `should_cancel()` turns true, `AdvAnchorError` on bad input or a
    non-finite loss.

    The delta trains, and the erasure keeps it, in float32 (float64 for a float64 model), never
    in the base weights' dtype: a delta is a small change, and rounded on its own to fp16 its
    smallest entries go (below 6e-8 they are 0), to float8 even a 3e-4 change becomes 0.
    Whoever applies it adds it to the weight in float32 (the core's denoiser, ComfyUI's
    weight patches).
    """
    ccs = _as_list(concepts)
    method = TABLE[config.method]
    if anchor is not None and not method.searches_anchor:
        raise AdvAnchorError(f"an anchor was given but method is {config.method!r}: only method "
                             "'adversarial' unlearns towards a searched anchor — set method "
                             "'adversarial' to use it, or leave the anchor out")
    if adversary is not None and len(ccs) > 1:
        raise AdvAnchorError(f"robust unlearning attacks one concept and {len(ccs)} were given: "
                             "erase them without robust rounds, or one per run")
    start = time.perf_counter()
    base = denoiser.named_weights()
    names = select_parameters(base.keys(), config.parameters)
    device = next(iter(base.values())).device
    gen = torch.Generator().manual_seed(config.seed)
    progress = start_progress(denoiser, config, len(ccs) * report_count(config, method), on_step,
                              should_cancel)
    lanes, gauges, choices = [], [], []
    for k, cc in enumerate(ccs):
        run = make_run(progress, cc.to(device), config, method, adversary)
        state, choice = None, None
        if method.searches_anchor:
            state, choice = start_anchor(run, config.anchor, gen, anchor if k == 0 else None,
                                         latents, latent_shape)
        draws = draw_training_latents(denoiser, run.cc, config.latents,
                                      config.steps + HELD_OUT_DRAWS, gen, device, latents,
                                      latent_shape)
        gauge = Gauge(denoiser, run, draws[config.steps:])
        stop = StopRule(gauge, config.stop_at, config.stop_every) if config.stop_at > 0 else None
        lanes.append(Lane(run, draws[:config.steps], state, stop))
        gauges.append(gauge)
        choices.append(choice)
    delta = {n: torch.zeros_like(base[n], dtype=wide_dtype(base[n].dtype), requires_grad=True)
             for n in names}
    opt = torch.optim.Adam(delta.values(), lr=config.lr)
    progress.delta, progress.keep_after = delta, frozenset(keep_after)
    RUNNERS[config.schedule](lanes, delta, opt)
    reached = [lane.stop.reached if lane.stopped() else gauge.read(delta, lane.anchor, config.steps)
               for lane, gauge in zip(lanes, gauges)]
    effects = [effect_size(denoiser, lane.run.cc, lane.anchor, lane.draws) if lane.anchor else None
               for lane in lanes]
    settings = _settings(config, len(names), lanes, choices, effects, reached, adversary)
    texts = [cc.concept.text for cc in ccs if cc.concept]
    erasure = Erasure({n: d.detach() for n, d in delta.items()}, describe(texts, settings))
    first = lanes[0].anchor
    return UnlearnResult(erasure, progress.history, first.detached(effects[0]) if first else None,
                         progress.denoiser.passes / sum(r.update for r in reached),
                         time.perf_counter() - start, choices[0], reached, progress.kept)


def _as_list(concepts: Concepts) -> list[ConceptConditioning]:
    ccs = [concepts] if isinstance(concepts, ConceptConditioning) else list(concepts)
    if not ccs:
        raise AdvAnchorError("no concept to erase: give at least one")
    return ccs


def _settings(config: UnlearnConfig, parameters: int, lanes: list[Lane],
              choices: list[AnchorChoice | None], effects: list[float | None],
              reached: list[Reached], adversary: PrefixAdversary | None) -> dict:
    """How the erasure was made, for its file's metadata: enough to make it again, and how far
    each concept went."""
    settings = {"config": asdict(config), "parameters": parameters,
                "concepts": [lane.run.cc.concept.as_metadata() if lane.run.cc.concept else None
                             for lane in lanes],
                "reached": [r.as_dict() for r in reached]}
    anchors = [lane.anchor for lane in lanes if lane.anchor is not None]
    if anchors:
        settings["anchor_relative_norm"] = [a.relative_norms().tolist() for a in anchors]
        settings["anchor_start"] = [{"space": a.space, "start": a.start} for a in anchors]
        settings["anchor_effect"] = [e for e in effects if e is not None]
    if any(choices):
        settings["anchor_choice"] = [c.as_dict() if c else None for c in choices]
    if adversary is not None:
        settings["robust"] = adversary.metadata()
    return settings
