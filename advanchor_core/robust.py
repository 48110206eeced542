"""Robust unlearning: an attacker inside the loop, so the erasure also holds against it.

A prefix attack (`attack`) undoes most erasures: a few soft tokens before the concept prompt
bring the concept back. AdvUnlearn (Zhang et al. 2024) and Receler (Huang et al. 2023) harden
an erasure by attacking it while it trains and erasing on the attack too. Here, every `every`
weight updates (starting with the first), `steps` Adam steps move the prefix P so that the
*current* erased model's prediction for [P + prompt] matches the original's for the prompt —
the same objective and search as the Attack Erasure node, on the update's own draw, warm-started
from the last P (AdvUnlearn's "latest" start). Each weight update then asks the prefixed prompt
for the same target as the plain one:

    L_erase = ½ (‖ε_θ(x_t, c(prompt)) − target‖² + ‖ε_θ(x_t, c(P ⊕ prompt)) − target‖²)

so the loss keeps its scale and λ its meaning. The prefix is never trained against the weights
being updated in the same pass: the attack sees the weight delta detached.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from .anchors import AnchorState
from .attack import AttackConfig, init_prefix, optimise_prefix, resolve_space
from .denoiser import Delta, Denoiser
from .errors import AdvAnchorError
from .latents import Draw
from .text import TextEncoder


@dataclass(frozen=True)
class RobustConfig:
    """Attack every `every` updates with `steps` prefix steps; `tokens`, `lr`, `space` as the
    Attack Erasure node (UnlearnDiffAtk's 5 tokens and lr 0.01 by default)."""

    every: int = 1
    steps: int = 5
    tokens: int = 5
    lr: float = 0.01
    space: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.every < 1 or self.steps < 1:
            raise AdvAnchorError(f"robust unlearning attacks every {self.every} updates with "
                                 f"{self.steps} steps: both must be at least 1")

    def attack(self) -> AttackConfig:
        return AttackConfig(tokens=self.tokens, steps=self.steps, lr=self.lr, space=self.space,
                            seed=self.seed)


class PrefixAdversary:
    """The attack prefix an unlearning run erases on too, re-attacked every `every` updates."""

    def __init__(self, prefix: AnchorState, config: RobustConfig, prefixed_prompt: str):
        self.prefix, self.config, self.prefixed_prompt = prefix, config, prefixed_prompt
        self.gaps: list[float] = []  # the attack's last gap of each round

    @classmethod
    def start(cls, encoder: TextEncoder, prompt: str, config: RobustConfig,
              like: Tensor) -> "PrefixAdversary":
        """P₀ on "* * * * * <prompt>", seeded. `like` is a conditioning on the device and in the
        dtype the run will use (the run's `cc.to(device).erase`): the prefix's is made there."""
        attack = config.attack()
        gen = torch.Generator().manual_seed(config.seed)
        prefix, text = init_prefix(encoder, prompt, attack, resolve_space(encoder, attack.space),
                                   gen, like)
        return cls(prefix, config, text)

    def due(self, update: int) -> bool:
        """True before updates 1, 1 + every, 1 + 2·every, … (1-based)."""
        return (update - 1) % self.config.every == 0

    def attack(self, denoiser: Denoiser, delta: Delta, draw: Draw, target: Tensor) -> float:
        """`steps` Adam steps on P against the model with `delta` (detached), on this draw;
        `target` is the original model's ε for the plain prompt. Returns the last gap."""
        frozen = {k: v.detach() for k, v in delta.items()}

        def erased(x_t: Tensor, t: Tensor, cond: Tensor) -> Tensor:
            return denoiser(x_t, t, cond, frozen)

        steps = self.config.steps
        history = optimise_prefix(self.prefix, erased, [draw] * steps, [target] * steps,
                                  self.config.attack(), lambda: 0, None, None)
        self.gaps.append(history[-1].losses["gap"])
        return self.gaps[-1]

    def conditioning(self) -> Tensor:
        """[1, L, D]: the prefixed prompt's conditioning now, without gradient."""
        with torch.no_grad():
            return self.prefix.conditioning().detach()

    def metadata(self) -> dict:
        return {"settings": asdict(self.config), "prefixed_prompt": self.prefixed_prompt,
                "space": self.prefix.space, "rounds": len(self.gaps),
                "gap_first": self.gaps[0] if self.gaps else None,
                "gap_last": self.gaps[-1] if self.gaps else None}
