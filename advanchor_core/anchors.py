"""Adversarial anchors: the concept's own embedding, perturbed on its tokens to lose the concept.

The anchor is e(δ) = E(template(C)) + mask ⊙ δ. δ minimises an alignment score between the
frozen model's prediction for the anchor and its predictions for the concept and its
attributes (L_adv1), or the same measured relative to the superclass (L_adv2). The score is
minimised, pushing the anchor's prediction to point away from the concept; a per-token
bound keeps the anchor close to the concept so that unlearning towards it damages little.

Three options keep the anchor on the data manifold, all on the same path:
- `loss="keep"`: lose the concept's share and nothing else (`concept_shares`).
- `space="input"`: δ on the text encoder's *input* token embeddings, passed through the frozen
  encoder: e(δ) = E_soft(emb(template(C)) + mask ⊙ δ), the encoding of a soft prompt. Needs
  an encoder that differentiates to its input (`text.SoftPromptEncoder`).
- `start="map"`: start from the concept's anchor candidate the anchor map ranks best
  (`sensitivity.choose_anchor`) instead of the concept's own text: e(δ) = E(candidate) + mask ⊙ δ
  on the candidate word's tokens.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from .concept import AnchorBase, ConceptConditioning
from .errors import AdvAnchorError, NonFiniteLossError

LOSSES = ("adv1", "adv2", "orth", "keep")
CENTRED = ("adv2", "orth", "keep")   # losses measured relative to the superclass's prediction
ORTH_STOP = 1e-3             # "orth" is done once every |c_k| is below ~0.03
STOP = {"orth": ORTH_STOP, "keep": ORTH_STOP}  # early-stop thresholds (else: below 0)
SPACES = ("output", "input")  # where δ lives: the encoder's output (the reference) or its input
STARTS = ("concept", "map")   # what δ perturbs: the concept's own text, or the map's candidate


def wide_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32, or float64 for float64: what δ, the weight delta and the losses are kept in.

    Why never narrower: Adam steps of 1e-5 and small deltas vanish in half precision; why
    float64 when the model is: a float64 run is then float64 throughout (the reference test).
    """
    return torch.float64 if dtype == torch.float64 else torch.float32  # fp8 has no promotion


def widen(x: Tensor) -> Tensor:
    return x.to(wide_dtype(x.dtype))


@dataclass(frozen=True)
class AnchorConfig:
    """Reference defaults: L_adv1, Adam lr 1e-4, 20 steps, no bound, early stop at L_adv < 0.

    `bound` caps ‖δ_i‖ at `bound` × ‖e_i‖ for each concept token i: relative, because text
    encoders differ in scale (CLIP-L's per-token outputs are ~28 long, the lab's MiniLM's 6–11).
    With `space="input"` e_i is the token's input embedding.

    `lr_relative`: `lr` is in units of the anchor rows' RMS coordinate (‖e_i‖/√D, averaged over
    the concept's tokens), so one Adam step moves each token by about `lr` × its norm on any
    encoder; off, `lr` is Adam's own step per coordinate, as the reference's 1e-4 on CLIP-L
    (whose RMS coordinate is ≈ 1, so the two nearly agree there; the lab's MiniLM's is 0.3–0.6,
    T5's far smaller).

    `margin` and `keep_weight` belong to `loss="keep"` (the concept's share is driven to
    −margin or below, the superclass component held at 1 with weight `keep_weight`);
    `min_closeness` to `start="map"` (candidates less close to the concept are not chosen).
    """

    loss: str = "adv1"
    steps: int = 20
    lr: float = 1e-4
    bound: float | None = None
    init_std: float = 1e-7
    early_stop: bool = True
    margin: float = 0.5
    keep_weight: float = 1.0
    space: str = "output"
    start: str = "concept"
    min_closeness: float = 0.2
    lr_relative: bool = False

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise AdvAnchorError(f"anchor loss {self.loss!r} is unknown: use one of {LOSSES}")
        if self.space not in SPACES:
            raise AdvAnchorError(f"anchor space {self.space!r} is unknown: use one of {SPACES}")
        if self.start not in STARTS:
            raise AdvAnchorError(f"anchor start {self.start!r} is unknown: use one of {STARTS}")
        if not self.margin >= 0 or not self.keep_weight >= 0:
            raise AdvAnchorError(f"anchor margin {self.margin} / keep weight {self.keep_weight}: "
                                 "both must be 0 or more")
        if not -1.0 <= self.min_closeness <= 1.0:
            raise AdvAnchorError(f"anchor min_closeness is {self.min_closeness}: it is a cosine "
                                 "similarity, give a value in [-1, 1]")
        if self.steps < 1:
            raise AdvAnchorError(f"anchor steps is {self.steps}: give at least 1")
        if not self.lr > 0:
            raise AdvAnchorError(f"anchor lr is {self.lr}: it must be greater than 0")
        if self.bound is not None and not self.bound > 0:
            raise AdvAnchorError(f"anchor bound is {self.bound}: give a positive fraction of the "
                                 "token's norm (e.g. 0.5), or no bound")


@dataclass
class AnchorState:
    """δ on the start's tokens of `base`; a leaf tensor the search optimises in place.

    `space` "output": `base` is the start prompt's encoding and the anchor is base + mask ⊙ δ.
    `space` "input": `base` is its input token embeddings and the anchor is `encode`(base +
    mask ⊙ δ), the frozen encoder's output for that soft prompt. `start` is None for the
    concept's own anchor text, else the anchor candidate δ started from.
    """

    base: Tensor           # [1, L, D] (output space) or [1, L, D_in] (input space)
    positions: list[int]
    delta: Tensor          # [n, D], float32 (float64 for a float64 encoding)
    space: str = "output"
    start: str | None = None
    encode: Callable[[Tensor], Tensor] | None = field(default=None, repr=False)
    effect: float | None = None  # its effect size r where a search ended (`unlearn.effect`)

    @property
    def token_norms(self) -> Tensor:
        return widen(self.base[0, self.positions]).norm(dim=-1)

    def conditioning(self) -> Tensor:
        """The anchor embedding; differentiable in δ."""
        mask = torch.zeros_like(self.base, dtype=self.delta.dtype)
        rows = torch.zeros(len(self.positions), dtype=torch.long, device=self.base.device)
        cols = torch.tensor(self.positions, dtype=torch.long, device=self.base.device)
        mask = mask.index_put((rows, cols), self.delta)
        moved = self.base + mask.to(self.base.dtype)
        return moved if self.encode is None else self.encode(moved)

    def relative_norms(self) -> Tensor:
        return self.delta.detach().norm(dim=-1) / self.token_norms

    def row_scale(self) -> float:
        """The RMS coordinate of δ's rows in the base (‖e_i‖/√D, mean over its tokens)."""
        return (self.token_norms.mean() / self.base.shape[-1] ** 0.5).item()

    def detached(self, effect: float | None = None) -> "AnchorState":
        """A copy with δ detached, carrying `effect` (or the effect size it had)."""
        return AnchorState(self.base, list(self.positions), self.delta.detach().clone(),
                           self.space, self.start, self.encode,
                           self.effect if effect is None else effect)


def _soft_prompt(cc: ConceptConditioning, start: AnchorBase) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """The start's input token embeddings and the map from (perturbed) embeddings to its
    conditioning, through the frozen encoder, on the conditioning's device and dtype."""
    encoder = cc.soft_prompts
    if encoder is None:
        raise AdvAnchorError("anchor space 'input' puts δ on the text encoder's input embeddings "
                             "and needs gradients through the encoder, which this text encoder "
                             "does not give (ComfyUI's CLIP runs without gradients): use anchor "
                             "space 'output', or encode the concept with a text encoder that "
                             "supports soft prompts (advanchor_core.text.HFTextEncoder)")
    if start.text is None:
        raise AdvAnchorError("anchor space 'input' needs the anchor's text, and this conditioning "
                             "has no concept: make it with encode_concept")
    text, like = [start.text], start.encoding
    inputs = encoder.input_embeddings(text)

    def encode(embeddings: Tensor) -> Tensor:
        return encoder.encode_embeddings(embeddings, text).to(like.device, like.dtype)
    return inputs, encode


def _anchor_on(cc: ConceptConditioning, space: str,
               start: str | None) -> tuple[Tensor, list[int], Callable | None]:
    """δ's base (an encoding, or input embeddings), its positions and the encode step if any."""
    base = cc.anchor_start(start)
    if space == "input":
        inputs, encode = _soft_prompt(cc, base)
        return inputs, list(base.positions), encode
    return base.encoding, list(base.positions), None


def init_anchor(cc: ConceptConditioning, config: AnchorConfig, generator: torch.Generator,
                start: str | None = None) -> AnchorState:
    """δ₀ ~ init_std · N(0, I) on the tokens of `start` (None: the concept's anchor text).

    The keep loss holds what the superclass adds over the empty prompt; with an empty superclass
    (the nudity preset) there is nothing to hold, and in the lab its anchor then drew no object
    at all (100% invalid samples), so it is refused.
    """
    if config.loss == "keep" and cc.concept is not None and not cc.concept.superclass.strip():
        raise AdvAnchorError("anchor loss 'keep' holds what the superclass adds over the empty "
                             "prompt, and this concept's superclass is empty (as the nudity preset's "
                             "is): give a superclass (e.g. 'a person'), or use anchor loss 'adv1' or "
                             "'orth', or method 'esd'")
    base, positions, encode = _anchor_on(cc, config.space, start)
    n, d = len(positions), base.shape[-1]
    delta = config.init_std * torch.randn((n, d), generator=generator)
    delta = delta.to(base.device, wide_dtype(base.dtype))
    return AnchorState(base, positions, delta.requires_grad_(True), config.space, start, encode)


def rebase_anchor(cc: ConceptConditioning, anchor: AnchorState) -> AnchorState:
    """`anchor`'s δ on this run's own encoding of the prompt it started from.

    Why: a searched anchor travels between nodes and is reused as δ alone; re-attaching it to
    the conditioning the run encoded keeps devices and dtypes right and refuses an anchor
    searched for another concept or text encoder (its δ would not fit the token rows). The
    anchor keeps its space and start (the concept, or the candidate the map chose).
    """
    if not isinstance(anchor, AnchorState):
        raise AdvAnchorError("the anchor was searched for another concept or text encoder: "
                             "search it again with this concept and CLIP")
    base, positions, encode = _anchor_on(cc, anchor.space, anchor.start)
    if tuple(anchor.delta.shape) != (len(positions), base.shape[-1]):
        raise AdvAnchorError("the anchor was searched for another concept or text encoder: "
                             "search it again with this concept and CLIP")
    delta = anchor.delta.detach().clone().to(base.device)
    return AnchorState(base, positions, delta.requires_grad_(True), anchor.space, anchor.start, encode)


def project(delta: Tensor, token_norms: Tensor, bound: float | None) -> Tensor:
    """Scale each token's δ back onto the ball ‖δ_i‖ ≤ bound·‖e_i‖ (identity if unbounded)."""
    if bound is None:
        return delta
    limit = bound * token_norms.to(delta)
    scale = (limit / delta.norm(dim=-1).clamp_min(1e-12)).clamp(max=1.0)
    return delta * scale[:, None]


def concept_shares(anchor_eps: Tensor, target_eps: Tensor, superclass_eps: Tensor,
                   empty_eps: Tensor) -> tuple[Tensor, Tensor]:
    """(c [K], r): the concept shares and the superclass component of an anchor's prediction.

    With a = ε*(anchor), p_k = ε*(target k), s = ε*(superclass), e = ε*(""), all flattened over
    the draw's batch: d = s − e is what the superclass adds over the empty prompt (the object
    and the content), u_k = (p_k − s) − proj_d(p_k − s) the concept's direction from s with its
    superclass part removed, and

        c_k = ⟨a − s, u_k⟩ / ‖u_k‖²     (1: the concept's own prompt, 0: none of it)
        r   = ⟨a − e, d⟩ / ‖d‖²          (1: as much superclass as the superclass prompt, 0: none)

    u_k ⊥ d, so the two are measured along orthogonal directions: moving along one leaves the
    other unchanged. Both are ratios, free of the prediction's scale.
    """
    a, p, s, e = widen(anchor_eps), widen(target_eps), widen(superclass_eps), widen(empty_eps)
    d = (s - e).flatten()
    dd = d.square().sum().clamp_min(1e-12)
    pc = (p - s[None]).flatten(1)
    u = pc - (pc @ d / dd)[:, None] * d[None]
    ac = (a - s).flatten()
    shares = (u @ ac) / u.square().sum(1).clamp_min(1e-12)
    return shares, 1 + (ac @ d) / dd


def adversarial_loss(anchor_eps: Tensor, target_eps: Tensor, weights: Tensor,
                     superclass_eps: Tensor | None, loss: str, concept_term: bool,
                     empty_eps: Tensor | None = None, margin: float = 0.5,
                     keep_weight: float = 1.0) -> Tensor:
    """L_adv1 = Σ_k w_k mean(a ⊙ p_k) / (1 + ori); L_adv2 the same with a, p_k centred on s.

    "orth" (ours) = Σ_k w_k c_k² / (1 + ori), c_k = ⟨a − s, p_k − s⟩ / ‖p_k − s‖²: the share of
    the concept's direction (relative to the superclass) the anchor still carries, driven to
    zero rather than below it. L_adv1/L_adv2 reward pointing *away* from the concept without
    limit, which in the lab ends at an anchor that draws no object at all; c_k = 0 is the
    nearest anchor that lacks the concept and nothing more.

    "keep" (ours) = Σ_k w_k max(0, c_k + m)² / (1 + ori) + μ (r − 1)², with c_k, r from
    `concept_shares` (c_k on the concept's direction with its superclass part projected out),
    m = `margin`, μ = `keep_weight`. The first term pushes the concept's share to −m or below
    (past zero: "orth", which stops at 0, erased too little in the lab) and then stops pulling
    — no reward for running further away, which is what sent L_adv2 off the manifold. The
    second keeps what the superclass prompt adds over the empty prompt (the object), in both
    directions: r − 1 = ⟨a − s, d⟩/‖d‖², so it is the size of a − s along d.
    Why its minimiser is not "no object": its minimum 0 is reached at a = s − m·u_k (plus
    anything orthogonal to u_k and d), which keeps all of s's object. The empty-prompt
    anchor a = e has r = 0 and, because e − s = −d ⊥ u_k, concept share exactly 0: it pays
    μ + m² Σ_k w_k / (1 + ori) and gains nothing — removing the object never lowers the
    concept term, so the search has no reason to go there.

    anchor_eps [B, ...]; target_eps [K, B, ...]; superclass_eps [B, ...] (centred losses only);
    empty_eps [B, ...] ("keep" only).
    """
    if loss == "keep":
        shares, r = concept_shares(anchor_eps, target_eps, superclass_eps, empty_eps)
        drop = (weights.to(shares) * torch.relu(shares + margin).square()).sum() / (1 + int(concept_term))
        return drop + keep_weight * (r - 1).square()
    a, p = widen(anchor_eps), widen(target_eps)
    if loss in CENTRED:
        s = widen(superclass_eps)
        a, p = a - s, p - s[None]
    if loss == "orth":
        p = p.flatten(1)
        scores = ((a.flatten()[None] * p).sum(1) / p.square().sum(1).clamp_min(1e-12)).square()
    else:
        scores = (a[None] * p).flatten(1).mean(1)
    return (weights.to(scores) * scores).sum() / (1 + int(concept_term))


class AnchorOptimizer:
    """One δ search on one draw: fresh Adam and no gradient over a warm-started δ.

    That is the reference's per-image step: before each training image's anchor steps it
    makes δ a new leaf tensor (its value detached, gradient tracking on) with a new Adam, so
    δ keeps its value but not its gradient or Adam moments. `step(loss)` applies one
    update (projected onto the bound); with `accumulate` each step's gradient is added to
    δ.grad instead of replacing it — the reference never zeroes it — so δ's gradient sums
    over this search's steps only, never across draws.
    """

    def __init__(self, state: AnchorState, config: AnchorConfig, accumulate: bool = False):
        self.state, self.config, self.accumulate = state, config, accumulate
        state.delta.requires_grad_(True)
        state.delta.grad = None  # the reference's fresh leaf: no gradient from an earlier draw
        lr = config.lr * (state.row_scale() if config.lr_relative else 1.0)
        self.opt = torch.optim.Adam([state.delta], lr=lr)

    def step(self, loss: Tensor) -> None:
        if not torch.isfinite(loss):
            raise NonFiniteLossError("the anchor loss is not finite: lower the anchor lr or set "
                                     "an anchor bound")
        (grad,) = torch.autograd.grad(loss, [self.state.delta])
        delta = self.state.delta
        delta.grad = grad if not self.accumulate or delta.grad is None else delta.grad + grad
        self.opt.step()
        with torch.no_grad():
            delta.copy_(project(delta, self.state.token_norms, self.config.bound))

    def should_stop(self, loss: Tensor) -> bool:
        threshold = STOP.get(self.config.loss, 0.0)
        return self.config.early_stop and loss.item() < threshold
