"""Adversarial anchors: the concept's own embedding, perturbed on its tokens to lose the concept.

The anchor is e(δ) = E(template(C)) + mask ⊙ δ. δ minimises an alignment score between the
frozen model's prediction for the anchor and its predictions for the concept and its
attributes (L_adv1), or the same measured relative to the superclass (L_adv2). The score is
minimised, pushing the anchor's prediction to point away from the concept; a per-token
bound keeps the anchor close to the concept so that unlearning towards it damages little.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .concept import ConceptConditioning
from .errors import AdvAnchorError, NonFiniteLossError

LOSSES = ("adv1", "adv2", "orth")
CENTRED = ("adv2", "orth")   # losses measured relative to the superclass's prediction
ORTH_STOP = 1e-3             # "orth" is done once every |c_k| is below ~0.03


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
    """

    loss: str = "adv1"
    steps: int = 20
    lr: float = 1e-4
    bound: float | None = None
    init_std: float = 1e-7
    early_stop: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise AdvAnchorError(f"anchor loss {self.loss!r} is unknown: use one of {LOSSES}")
        if self.steps < 1:
            raise AdvAnchorError(f"anchor steps is {self.steps}: give at least 1")
        if not self.lr > 0:
            raise AdvAnchorError(f"anchor lr is {self.lr}: it must be greater than 0")
        if self.bound is not None and not self.bound > 0:
            raise AdvAnchorError(f"anchor bound is {self.bound}: give a positive fraction of the "
                                 "token's norm (e.g. 0.5), or no bound")


@dataclass
class AnchorState:
    """δ on the concept's tokens of `base`; a leaf tensor the search optimises in place."""

    base: Tensor           # [1, L, D]
    positions: list[int]
    delta: Tensor          # [n, D], float32 (float64 for a float64 encoding)

    @property
    def token_norms(self) -> Tensor:
        return widen(self.base[0, self.positions]).norm(dim=-1)

    def conditioning(self) -> Tensor:
        """The anchor embedding; differentiable in δ."""
        mask = torch.zeros_like(self.base, dtype=self.delta.dtype)
        rows = torch.zeros(len(self.positions), dtype=torch.long, device=self.base.device)
        cols = torch.tensor(self.positions, dtype=torch.long, device=self.base.device)
        mask = mask.index_put((rows, cols), self.delta)
        return self.base + mask.to(self.base.dtype)

    def relative_norms(self) -> Tensor:
        return self.delta.detach().norm(dim=-1) / self.token_norms

    def detached(self) -> "AnchorState":
        return AnchorState(self.base, list(self.positions), self.delta.detach().clone())


def init_anchor(cc: ConceptConditioning, config: AnchorConfig, generator: torch.Generator) -> AnchorState:
    n, d = len(cc.anchor_positions), cc.anchor_base.shape[-1]
    delta = config.init_std * torch.randn((n, d), generator=generator)
    delta = delta.to(cc.anchor_base.device, wide_dtype(cc.anchor_base.dtype))
    return AnchorState(cc.anchor_base, list(cc.anchor_positions), delta.requires_grad_(True))


def rebase_anchor(cc: ConceptConditioning, anchor: AnchorState) -> AnchorState:
    """`anchor`'s δ on this run's own encoding of the concept.

    Why: a searched anchor travels between nodes and is reused as δ alone; re-attaching it to
    the conditioning the run encoded keeps devices and dtypes right and refuses an anchor
    searched for another concept or text encoder (its δ would not fit the token rows).
    """
    shape = (len(cc.anchor_positions), cc.anchor_base.shape[-1])
    if not isinstance(anchor, AnchorState) or tuple(anchor.delta.shape) != shape:
        raise AdvAnchorError("the anchor was searched for another concept or text encoder: "
                             "search it again with this concept and CLIP")
    delta = anchor.delta.detach().clone().to(cc.anchor_base.device)
    return AnchorState(cc.anchor_base, list(cc.anchor_positions), delta.requires_grad_(True))


def project(delta: Tensor, token_norms: Tensor, bound: float | None) -> Tensor:
    """Scale each token's δ back onto the ball ‖δ_i‖ ≤ bound·‖e_i‖ (identity if unbounded)."""
    if bound is None:
        return delta
    limit = bound * token_norms.to(delta)
    scale = (limit / delta.norm(dim=-1).clamp_min(1e-12)).clamp(max=1.0)
    return delta * scale[:, None]


def adversarial_loss(anchor_eps: Tensor, target_eps: Tensor, weights: Tensor,
                     superclass_eps: Tensor | None, loss: str, concept_term: bool) -> Tensor:
    """L_adv1 = Σ_k w_k mean(a ⊙ p_k) / (1 + ori); L_adv2 the same with a, p_k centred on s.

    "orth" (ours) = Σ_k w_k c_k² / (1 + ori), c_k = ⟨a − s, p_k − s⟩ / ‖p_k − s‖²: the share of
    the concept's direction (relative to the superclass) the anchor still carries, driven to
    zero rather than below it. L_adv1/L_adv2 reward pointing *away* from the concept without
    limit, which in the lab ends at an anchor that draws no object at all; c_k = 0 is the
    nearest anchor that lacks the concept and nothing more.

    anchor_eps [B, ...]; target_eps [K, B, ...]; superclass_eps [B, ...] (centred losses only).
    """
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
        self.opt = torch.optim.Adam([state.delta], lr=config.lr)

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
        threshold = ORTH_STOP if self.config.loss == "orth" else 0.0
        return self.config.early_stop and loss.item() < threshold
