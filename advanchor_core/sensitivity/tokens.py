"""Token attribution: which positions of the prompt pull the prediction off the superclass.

Why: the anchor perturbs the concept's tokens only; if the concept's effect sits on other
positions (a neighbouring word, the padding that attends to it), the attribution shows it
before training does.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from torch import Tensor

from ..denoiser import Denoiser
from ..errors import AdvAnchorError
from ..latents import Draw
from .probes import probe_eps


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
        eps_s = probe_eps(denoiser, probes, superclass)
    e = cond.detach().float().clone().requires_grad_(True)
    with torch.enable_grad():
        f = (probe_eps(denoiser, probes, e) - eps_s).pow(2).mean()
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
