"""`unlearn`: one run from settings to an erasure, the base weights never written."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

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
from .methods import TABLE
from .run import make_run
from .schedules import RUNNERS, report_count
from .search import start_anchor


@dataclass
class UnlearnResult:
    erasure: Erasure
    history: list[StepReport]
    anchor: AnchorState | None
    passes_per_update: float
    seconds: float
    anchor_choice: AnchorChoice | None = None  # start "map": the candidate chosen, and the map


def unlearn(denoiser: Denoiser, cc: ConceptConditioning, config: UnlearnConfig = UnlearnConfig(), *,
            latents: Tensor | None = None, latent_shape: tuple[int, ...] | None = None,
            anchor: AnchorState | None = None, adversary: PrefixAdversary | None = None,
            on_step: OnStep | None = None,
            should_cancel: ShouldCancel | None = None) -> UnlearnResult:
    """Erase `cc.concept` from `denoiser`; the base weights are never written.

    `adversary` makes the run robust (`robust`): its prefix is re-attacked at intervals and
    erased on too; it is moved in place, and ends as the last attack found.

    `anchor` warm-starts δ (e.g. from a separate anchor search); only method "adversarial"
    has a δ, so an anchor with another method is refused rather than silently dropped.
    Raises `Cancelled` when `should_cancel()` turns true, `AdvAnchorError` on bad input or a
    non-finite loss.

    The delta trains, and the erasure keeps it, in float32 (float64 for a float64 model), never
    in the base weights' dtype: a delta is a small change, and rounded on its own to fp16 its
    smallest entries go (below 6e-8 they are 0), to float8 even a 3e-4 change becomes 0.
    Whoever applies it adds it to the weight in float32 (the core's denoiser, ComfyUI's
    weight patches).
    """
    method = TABLE[config.method]
    if anchor is not None and not method.searches_anchor:
        raise AdvAnchorError(f"an anchor was given but method is {config.method!r}: only method "
                             "'adversarial' unlearns towards a searched anchor — set method "
                             "'adversarial' to use it, or leave the anchor out")
    start = time.perf_counter()
    base = denoiser.named_weights()
    names = select_parameters(base.keys(), config.parameters)
    device = next(iter(base.values())).device
    cc = cc.to(device)
    gen = torch.Generator().manual_seed(config.seed)
    run = make_run(denoiser, cc, config, method, report_count(config, method), on_step, should_cancel,
                   adversary)
    choice = None
    if method.searches_anchor:
        anchor, choice = start_anchor(run, config.anchor, gen, anchor, latents, latent_shape)
    draws = draw_training_latents(denoiser, cc, config.latents, config.steps, gen, device,
                                  latents, latent_shape)
    delta = {n: torch.zeros_like(base[n], dtype=wide_dtype(base[n].dtype), requires_grad=True)
             for n in names}
    opt = torch.optim.Adam(delta.values(), lr=config.lr)
    RUNNERS[config.schedule](run, draws, delta, opt, anchor)
    settings = _settings(config, len(names), cc, anchor, choice, adversary)
    erasure = Erasure({n: d.detach() for n, d in delta.items()},
                      describe([cc.concept.text] if cc.concept else [], settings))
    return UnlearnResult(erasure, run.progress.history, anchor.detached() if anchor else None,
                         run.denoiser.passes / config.steps, time.perf_counter() - start, choice)


def _settings(config: UnlearnConfig, parameters: int, cc: ConceptConditioning,
              anchor: AnchorState | None, choice: AnchorChoice | None,
              adversary: PrefixAdversary | None) -> dict:
    """How the erasure was made, for its file's metadata: enough to make it again."""
    settings = {"config": asdict(config), "parameters": parameters,
                "concept": cc.concept.as_metadata() if cc.concept else None}
    if anchor is not None:
        settings["anchor_relative_norm"] = anchor.relative_norms().tolist()
        if anchor.start is not None or anchor.space != "output":
            settings["anchor_start"] = {"space": anchor.space, "start": anchor.start}
    if choice is not None:
        settings["anchor_choice"] = choice.as_dict()
    if adversary is not None:
        settings["robust"] = adversary.metadata()
    return settings
