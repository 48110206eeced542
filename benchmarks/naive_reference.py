"""An independent, literal rendering of the authors' alternating loop, for comparison only.

It keeps the reference code's habits on purpose: two copies of the UNet (trainable and
frozen), every frozen prediction recomputed inside every anchor step, one prompt per
forward, `loss.backward()` with gradients never zeroed. Like the authors' script it
re-creates δ as a fresh leaf with a fresh Adam before each image's anchor steps (so δ's
gradient accumulates only within one image), while the weights' Adam and gradient live for
the whole run; and it weights the anchor loss's terms by indexing one coefficient table
(the concept's weight, then each attribute's) from 0 over the prompts used, so with the
concept term off each attribute gets its predecessor's entry.

It imports nothing from the core: the benchmark times it against the core, and the tests
check that the core's `reference` preset lands on the same δ and weights.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class NaiveRun:
    delta: dict[str, Tensor]  # the weights' change, by parameter name
    anchor_delta: Tensor      # δ after the last image
    passes: float             # denoiser passes per update


def naive_reference_unlearn(unet: nn.Module, draws: list[tuple[Tensor, Tensor]], *, erase: Tensor,
                            anchor_base: Tensor, positions: list[int], delta0: Tensor,
                            concept: Tensor, attributes: list[Tensor], coefficients: list[float],
                            superclass: Tensor, concept_term: bool = True, loss: str = "adv1",
                            anchor_steps: int = 20, anchor_lr: float = 1e-4, lr: float = 1e-5,
                            preservation: float = 10.0, bound: float | None = None) -> NaiveRun:
    """`concept`/`attributes`: the target prompts' conditionings ([1, L, D] each);
    `coefficients`: the authors' table, the concept's weight first, then each attribute's."""
    frozen = unet
    model = copy.deepcopy(unet)
    trainable = {n: p for n, p in model.named_parameters() if "attn2." in n}
    for n, p in model.named_parameters():
        p.requires_grad_(n in trainable)
    for p in frozen.parameters():
        p.requires_grad_(False)
    start = {n: p.detach().clone() for n, p in trainable.items()}
    opt = torch.optim.Adam(trainable.values(), lr=lr)
    delta = delta0.clone()
    norms = anchor_base[0, positions].norm(dim=-1)
    prompts = ([concept] if concept_term else []) + list(attributes)
    passes = 0

    def anchor_cond() -> Tensor:
        cond = anchor_base.clone()
        cond[0, positions] = cond[0, positions] + delta
        return cond

    for x, t in draws:
        delta = delta.detach().clone().requires_grad_(True)  # a fresh leaf for every image
        opt_d = torch.optim.Adam([delta], lr=anchor_lr)
        for _ in range(anchor_steps):
            a = frozen(x, t, context=anchor_cond())
            passes += 1
            if loss == "adv2":
                s = frozen(x, t, context=superclass)
                passes += 1
            total = 0.0
            for k, c in enumerate(prompts):
                p = frozen(x, t, context=c)
                passes += 1
                score = ((a - s) * (p - s)).mean() if loss == "adv2" else (a * p).mean()
                total = total + coefficients[k] * score
            total = total / (1 + int(concept_term))
            if total.item() < 0:
                break
            total.backward()
            opt_d.step()
            if bound is not None:
                with torch.no_grad():
                    scale = (bound * norms / delta.norm(dim=-1).clamp_min(1e-12)).clamp(max=1)
                    delta.mul_(scale[:, None])
        with torch.no_grad():
            target = frozen(x, t, context=anchor_cond())
            keep = frozen(x, t, context=superclass)
        out_u = model(x, t, context=erase)
        out_s = model(x, t, context=superclass)
        passes += 4
        l_theta = F.mse_loss(out_u, target) + preservation * F.mse_loss(out_s, keep)
        l_theta.backward()
        opt.step()
    return NaiveRun({n: (p.detach() - start[n]) for n, p in trainable.items()}, delta.detach(),
                    passes / len(draws))
