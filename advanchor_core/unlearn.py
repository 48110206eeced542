"""The unlearning loop: align the concept's prediction with an anchor's, preserve the rest.

    L(θ) = ‖ε_θ(x_t, c_u) − target‖² + λ · mean_{c ∈ superclass ∪ retain} ‖ε_θ(x_t, c) − ε*(x_t, c)‖²

with target ε*(x_t, anchor) (adversarial or fixed text anchor) or ESD's negative guidance
ε*(∅) − η(ε*(c_u) − ε*(∅)) (Gandikota et al. 2023, η = 1 by default). θ is an additive delta
over the selected weights; ε* is the same model with the delta off.

Efficiency by construction: everything frozen that an update needs (concept and attribute
targets, superclass, retain, ESD terms) does not depend on δ, so it is computed in one batched
pass per update; when that batch is small the first anchor evaluation rides along in it, and
the anchor's last evaluation is reused as the θ target.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from .anchors import (CENTRED, AnchorConfig, AnchorOptimizer, AnchorState, adversarial_loss,
                      init_anchor, rebase_anchor, wide_dtype, widen)
from .concept import ConceptConditioning
from .denoiser import AUTOCAST_DTYPES, CountingDenoiser, Denoiser, with_autocast
from .erasure import Erasure, describe
from .errors import AdvAnchorError, Cancelled, NonFiniteLossError
from .latents import Draw, LatentConfig, draw_training_latents
from .presets import select_parameters
from .progress import OnStep, ShouldCancel, StepReport
from .robust import PrefixAdversary
from .sensitivity import AnchorChoice, ProbeConfig, candidate_map, choose_anchor, make_probes

METHODS = ("adversarial", "fixed", "esd")
SCHEDULES = ("alternating", "sequential", "cyclical")
FOLD_LIMIT = 4  # fold the first anchor evaluation into the frozen batch up to this many samples
MAP_PROBES = 4  # latents the anchor map (start "map") is probed at, each at its default timesteps


@dataclass(frozen=True)
class UnlearnConfig:
    """Defaults are the reference's: 51 Adam updates at lr 1e-5 on cross-attention, λ = 10."""

    method: str = "adversarial"
    anchor: AnchorConfig = AnchorConfig()
    steps: int = 51
    lr: float = 1e-5
    preservation: float = 10.0
    parameters: str | tuple[str, ...] = "xattn"
    schedule: str = "alternating"
    latents: LatentConfig = LatentConfig()
    esd_eta: float = 1.0            # ESD's negative-guidance strength η (method "esd" only)
    seed: int = 0
    accumulate_grads: bool = False  # the reference code never zeroes gradients
    shifted_attribute_weights: bool = False  # the reference's weight indexing without the
                                             # concept term (Concept.target_weights)
    autocast: str = "off"           # "bf16"/"fp16": denoiser calls under torch.autocast (memory)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise AdvAnchorError(f"method {self.method!r} is unknown: use one of {METHODS}")
        if self.schedule not in SCHEDULES:
            raise AdvAnchorError(f"schedule {self.schedule!r} is unknown: use one of {SCHEDULES}")
        if self.steps < 1:
            raise AdvAnchorError(f"steps is {self.steps}: give at least 1 update")
        if not self.lr > 0:
            raise AdvAnchorError(f"lr is {self.lr}: it must be greater than 0")
        if self.preservation < 0:
            raise AdvAnchorError(f"preservation weight is {self.preservation}: use 0 or more")
        if self.autocast != "off" and self.autocast not in AUTOCAST_DTYPES:
            raise AdvAnchorError(f"autocast {self.autocast!r} is unknown: use 'off', "
                                 f"{', '.join(map(repr, AUTOCAST_DTYPES))}")


def reference_config(**overrides) -> UnlearnConfig:
    """The authors' code as written, quirks included.

    - Gradients are never zeroed: the weights' gradient accumulates over the whole run; δ's
      only within one draw's anchor steps, because the authors re-create δ as a fresh leaf
      with a fresh Adam for every training image (AnchorOptimizer) — in every schedule. In
      the cyclical one each visit of an image is one δ step, so δ's gradient never
      accumulates there.
    - With the concept term off, attribute k is weighted by the table entry of k − 1 (the
      first by the concept's weight): `Concept.target_weights(reference_indexing=True)`.

    Not reproduced: the authors' sequential/cyclical scripts draw a new (t, noise) for the
    weight phase; here both phases revisit the same draws.
    """
    return replace(UnlearnConfig(accumulate_grads=True, shifted_attribute_weights=True),
                   **overrides)


@dataclass
class UnlearnResult:
    erasure: Erasure
    history: list[StepReport]
    anchor: AnchorState | None
    passes_per_update: float
    seconds: float
    anchor_choice: AnchorChoice | None = None  # start "map": the candidate chosen, and the map


@dataclass
class _Refs:
    """Frozen predictions for one draw, each [n, B, ...]."""

    by_name: dict[str, Tensor]
    first_anchor: Tensor | None = None

    def __getitem__(self, name: str) -> Tensor:
        return self.by_name[name]

    def preserved(self) -> Tensor:
        return torch.cat([self.by_name[n] for n in ("superclass", "retain") if n in self.by_name])


@dataclass
class _Run:
    denoiser: CountingDenoiser
    cc: ConceptConditioning
    config: UnlearnConfig
    on_step: OnStep | None
    should_cancel: ShouldCancel | None
    reports: int
    adversary: PrefixAdversary | None = None
    history: list[StepReport] = field(default_factory=list)

    # --- frozen side -------------------------------------------------------------------
    def frozen_prompts(self) -> dict[str, Tensor]:
        cc, cfg = self.cc, self.config
        prompts: dict[str, Tensor] = {}
        if cfg.method == "adversarial":
            prompts["targets"] = cc.targets
            if cfg.anchor.loss in CENTRED:
                prompts["superclass"] = cc.superclass
            if cfg.anchor.loss == "keep":
                prompts["empty"] = cc.empty
        elif cfg.method == "fixed":
            prompts["fixed"] = cc.fixed_anchor
        else:
            prompts["erase"], prompts["empty"] = cc.erase, cc.empty
        if cfg.preservation > 0:
            prompts["superclass"] = cc.superclass
            if cc.retain is not None:
                prompts["retain"] = cc.retain
        if self.adversary is not None:
            prompts["erase"] = cc.erase  # the attack's target: the original, plain prompt
        return prompts

    def references(self, draw: Draw, anchor: AnchorState | None = None) -> _Refs:
        """One pass for every frozen prediction of this draw (and the anchor's first, if small)."""
        prompts = self.frozen_prompts()
        conds = torch.cat(list(prompts.values()))
        fold = anchor is not None and (conds.shape[0] + 1) * draw.x_t.shape[0] <= FOLD_LIMIT
        with torch.set_grad_enabled(fold):
            if fold:
                conds = torch.cat([conds, anchor.conditioning()])
            out = self._batched(draw, conds, None)
        sizes = [c.shape[0] for c in prompts.values()]
        parts = out.split(sizes + ([1] if fold else []))
        refs = {name: part.detach() for name, part in zip(prompts, parts)}
        return _Refs(refs, parts[-1][0] if fold else None)

    def _batched(self, draw: Draw, conds: Tensor, delta) -> Tensor:
        """ε for every cond at this draw: [n, B, ...] from one denoiser pass."""
        n, b = conds.shape[0], draw.x_t.shape[0]
        x = draw.x_t.repeat(n, *([1] * (draw.x_t.dim() - 1)))
        out = self.denoiser(x, draw.t.repeat(n), conds.repeat_interleave(b, dim=0), delta)
        return out.reshape(n, b, *out.shape[1:])

    def anchor_eps(self, draw: Draw, anchor: AnchorState) -> Tensor:
        return self._batched(draw, anchor.conditioning(), None)[0]

    # --- anchor search -----------------------------------------------------------------
    def anchor_loss(self, eps: Tensor, refs: _Refs) -> Tensor:
        cfg = self.config.anchor
        sup = refs["superclass"][0] if cfg.loss in CENTRED else None
        empty = refs["empty"][0] if cfg.loss == "keep" else None
        return adversarial_loss(eps, refs["targets"], self.target_weights(), sup, cfg.loss,
                                self.cc.concept.use_concept_term if self.cc.concept else True,
                                empty, cfg.margin, cfg.keep_weight)

    def target_weights(self) -> Tensor:
        concept = self.cc.concept
        if not self.config.shifted_attribute_weights or concept is None:
            return self.cc.target_weights
        return torch.tensor(concept.target_weights(reference_indexing=True),
                            dtype=torch.float32, device=self.cc.target_weights.device)

    def refine(self, anchor: AnchorState, draw: Draw, refs: _Refs, steps: int,
               opt: AnchorOptimizer, final: bool = True) -> tuple[Tensor | None, float, int]:
        """Up to `steps` δ updates on this draw.

        Returns the anchor's ε after the last update (detached; the θ target, so `final`
        evaluates it), the last anchor loss and the number of updates taken.
        """
        eps = refs.first_anchor if refs.first_anchor is not None else self.anchor_eps(draw, anchor)
        taken = 0
        for i in range(steps):
            self.check_cancel()
            loss = self.anchor_loss(eps, refs)
            if opt.should_stop(loss):
                return eps.detach(), loss.item(), taken
            opt.step(loss)
            taken += 1
            last = i == steps - 1
            if last and not final:
                return None, loss.item(), taken
            with torch.set_grad_enabled(not last):  # the last ε is only the θ target: no graph
                eps = self.anchor_eps(draw, anchor)
        return eps.detach(), self.anchor_loss(eps.detach(), refs).item(), taken

    # --- weights -----------------------------------------------------------------------
    def theta_step(self, delta: dict[str, Tensor], opt: torch.optim.Optimizer, draw: Draw,
                   target: Tensor, refs: _Refs, update: int) -> dict[str, float]:
        """One weight update: the concept towards `target`, the preserved prompts unchanged
        (and, in a robust run, the attack's prefixed prompt towards `target` too)."""
        cc, cfg = self.cc, self.config
        keep_conds = [cc.superclass] + ([cc.retain] if cc.retain is not None else [])
        conds = [cc.erase] + (keep_conds if cfg.preservation > 0 else [])
        losses = self.harden(delta, draw, refs, update)
        if self.adversary is not None:
            conds.append(self.adversary.conditioning())
        out = self._batched(draw, torch.cat(conds), delta)
        erased = out[[0, -1]] if self.adversary is not None else out[:1]
        erase = F.mse_loss(widen(erased), widen(target).expand_as(erased))
        kept = out[1:1 + sum(c.shape[0] for c in keep_conds)] if cfg.preservation > 0 else None
        keep = F.mse_loss(widen(kept), widen(refs.preserved())) if kept is not None \
            else torch.zeros_like(erase)
        loss = erase + cfg.preservation * keep
        if not torch.isfinite(loss):
            raise NonFiniteLossError("the unlearning loss is not finite: lower the lr, or the "
                                     "anchor lr/bound; no erasure was produced")
        params = list(delta.values())
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads):
            p.grad = g if not cfg.accumulate_grads or p.grad is None else p.grad + g
        opt.step()
        return {"erase": erase.item(), "preserve": keep.item(), "total": loss.item(), **losses}

    def harden(self, delta: dict[str, Tensor], draw: Draw, refs: _Refs, update: int) -> dict[str, float]:
        """Robust runs: re-attack the current erased model when the prefix is due."""
        if self.adversary is None or not self.adversary.due(update):
            return {}
        return {"attack_gap": self.adversary.attack(self.denoiser, delta, draw, refs["erase"][0])}

    def target(self, draw: Draw, refs: _Refs, anchor_eps: Tensor | None) -> Tensor:
        if self.config.method == "adversarial":
            return anchor_eps
        if self.config.method == "fixed":
            return refs["fixed"][0]
        erase, empty = refs["erase"][0], refs["empty"][0]
        return empty - self.config.esd_eta * (erase - empty)

    # --- plumbing ----------------------------------------------------------------------
    def check_cancel(self) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise Cancelled("unlearning was cancelled; no erasure was produced")

    def report(self, step: int, total: int, phase: str, losses: dict[str, float]) -> None:
        r = StepReport(step, total, phase, losses, self.denoiser.passes, self.reports)
        self.history.append(r)
        if self.on_step is not None:
            self.on_step(r)


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
    if anchor is not None and config.method != "adversarial":
        raise AdvAnchorError(f"an anchor was given but method is {config.method!r}: only method "
                             "'adversarial' unlearns towards a searched anchor — set method "
                             "'adversarial' to use it, or leave the anchor out")
    start = time.perf_counter()
    base = denoiser.named_weights()
    names = select_parameters(base.keys(), config.parameters)
    device = next(iter(base.values())).device
    cc = cc.to(device)
    gen = torch.Generator().manual_seed(config.seed)
    run = _Run(CountingDenoiser(with_autocast(denoiser, config.autocast)), cc, config, on_step,
               should_cancel, _report_count(config), adversary)
    choice = None
    if config.method == "adversarial":
        anchor, choice = _start_anchor(run, config.anchor, gen, anchor, latents, latent_shape)
    draws = draw_training_latents(denoiser, cc, config.latents, config.steps, gen, device,
                                  latents, latent_shape)
    delta = {n: torch.zeros_like(base[n], dtype=wide_dtype(base[n].dtype), requires_grad=True)
             for n in names}
    opt = torch.optim.Adam(delta.values(), lr=config.lr)
    schedule = {"alternating": _alternating, "sequential": _sequential, "cyclical": _cyclical}
    schedule[config.schedule](run, draws, delta, opt, anchor)
    settings = {"config": asdict(config), "parameters": len(names),
                "concept": cc.concept.as_metadata() if cc.concept else None}
    if anchor is not None:
        settings["anchor_relative_norm"] = anchor.relative_norms().tolist()
        if anchor.start is not None or anchor.space != "output":
            settings["anchor_start"] = {"space": anchor.space, "start": anchor.start}
    if choice is not None:
        settings["anchor_choice"] = choice.as_dict()
    if adversary is not None:
        settings["robust"] = adversary.metadata()
    erasure = Erasure({n: d.detach() for n, d in delta.items()},
                      describe([cc.concept.text] if cc.concept else [], settings))
    return UnlearnResult(erasure, run.history, anchor.detached() if anchor else None,
                         run.denoiser.passes / config.steps, time.perf_counter() - start, choice)


def _report_count(config: UnlearnConfig) -> int:
    """Reports an `unlearn` run makes: one per update, plus the anchor phase's own."""
    if config.method != "adversarial" or config.schedule == "alternating":
        return config.steps
    if config.schedule == "sequential":
        return 2 * config.steps
    return config.anchor.steps + config.steps


def _start_anchor(run: "_Run", config: AnchorConfig, gen: torch.Generator,
                  given: AnchorState | None, latents: Tensor | None,
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


def _alternating(run: _Run, draws: list[Draw], delta, opt, anchor: AnchorState | None) -> None:
    """Per update: refine δ on this draw (warm start, fresh Adam), then one θ step."""
    total = len(draws)
    for i, draw in enumerate(draws, 1):
        run.check_cancel()
        refs = run.references(draw, anchor)
        anchor_eps = None
        losses: dict[str, float] = {}
        if anchor is not None:
            anchor_opt = AnchorOptimizer(anchor, run.config.anchor, run.config.accumulate_grads)
            anchor_eps, adv, taken = run.refine(anchor, draw, refs, run.config.anchor.steps, anchor_opt)
            losses.update(adv=adv, anchor_steps=float(taken))
        losses.update(run.theta_step(delta, opt, draw, run.target(draw, refs, anchor_eps), refs, i))
        run.report(i, total, "unlearn", losses)


def _theta_phase(run: _Run, draws: list[Draw], delta, opt, anchor: AnchorState | None,
                 cached: list[_Refs]) -> None:
    for i, (draw, refs) in enumerate(zip(draws, cached), 1):
        run.check_cancel()
        with torch.no_grad():
            anchor_eps = run.anchor_eps(draw, anchor) if anchor is not None else None
        run.report(i, len(draws), "unlearn",
                   run.theta_step(delta, opt, draw, run.target(draw, refs, anchor_eps), refs, i))


def _sequential(run: _Run, draws: list[Draw], delta, opt, anchor: AnchorState | None) -> None:
    """All δ refinement over every draw first, then every θ step with δ fixed."""
    cached = [run.references(d) for d in draws]
    if anchor is not None:
        for i, (draw, refs) in enumerate(zip(draws, cached), 1):
            opt_a = AnchorOptimizer(anchor, run.config.anchor, run.config.accumulate_grads)
            _, adv, taken = run.refine(anchor, draw, refs, run.config.anchor.steps, opt_a, final=False)
            run.report(i, len(draws), "anchor", {"adv": adv, "anchor_steps": float(taken)})
    _theta_phase(run, draws, delta, opt, anchor, cached)


def _cyclical(run: _Run, draws: list[Draw], delta, opt, anchor: AnchorState | None) -> None:
    """`anchor.steps` passes over the draws, one δ step per draw, then every θ step.

    Each visit of a draw starts a fresh δ search (Adam and gradient), as the reference's
    cyclical script re-creates δ and its Adam for every image of every pass.
    """
    cached = [run.references(d) for d in draws]
    if anchor is not None:
        passes = run.config.anchor.steps
        for p in range(passes):
            for draw, refs in zip(draws, cached):
                opt_a = AnchorOptimizer(anchor, run.config.anchor, run.config.accumulate_grads)
                _, adv, _ = run.refine(anchor, draw, refs, 1, opt_a, final=False)
            run.report(p + 1, passes, "anchor", {"adv": adv})
    _theta_phase(run, draws, delta, opt, anchor, cached)


def search_anchor(denoiser: Denoiser, cc: ConceptConditioning, config: UnlearnConfig = UnlearnConfig(),
                  *, draws: int = 8, latents: Tensor | None = None,
                  latent_shape: tuple[int, ...] | None = None, anchor: AnchorState | None = None,
                  on_step: OnStep | None = None,
                  should_cancel: ShouldCancel | None = None) -> tuple[AnchorState, list[StepReport]]:
    """The δ phase alone (as the sequential schedule runs it), over `draws` training draws.

    Lets a user look at — and sample from — the anchor before unlearning towards it.
    """
    device = next(iter(denoiser.named_weights().values())).device
    cc = cc.to(device)
    gen = torch.Generator().manual_seed(config.seed)
    run = _Run(CountingDenoiser(with_autocast(denoiser, config.autocast)), cc,
               replace(config, method="adversarial", preservation=0.0),
               on_step, should_cancel, draws)
    state, _ = _start_anchor(run, config.anchor, gen, anchor, latents, latent_shape)
    for i, draw in enumerate(draw_training_latents(denoiser, cc, config.latents, draws, gen, device,
                                                   latents, latent_shape), 1):
        run.check_cancel()
        refs = run.references(draw, state)
        opt = AnchorOptimizer(state, config.anchor, config.accumulate_grads)
        _, adv, taken = run.refine(state, draw, refs, config.anchor.steps, opt, final=False)
        run.report(i, draws, "anchor", {"adv": adv, "anchor_steps": float(taken)})
    return state.detached(), run.history
