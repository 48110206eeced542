"""Run the core's unlearning on a lab model, with settings tuned for its size.

Why lab-specific settings: the reference hyper-parameters (lr 1e-5, 51 batch-1 updates, anchor
lr 1e-4) are sized for SD1.5's 860M parameters and CLIP's embedding scale; on a 1.9M-parameter
model and MiniLM tokens (norm ~8–11) they change nothing measurable. Every method shares the
budget below (40 updates of batch 8, Adam lr 3e-3 on all `attn2` tensors, λ = 10, training
images the original drew for the concept prompt), so the comparison is at matched budgets.

Anchor settings (measured on "red", see benchmarks/RESULTS.md): Adam lr 0.02, one δ step per
update (warm-started), bound relative to the token norm. With L_adv2 a bound ≤ 0.4 leaves the
anchor red (nothing is erased); from 0.5 on — and with no bound, early stop included — the
anchor that minimises L_adv2 is *no object at all* (an empty background), so the concept goes
but its objects go with it. 0.5 is the default: the smallest bound that erases.
ESD is the published one at its default η = 1: target ε*(∅) − (ε*(c) − ε*(∅)).

Anchors meant to stay on the data manifold, same budget, kept apart from `METHODS` so the
benchmark's default method set stays the five above (`erase` runs either):
- "adv-keep": loss "keep" (concept share to −0.5, superclass component held at 1), 5 δ steps
  per update at lr 0.02, no bound — the loss has a finite minimiser of its own.
- "adv-soft": the same loss with δ on MiniLM's input token embeddings, bound 1.0 × the
  token's input-embedding norm.
- "adv-map": δ starts from the anchor candidate (the other colours / shapes / textures and the
  trained synonyms, in the anchor template) the anchor map ranks best — lowest retention at
  closeness ≥ 0.2 — and the "keep" loss refines it, one δ step per update, bound 1.0.
Their settings come from one look at the anchors' own samples on "red" (seed 0), not a search.

The default method is the product's (`advanchor_core.defaults.RECOMMENDED`): what measured best.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import torch
from torch import Tensor

from advanchor_core.anchors import AnchorConfig
from advanchor_core.closed_form import ClosedFormConfig, Target, erase_in_closed_form
from advanchor_core.concept import encode_concept
from advanchor_core.defaults import RECOMMENDED
from advanchor_core.latents import LatentConfig
from advanchor_core.robust import PrefixAdversary, RobustConfig
from advanchor_core.unlearn import StepReport, UnlearnConfig, unlearn

from .measure import Timer
from .world import LabTarget, World

# Shared by every method: the matched budget.
BASE = UnlearnConfig(steps=40, lr=3e-3, preservation=10.0, parameters="xattn",
                     latents=LatentConfig(source="supplied", batch_size=8))

METHODS: dict[str, UnlearnConfig] = {
    "adv1": replace(BASE, method="adversarial",
                    anchor=AnchorConfig(loss="adv1", steps=1, lr=0.02, bound=1.0, early_stop=True)),
    "adv2": replace(BASE, method="adversarial",
                    anchor=AnchorConfig(loss="adv2", steps=1, lr=0.02, bound=0.5, early_stop=True)),
    "fixed-superclass": replace(BASE, method="fixed"),
    "fixed-empty": replace(BASE, method="fixed"),
    "esd": replace(BASE, method="esd"),
}
MANIFOLD_METHODS: dict[str, UnlearnConfig] = {
    "adv-keep": replace(BASE, method="adversarial",
                        anchor=AnchorConfig(loss="keep", steps=5, lr=0.02, bound=None)),
    "adv-soft": replace(BASE, method="adversarial",
                        anchor=AnchorConfig(loss="keep", steps=5, lr=0.02, bound=1.0, space="input")),
    "adv-map": replace(BASE, method="adversarial",
                       anchor=AnchorConfig(loss="keep", steps=1, lr=0.02, bound=1.0, start="map",
                                           min_closeness=0.2)),
}
# The on-manifold methods with the sequential schedule: δ searched over every training draw
# first (5 steps each for adv-keep), then every θ step towards the anchor, fixed.
SEQUENTIAL: dict[str, UnlearnConfig] = {f"{m} sequential": replace(cfg, schedule="sequential")
                                        for m, cfg in MANIFOLD_METHODS.items()}
ALL_METHODS: dict[str, UnlearnConfig] = {**METHODS, **MANIFOLD_METHODS, **SEQUENTIAL}
# Closed-form edits of the cross-attention keys/values (no training): UCE's solve, and its
# null-space variant, at the core's settings.
CLOSED_FORM: dict[str, ClosedFormConfig] = {"uce": ClosedFormConfig(variant="uce"),
                                            "uce null-space": ClosedFormConfig(variant="null-space")}
DEFAULT_METHOD = RECOMMENDED.method
LATENT_SAMPLES = 16


@dataclass
class LabErasure:
    delta: dict[str, Tensor]
    history: list[StepReport]      # the losses per report ([] for a closed-form edit)
    passes_per_update: float       # denoiser passes per weight update (0: no training)
    seconds: float                 # training latents + unlearning (or the solve), wall time
    method: str
    anchor_effect: float | None = None  # the adversarial anchor's effect size r where it ended
    reached: dict | None = None  # how far the erasure went on held-out draws, and when (`stopping.Reached`)
    kept: dict[int, dict[str, Tensor]] = field(default_factory=dict)  # the delta after n updates


def training_latents(world: World, concept: LabTarget, n: int, seed: int) -> Tensor:
    """Images the original model draws for the concept's prompt (the reference's latents)."""
    prompt = concept.core_concept().prompt
    return world.sample([prompt] * n, seed=10_000 + seed)


def erase(world: World, concept: LabTarget, method: str = DEFAULT_METHOD, seed: int = 0,
          config: UnlearnConfig | None = None, retain: bool = False,
          on_step: Callable[[StepReport], None] | None = None,
          robust: RobustConfig | None = None, keep_after: Sequence[int] = ()) -> LabErasure:
    """Erase a lab concept with a method of `ALL_METHODS` (its settings, or `config`'s);
    with `robust`, attacked and erased on the attack while it trains (seeded by `seed`);
    `keep_after`: update counts whose delta the erasure keeps too (`LabErasure.kept`)."""
    if method in CLOSED_FORM:
        if robust is not None or config is not None or retain:
            raise ValueError(f"{method!r} is a closed-form edit: it has no training loop, so no "
                             "robust rounds, unlearning config or retain prompts apply")
        return erase_in_closed_form_lab(world, concept, method)
    if method not in ALL_METHODS:
        raise ValueError(f"unknown lab method {method!r}: choose one of {[*ALL_METHODS, *CLOSED_FORM]}")
    cfg = replace(config or ALL_METHODS[method], seed=seed)
    core = concept.core_concept(retain=retain)
    if method == "fixed-empty":
        core = replace(core, anchor_prompt="")
    if cfg.method == "adversarial" and cfg.anchor.start == "map":
        core = replace(core, anchor_candidates=concept.anchor_candidates())
    torch.manual_seed(seed)
    with Timer() as timer:
        cc = encode_concept(world.encoder, core)
        latents = training_latents(world, concept, LATENT_SAMPLES, seed)
        adversary = None if robust is None else PrefixAdversary.start(
            world.encoder, core.prompt, replace(robust, seed=seed), cc.erase)
        result = unlearn(world.denoiser, cc, cfg, latents=latents, adversary=adversary,
                         on_step=on_step, keep_after=keep_after)
    return LabErasure(result.erasure.tensors, result.history, result.passes_per_update, timer.seconds,
                      method, result.anchor.effect if result.anchor else None, result.reached[0].as_dict(),
                      result.kept)


def erase_in_closed_form_lab(world: World, concept: LabTarget, method: str) -> LabErasure:
    """The concept's prompt read as its superclass prompt, in one solve (the closed-form analogue of
    fixed-superclass): no training images, no updates."""
    core = concept.core_concept()
    with Timer() as timer:
        erasure = erase_in_closed_form(world.encoder, world.denoiser, [Target(core.prompt, core.superclass)],
                                       (), CLOSED_FORM[method])
    return LabErasure(erasure.tensors, [], 0.0, timer.seconds, method)


def erase_many(world: World, concepts: Sequence[LabTarget], method: str, seed: int = 0,
               kept: Sequence[str] = (), closed_form: ClosedFormConfig | None = None) -> LabErasure:
    """Erase several lab concepts in one run: one closed-form solve (`kept` its preserve
    prompts; `closed_form` overrides the method's settings), or one unlearning run of a method
    of `METHODS` (`kept` every concept's retain prompts) whose concepts take turns on one
    delta, trained on the pooled images the original draws for each concept's prompt."""
    cores = [c.core_concept() for c in concepts]
    if method in CLOSED_FORM:
        with Timer() as timer:
            erasure = erase_in_closed_form(world.encoder, world.denoiser,
                                           [Target(c.prompt, c.superclass) for c in cores],
                                           tuple(kept), closed_form or CLOSED_FORM[method])
        return LabErasure(erasure.tensors, [], 0.0, timer.seconds, method)
    if method not in METHODS or method == "fixed-empty":
        raise ValueError(f"{method!r} does not erase several concepts here: choose one of "
                         f"{[m for m in (*METHODS, *CLOSED_FORM) if m != 'fixed-empty']}")
    cfg = replace(METHODS[method], seed=seed)
    torch.manual_seed(seed)
    with Timer() as timer:
        ccs = [encode_concept(world.encoder, replace(c, retain_prompts=tuple(kept))) for c in cores]
        latents = torch.cat([training_latents(world, c, LATENT_SAMPLES, seed) for c in concepts])
        result = unlearn(world.denoiser, ccs, cfg, latents=latents)
    return LabErasure(result.erasure.tensors, result.history, result.passes_per_update,
                      timer.seconds, method)
