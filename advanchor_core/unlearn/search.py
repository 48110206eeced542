"""Where δ starts, and the δ search on its own.

δ starts on the concept's anchor text, on the anchor candidate the anchor map ranks best
(start "map"), or where a given anchor left it. `search_anchor` runs the δ phase alone, so a
user can look at — and sample from — the anchor before unlearning towards it.
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from ..anchors import AnchorConfig, AnchorState, init_anchor, rebase_anchor
from ..concept import ConceptConditioning
from ..denoiser import Denoiser
from ..errors import AdvAnchorError
from ..latents import draw_training_latents
from ..progress import OnStep, ShouldCancel, StepReport
from ..sensitivity.anchor_choice import AnchorChoice, candidate_map, choose_anchor
from ..sensitivity.probes import ProbeConfig, make_probes
from .config import UnlearnConfig
from .methods import TABLE
from .effect import effect_size
from .run import Run, make_run, start_progress

MAP_PROBES = 4  # latents the anchor map (start "map") is probed at, each at its default timesteps


def start_anchor(run: Run, config: AnchorConfig, gen: torch.Generator, given: AnchorState | None,
                 latents: Tensor | None,
                 latent_shape: tuple[int, ...] | None) -> tuple[AnchorState, AnchorChoice | None]:
    """δ₀ on the anchor's start, or `given` rebased onto this run's encoding.

    Start "map": the concept's anchor candidates are placed on the anchor map (probed at the
    run's latents, or at Gaussian latents of `latent_shape`, with a generator of their own so
    the run's draws stay those of the seed) and δ starts on the one `choose_anchor` ranks
    best. A given anchor keeps the start it was searched from.
    """
    cc, choice = run.cc, None
    if given is not None:
        if isinstance(given, AnchorState) and given.space != config.space:
            raise AdvAnchorError(f"the anchor was searched with anchor space {given.space!r} but "
                                 f"this run's is {config.space!r}: set the same space, or leave the "
                                 "anchor out to search a new one")
        start = getattr(given, "start", None)
    elif config.start == "map":
        probes = make_probes(run.denoiser, ProbeConfig(latents=MAP_PROBES, seed=run.config.seed),
                             latents=latents, latent_shape=latent_shape)
        choice = choose_anchor(candidate_map(run.denoiser, cc, probes), config.min_closeness)
        start = choice.name
    else:
        start = None
    fresh = init_anchor(cc, config, gen, start)  # drawn either way: one seed, one stream of draws
    return (fresh if given is None else rebase_anchor(cc, given)), choice


def search_anchor(denoiser: Denoiser, cc: ConceptConditioning, config: UnlearnConfig = UnlearnConfig(),
                  *, draws: int = 8, latents: Tensor | None = None,
                  latent_shape: tuple[int, ...] | None = None, anchor: AnchorState | None = None,
                  on_step: OnStep | None = None,
                  should_cancel: ShouldCancel | None = None) -> tuple[AnchorState, list[StepReport]]:
    """The δ phase alone (as the sequential schedule runs it), over `draws` training draws.

    Lets a user look at — and sample from — the anchor before unlearning towards it. The
    anchor returned carries its effect size (`effect`), measured outside the run's pass count.
    """
    device = next(iter(denoiser.named_weights().values())).device
    cc = cc.to(device)
    gen = torch.Generator().manual_seed(config.seed)
    alone = replace(config, method="adversarial", preservation=0.0)  # the δ phase, nothing kept
    run = make_run(start_progress(denoiser, alone, draws, on_step, should_cancel), cc, alone,
                   TABLE[alone.method])
    state, _ = start_anchor(run, config.anchor, gen, anchor, latents, latent_shape)
    drawn = draw_training_latents(denoiser, cc, config.latents, draws, gen, device, latents,
                                  latent_shape)
    for i, draw in enumerate(drawn, 1):
        run.progress.check_cancel()
        refs = run.frozen.references(draw, state)
        done = run.anchor.refine(state, draw, refs, config.anchor.steps)
        run.progress.report("anchor", draws, {"adv": done.loss, "anchor_steps": float(done.taken)})
    return state.detached(effect_size(denoiser, cc, state, drawn)), run.progress.history
