"""Where a concept lives before erasing it: anchors, cross-attention layers, tokens.

Why: the method's trade-off is decided before training starts. An anchor that still carries
the concept erases little; one far from the concept drags unrelated content along; training
layers that never read the concept's text spends the budget where the concept is not. These
analyses measure that on the frozen model, with the same `Denoiser` and conditioning tensors
the unlearning loop uses, so what they show is what training will meet.

- `anchor_map`: per candidate anchor, *closeness* (cosine similarity of its conditioning to the
  concept's at the concept's token positions) against *retention* (how much of the concept's
  ε direction relative to the superclass the anchor's ε still carries: 1 = all of it, 0 = none,
  < 0 = pointing away).
- `layer_sensitivity`: per cross-attention (`attn2`) layer — or, in a joint-attention
  transformer, per dual-stream block (measured by the denoiser) — how much its output changes
  when the text changes from the concept to a reference (the anchor, the superclass, ...) with
  the layer's input held fixed, so a layer is not blamed for changes made upstream.
- `token_attribution`: gradient × input of the concept's ε shift on the prompt's conditioning.
- `select_layers`: the top-k / above-threshold layers as parameter names for
  `UnlearnConfig(parameters=...)`.

All functions are pure (no weight is written; hooks are removed on exit) and return small
dataclasses whose `as_dict()` is JSON-serialisable.
"""
from __future__ import annotations

import contextlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Iterator, Mapping, Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor, nn

from .concept import ConceptConditioning
from .denoiser import Denoiser
from .errors import AdvAnchorError
from .latents import Draw, randn
from .presets import in_block_preset, layout

CROSS_ATTENTION_SUFFIX = "attn2"


# --- probes: the (x_t, t) every analysis averages over --------------------------------------
@dataclass(frozen=True)
class ProbeConfig:
    """A few latents at a few noise levels: cheap, and enough to average out one draw's luck.

    `timesteps` are fractions of the schedule (0 = clean, 1 = pure noise) so one setting fits
    every model's schedule length.
    """

    latents: int = 2
    timesteps: tuple[float, ...] = (0.2, 0.5, 0.8)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latents < 1:
            raise AdvAnchorError(f"probe latents is {self.latents}: use at least 1")
        if not self.timesteps or any(not 0.0 <= f <= 1.0 for f in self.timesteps):
            raise AdvAnchorError(f"probe timesteps {self.timesteps} must be fractions in [0, 1]")


def make_probes(denoiser: Denoiser, config: ProbeConfig = ProbeConfig(), *,
                latents: Tensor | None = None,
                latent_shape: tuple[int, ...] | None = None) -> Draw:
    """`config.latents` clean latents (given ones first, else unit Gaussians) noised to each
    timestep: one batch of `latents × len(timesteps)`, timestep-major."""
    gen = torch.Generator().manual_seed(config.seed)
    device = _device(denoiser)
    if latents is not None:
        if latents.dim() != 4:
            raise AdvAnchorError(f"probe latents have shape {tuple(latents.shape)}: give [N, C, H, W]")
        z0 = latents.detach().float().to(device)
        z0 = z0[torch.arange(config.latents) % z0.shape[0]]
    elif latent_shape is not None:
        z0 = randn((config.latents, *latent_shape), gen, device)
    else:
        raise AdvAnchorError("the probes need example latents or a latent shape (C, H, W)")
    last = denoiser.schedule.num_timesteps - 1
    steps = [round(f * last) for f in config.timesteps]
    t = torch.tensor([s for s in steps for _ in range(config.latents)], dtype=torch.long, device=device)
    z = z0.repeat(len(steps), *([1] * (z0.dim() - 1)))
    noise = randn(tuple(z.shape), gen, device)
    return Draw(denoiser.schedule.q_sample(z, t, noise), t)


def _device(denoiser: Denoiser) -> torch.device:
    return next(iter(denoiser.named_weights().values())).device


def _eps(denoiser: Denoiser, probes: Draw, cond: Tensor) -> Tensor:
    """ε for one conditioning [1, L, D] at every probe, float32 [B, ...]."""
    b = probes.x_t.shape[0]
    return denoiser(probes.x_t, probes.t, cond.to(probes.x_t.device).expand(b, -1, -1)).float()


def _per_timestep(values: Tensor, probes: Draw) -> dict[int, Tensor]:
    """Group per-probe rows by timestep (timestep-major order is kept)."""
    out: dict[int, list[Tensor]] = {}
    for v, t in zip(values, probes.t.tolist()):
        out.setdefault(int(t), []).append(v)
    return {t: torch.stack(vs) for t, vs in out.items()}


# --- anchor map ------------------------------------------------------------------------------
@dataclass
class AnchorPoint:
    name: str
    kind: str                 # "concept", "adversarial", "superclass", "empty", "fixed", "prompt"
    closeness: float          # mean cosine similarity at the concept's token positions
    retention: float          # projection of ε(a) − ε(s) on ε(c) − ε(s), 1 = the concept
    retention_by_t: dict[int, float]
    cosine: float             # cosine of ε(a) − ε(s) with ε(c) − ε(s): direction only


@dataclass
class AnchorMap:
    points: list[AnchorPoint]
    positions: list[int]      # the concept's token positions the closeness is measured at
    concept_shift: float      # RMS of ε(c) − ε(s): how much the concept moves the prediction

    def as_dict(self) -> dict:
        return asdict(self)

    def point(self, name: str) -> AnchorPoint:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)


def standard_candidates(cc: ConceptConditioning, anchor: Tensor | None = None,
                        prompts: Mapping[str, Tensor] | None = None) -> dict[str, tuple[str, Tensor]]:
    """Candidates every map shows: the concept itself (the reference point at (1, 1)), the
    adversarial anchor if given, the superclass, the empty prompt, the fixed text anchor if it
    differs from the superclass, then the user's prompts. name → (kind, conditioning [1, L, D])."""
    out: dict[str, tuple[str, Tensor]] = {"concept": ("concept", cc.anchor_base)}
    if anchor is not None:
        out["adversarial anchor"] = ("adversarial", anchor)
    out["superclass"] = ("superclass", cc.superclass)
    out["empty prompt"] = ("empty", cc.empty)
    if not torch.equal(cc.fixed_anchor, cc.superclass):
        out["fixed anchor"] = ("fixed", cc.fixed_anchor)
    for name, cond in (prompts or {}).items():
        out.setdefault(name, ("prompt", cond))
    return out


@torch.no_grad()
def anchor_map(denoiser: Denoiser, cc: ConceptConditioning,
               candidates: Mapping[str, tuple[str, Tensor]], probes: Draw) -> AnchorMap:
    """Closeness vs retention of every candidate (see the module docstring).

    The concept's ε is taken from the anchor template (`cc.anchor_base`), the text the
    adversarial anchor perturbs, so the concept point sits exactly at retention 1 and an
    unperturbed anchor would too.
    """
    positions = list(cc.anchor_positions)
    eps_s = _eps(denoiser, probes, cc.superclass)
    shift = (_eps(denoiser, probes, cc.anchor_base) - eps_s).flatten(1)
    shift_sq = shift.pow(2).sum(1)
    if float(shift_sq.sum()) <= 0:
        raise AdvAnchorError("the concept and the superclass give the same prediction on this "
                             "model, so there is no concept direction to measure: check the "
                             "concept's prompts")
    concept_tokens = cc.anchor_base[0, positions].float()
    points = []
    for name, (kind, cond) in candidates.items():
        cond = cond.detach()
        tokens = cond[0, positions].float().to(concept_tokens.device)
        closeness = torch.nn.functional.cosine_similarity(tokens, concept_tokens, dim=-1).mean()
        moved = (_eps(denoiser, probes, cond) - eps_s).flatten(1)
        dots = (moved * shift).sum(1)
        by_t = {t: float(d.sum() / max(s.sum(), 1e-20))
                for (t, d), s in zip(_per_timestep(dots, probes).items(),
                                     _per_timestep(shift_sq, probes).values())}
        cosine = dots.sum() / (moved.norm(dim=1) * shift.norm(dim=1)).sum().clamp_min(1e-20)
        points.append(AnchorPoint(name, kind, float(closeness), float(dots.sum() / shift_sq.sum()),
                                  by_t, float(cosine)))
    return AnchorMap(points, positions, float(shift_sq.mean().div(shift.shape[1]).sqrt()))


@dataclass
class AnchorChoice:
    """The anchor candidate the map ranks best, and the map it was chosen on."""

    name: str
    rule: str
    map: AnchorMap

    def as_dict(self) -> dict:
        return {"chosen": self.name, "rule": self.rule,
                "candidates": {p.name: {"closeness": p.closeness, "retention": p.retention}
                               for p in self.map.points}}


def candidate_map(denoiser: Denoiser, cc: ConceptConditioning, probes: Draw) -> AnchorMap:
    """The anchor map of the concept's anchor candidates (`Concept.anchor_candidates`)."""
    if not cc.candidates:
        raise AdvAnchorError("anchor start 'map' chooses among the concept's anchor candidates, "
                             "and it lists none: give the concept anchor candidates (words that "
                             "can take its place in the anchor template), or use start 'concept'")
    return anchor_map(denoiser, cc, {c.name: ("prompt", c.encoding) for c in cc.candidates}, probes)


def choose_anchor(amap: AnchorMap, min_closeness: float) -> AnchorChoice:
    """The candidate with the lowest retention among those with closeness ≥ `min_closeness`
    (a tie goes to the closer one).

    Why this rule: retention is what predicts erasure — in the lab's map (benchmarks/RESULTS.md,
    red) retention vs residual had ρ = +0.77 over ten anchors, and every prompt anchor with
    retention < 0 erased red to 0% — while closeness predicted neither residual nor
    preservation (ρ = −0.45, +0.07). So retention is the score, and closeness only a gate: a
    candidate must still sit near the concept in the text space (a sibling word, not an
    unrelated prompt) for δ to refine it as the concept's anchor. A candidate is a real
    prompt, so whichever wins starts on the data manifold.
    """
    eligible = [p for p in amap.points if p.closeness >= min_closeness]
    if not eligible:
        best = max(amap.points, key=lambda p: p.closeness)
        raise AdvAnchorError(f"no anchor candidate is at least {min_closeness:g} close to the "
                             f"concept (the closest, {best.name!r}, is {best.closeness:.3f}): lower "
                             "the anchor's min_closeness or give closer candidates")
    chosen = min(eligible, key=lambda p: (p.retention, -p.closeness))
    return AnchorChoice(chosen.name, f"lowest retention with closeness ≥ {min_closeness:g}", amap)


# --- layer sensitivity -----------------------------------------------------------------------
def cross_attention_layers(module: nn.Module) -> dict[str, nn.Module]:
    """Every `...attn2` module by name: cross-attention in SD-named UNets (ComfyUI's too)."""
    layers = {n: m for n, m in module.named_modules() if n.split(".")[-1] == CROSS_ATTENTION_SUFFIX}
    if not layers:
        raise AdvAnchorError("this model has no module named '*attn2' (cross-attention), so "
                             "there is no layer that reads the text to rank")
    return layers


@dataclass
class LayerSensitivity:
    layers: list[str]
    references: list[str]
    relative: list[list[float]]   # [layer][reference]: ‖Δ out‖ / ‖out‖ with the input fixed
    absolute: list[list[float]]   # [layer][reference]: RMS of Δ out
    by_t: dict[int, list[float]]  # primary reference: timestep → relative change per layer
    primary: str                  # the reference used for ranking and selection

    def scores(self, reference: str | None = None) -> list[float]:
        j = self.references.index(reference or self.primary)
        return [row[j] for row in self.relative]

    def ranking(self, reference: str | None = None) -> list[str]:
        s = self.scores(reference)
        return [self.layers[i] for i in sorted(range(len(s)), key=lambda i: -s[i])]

    def as_dict(self) -> dict:
        return asdict(self)


def _context_of(args: tuple, kwargs: dict) -> tuple[Tensor | None, bool]:
    """The `context` an attn2 call received and whether it came as a keyword."""
    if kwargs.get("context") is not None:
        return kwargs["context"], True
    if len(args) > 1 and isinstance(args[1], Tensor):
        return args[1], False
    return None, False


@contextlib.contextmanager
def _hooks(layers: Mapping[str, nn.Module], hook) -> Iterator[None]:
    handles = [m.register_forward_hook(hook(name), with_kwargs=True) for name, m in layers.items()]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


Effects = dict[str, tuple[Tensor, Tensor, int]]  # layer → (Σout² [B], ΣΔout² [R, B], elements)


@runtime_checkable
class MeasuresTextBlocks(Protocol):
    """A denoiser that measures its own text-reading blocks (the ComfyUI bridge, whose Flux and
    SD3 transformers read the text in joint-attention blocks, not in `attn2` layers)."""

    def text_block_effects(self, cond: Tensor, references: Mapping[str, Tensor], x_t: Tensor,
                           t: Tensor) -> Effects | None:
        """Per block: (Σ out² per probe, Σ Δout² per reference and probe, elements of one
        probe's output) with the block's input held — or None to be measured by attn2 hooks."""


@torch.no_grad()
def layer_sensitivity(denoiser: Denoiser, cond: Tensor, references: Mapping[str, Tensor],
                      probes: Draw, primary: str | None = None) -> LayerSensitivity:
    """Per attn2 layer and reference, how much the layer's output moves when its text changes
    from `cond` (the concept) to the reference, its input held at the concept pass's.

    One denoiser pass with `cond`; a forward hook re-runs each attn2 on the same input with
    every reference context. Measuring with the input fixed isolates what the layer itself
    reads from the text: a plain two-pass difference would also charge every layer for what
    the layers before it changed.

    A denoiser whose model reads the text elsewhere (joint-attention transformers) measures
    its own blocks the same way (`MeasuresTextBlocks`), returning None where the attn2 hooks
    apply.
    """
    if not references:
        raise AdvAnchorError("layer sensitivity needs at least one reference conditioning")
    names = list(references)
    primary = primary or names[0]
    if primary not in references:
        raise AdvAnchorError(f"primary reference {primary!r} is not among {names}")
    effects = denoiser.text_block_effects(cond, references, probes.x_t, probes.t) \
        if isinstance(denoiser, MeasuresTextBlocks) else None
    if effects is None:
        effects = _cross_attention_effects(denoiser, cond, references, probes)
    if not effects:
        raise AdvAnchorError("no cross-attention layer received the text during the forward "
                             "pass; this model passes its text in a way the analysis cannot see")
    b = probes.x_t.shape[0]
    kept = list(effects)
    rel = [[float((effects[n][1][j].sum() / effects[n][0].sum().clamp_min(1e-20)).sqrt())
            for j in range(len(names))] for n in kept]
    ab = [[float((effects[n][1][j].sum() / (effects[n][2] * b)).sqrt()) for j in range(len(names))]
          for n in kept]
    jp = names.index(primary)
    by_t: dict[int, list[float]] = {}
    for t in dict.fromkeys(probes.t.tolist()):
        rows = (probes.t == t).cpu()
        by_t[int(t)] = [float((effects[n][1][jp][rows].sum() /
                               effects[n][0][rows].sum().clamp_min(1e-20)).sqrt()) for n in kept]
    return LayerSensitivity(kept, names, rel, ab, by_t, primary)


def _cross_attention_effects(denoiser: Denoiser, cond: Tensor, references: Mapping[str, Tensor],
                             probes: Draw) -> Effects:
    """The attn2 hooks of `layer_sensitivity`: per layer that received the text, its output's
    energy and how much each reference context moves it."""
    names = list(references)
    layers = cross_attention_layers(denoiser.network())
    b = probes.x_t.shape[0]
    diff = {n: torch.zeros(len(names), b) for n in layers}
    base = {n: torch.zeros(b) for n in layers}
    count = {n: 0 for n in layers}
    busy = set()

    def hook(name: str):
        def fn(mod: nn.Module, args: tuple, kwargs: dict, out: Tensor):
            if name in busy:           # our own re-run of this layer
                return None
            context, as_kw = _context_of(args, kwargs)
            if context is None or not isinstance(out, Tensor):
                return None
            busy.add(name)
            try:
                base[name] += out.detach().float().flatten(1).pow(2).sum(1).cpu()
                count[name] += out[0].numel()
                for j, ref_name in enumerate(names):
                    ref = denoiser.context_of(references[ref_name]).to(context.device, context.dtype)
                    ref = ref.expand(context.shape[0], -1, -1)
                    a, k = (args, dict(kwargs, context=ref)) if as_kw else ((args[0], ref, *args[2:]), kwargs)
                    moved = mod(*a, **k)
                    diff[name][j] += (moved.float() - out.float()).flatten(1).pow(2).sum(1).cpu()
            finally:
                busy.discard(name)
            return None
        return fn

    with _hooks(layers, hook):
        _eps(denoiser, probes, cond)
    return {n: (base[n], diff[n], count[n]) for n in layers if count[n]}


# --- token attribution -----------------------------------------------------------------------
@dataclass
class TokenAttribution:
    prompt: str
    tokens: list[str]         # labels of the shown positions
    positions: list[int]
    scores: list[float]       # gradient × (input − baseline), summed over the embedding
    shares: list[float]       # |score| / Σ|score| over every position (padding included)
    padding_share: float      # share of the positions not shown (padding after the prompt)
    concept_positions: list[int]

    def top(self) -> int:
        """Position of the shown token with the largest share."""
        return self.positions[max(range(len(self.shares)), key=self.shares.__getitem__)]

    def as_dict(self) -> dict:
        return asdict(self)


def token_attribution(denoiser: Denoiser, cond: Tensor, superclass: Tensor, baseline: Tensor,
                      probes: Draw, *, prompt: str = "", labels: Sequence[str] | None = None,
                      shown: int | None = None,
                      concept_positions: Sequence[int] = ()) -> TokenAttribution:
    """Which positions of `cond` pull the prediction away from the superclass.

    f(e) = mean ‖ε(x_t, e) − ε(x_t, s)‖² over the probes; score_i = Σ_d (e − b)_id ∂f/∂e_id
    with b the empty prompt's conditioning (the "no text" baseline). `shown` positions are
    labelled (the prompt's tokens); the rest (padding) is reported as one share.
    """
    with torch.no_grad():
        eps_s = _eps(denoiser, probes, superclass)
    e = cond.detach().float().clone().requires_grad_(True)
    with torch.enable_grad():
        f = (_eps(denoiser, probes, e) - eps_s).pow(2).mean()
        (grad,) = torch.autograd.grad(f, [e])
    scores = ((e.detach() - baseline.detach().float().to(e.device)) * grad)[0].sum(-1).cpu()
    if not torch.isfinite(scores).all():
        raise AdvAnchorError("token attribution is not finite on this model: check the model's dtype")
    total = scores.abs().sum().clamp_min(1e-30)
    n = scores.shape[0] if shown is None else max(1, min(shown, scores.shape[0]))
    names = list(labels or [])[:n] + [f"#{i}" for i in range(len(labels or []), n)]
    shares = (scores.abs() / total).tolist()
    return TokenAttribution(prompt, names, list(range(n)), scores[:n].tolist(), shares[:n],
                            float(sum(shares[n:])), list(concept_positions))


def hf_token_labels(tokenizer, prompt: str, length: int) -> list[str]:
    """Token strings of `prompt` as a transformers tokenizer splits it (special tokens kept)."""
    ids = tokenizer(prompt, truncation=True, max_length=length)["input_ids"]
    return [t.replace("</w>", "") for t in tokenizer.convert_ids_to_tokens(ids)]


# --- sensitivity-guided selection ------------------------------------------------------------
@dataclass(frozen=True)
class LayerSelection:
    """The layers chosen for unlearning and the parameter names they own.

    `parameters` goes straight into `UnlearnConfig(parameters=...)`.
    """

    layers: tuple[str, ...]
    parameters: tuple[str, ...]
    scores: tuple[float, ...]
    rule: str

    def as_dict(self) -> dict:
        return asdict(self)


def select_layers(sens: LayerSensitivity, weight_names: Sequence[str], *, top_k: int | None = None,
                  threshold: float | None = None, weights: str = "all",
                  reference: str | None = None) -> LayerSelection:
    """The most sensitive layers: the `top_k` best, and/or those scoring at least `threshold`
    × the best layer's score. `weights` "all" trains the chosen layers' weights that the `xattn`
    preset names (a UNet's to_q/to_k/to_v/to_out; a transformer block's joint attention), "kv"
    those `xattn-kv` names (to_k/to_v; the block's text q/k/v); a Flux single-stream block
    trains `linear2` and `linear1` ("all") or `linear1` ("kv"): `presets.in_block_preset`."""
    if top_k is None and threshold is None:
        raise AdvAnchorError("choose layers by top_k, threshold or both")
    if top_k is not None and top_k < 1:
        raise AdvAnchorError(f"top_k is {top_k}: keep at least 1 layer")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise AdvAnchorError(f"threshold is {threshold}: give a fraction of the top layer's score in [0, 1]")
    if weights not in ("all", "kv"):
        raise AdvAnchorError(f"weights {weights!r} is unknown: use 'all' or 'kv'")
    scores = sens.scores(reference)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    if top_k is not None:
        order = order[:top_k]
    if threshold is not None:
        best = scores[order[0]] if order else 0.0
        order = [i for i in order if scores[i] >= threshold * best]
    layers = tuple(sens.layers[i] for i in order)
    preset, kind = ("xattn" if weights == "all" else "xattn-kv"), layout(weight_names)
    chosen = [name for name in weight_names if in_block_preset(name, preset, kind)
              and any(name.startswith(layer + ".") for layer in layers)]
    if not chosen:
        raise AdvAnchorError("the selected layers own no parameter of this model: run the "
                             "sensitivity analysis on the model you unlearn")
    rule = ", ".join(part for part in (f"top {top_k}" if top_k else "",
                                       f"≥ {threshold:g}× best" if threshold is not None else "",
                                       f"{weights} weights") if part)
    return LayerSelection(layers, tuple(chosen), tuple(scores[i] for i in order), rule)


# --- one report ------------------------------------------------------------------------------
@dataclass
class SensitivityReport:
    concept: str
    anchor_map: AnchorMap
    layers: LayerSensitivity
    tokens: TokenAttribution
    selection: LayerSelection | None
    probes: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return _finite({"concept": self.concept, "probes": self.probes,
                        "anchor_map": self.anchor_map.as_dict(), "layers": self.layers.as_dict(),
                        "tokens": self.tokens.as_dict(),
                        "selection": self.selection.as_dict() if self.selection else None})

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.as_dict(), indent=indent, allow_nan=False)


def _finite(x):
    """JSON has no NaN/inf: write them as null (and keys as strings)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def analyse(denoiser: Denoiser, cc: ConceptConditioning, probes: Draw, *,
            anchor: Tensor | None = None, prompts: Mapping[str, Tensor] | None = None,
            token_labels: Sequence[str] | None = None, shown_tokens: int | None = None,
            concept_positions: Sequence[int] = (), top_k: int | None = 3, threshold: float | None = None,
            weights: str = "all") -> SensitivityReport:
    """Everything at once, as the node shows it. Layer sensitivity is measured between c_u and
    every candidate; the adversarial anchor (if given, else the superclass) ranks layers."""
    candidates = standard_candidates(cc, anchor, prompts)
    amap = anchor_map(denoiser, cc, candidates, probes)
    refs = {name: cond for name, (kind, cond) in candidates.items() if kind != "concept"}
    primary = "adversarial anchor" if anchor is not None else "superclass"
    sens = layer_sensitivity(denoiser, cc.erase, refs, probes, primary=primary)
    concept = cc.concept.text if cc.concept else ""
    tokens = token_attribution(denoiser, cc.erase, cc.superclass, cc.empty, probes,
                               prompt=cc.concept.prompt if cc.concept else "",
                               labels=token_labels, shown=shown_tokens,
                               concept_positions=concept_positions)
    selection = None
    if top_k is not None or threshold is not None:
        selection = select_layers(sens, list(denoiser.named_weights()), top_k=top_k,
                                  threshold=threshold, weights=weights)
    info = {"latents": int((probes.t == probes.t[0]).sum()),
            "timesteps": sorted(int(t) for t in dict.fromkeys(probes.t.tolist()))}
    return SensitivityReport(concept, amap, sens, tokens, selection, info)
