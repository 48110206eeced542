"""An independent, literal rendering of the authors' alternating loop, for comparison only.

It keeps the reference code's habits on purpose: two copies of the UNet (trainable and
frozen), every frozen prediction recomputed inside every anchor step, one prompt per
forward, `loss.backward()` with gradients never zeroed. The benchmark times it against
the core; the tests check that the core's `reference` preset lands on the same weights.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class NaiveRun:
    delta: dict[str, Tensor]
    passes: int


def naive_reference_unlearn(unet: nn.Module, draws: list[tuple[Tensor, Tensor]], *, erase: Tensor,
                            anchor_base: Tensor, positions: list[int], delta0: Tensor,
                            targets: list[Tensor], weights: list[float], superclass: Tensor,
                            loss: str = "adv1", concept_term: bool = True, anchor_steps: int = 20,
                            anchor_lr: float = 1e-4, lr: float = 1e-5, preservation: float = 10.0,
                            bound: float | None = None) -> NaiveRun:
    frozen = unet
    model = copy.deepcopy(unet)
    trainable = {n: p for n, p in model.named_parameters() if "attn2." in n}
    for n, p in model.named_parameters():
        p.requires_grad_(n in trainable)
    for p in frozen.parameters():
        p.requires_grad_(False)
    start = {n: p.detach().clone() for n, p in trainable.items()}
    opt = torch.optim.Adam(trainable.values(), lr=lr)
    delta = delta0.clone().requires_grad_(True)
    norms = anchor_base[0, positions].norm(dim=-1)
    passes = 0

    def anchor_cond() -> Tensor:
        cond = anchor_base.clone()
        cond[0, positions] = cond[0, positions] + delta
        return cond

    for x, t in draws:
        opt_d = torch.optim.Adam([delta], lr=anchor_lr)
        for _ in range(anchor_steps):
            a = frozen(x, t, context=anchor_cond())
            passes += 1
            if loss == "adv2":
                s = frozen(x, t, context=superclass)
                passes += 1
            total = 0.0
            for w, c in zip(weights, targets):
                p = frozen(x, t, context=c)
                passes += 1
                total = total + w * (((a - s) * (p - s)).mean() if loss == "adv2" else (a * p).mean())
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
    return NaiveRun({n: (p.detach() - start[n]) for n, p in trainable.items()}, passes / len(draws))
