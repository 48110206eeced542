"""The styles world behind the lab's protocol (`..world.WorldSpec`).

Its model (`weights/styles_unet.safetensors`) is the shapes world's recipe and UNet (`..train`)
on this world's images and captions, conditioned on MiniLM at 20 tokens: the longest caption
("a blue circle on black with an outline, a cool tint and checks") is 17 tokens with
[CLS]/[SEP]. 5,000 steps of batch 32 took 920 s on two idle cores, 0.18 s/step (two threads
are the faster choice only when both cores are free: on a shared machine they ran at 1.6
s/step, so use `--threads 1` there). At DDIM 25 / guidance 3, 64 samples a style and phrasing,
seed 0 (`python -m advanchor_lab.evaluate --world styles --samples 64`): **96.9%** ("in-style")
and **96.3%** ("prefix") right on the trained phrasings, 97.1% / 96.5% on the held-out ones; by
style 89–100% (lowest: zorbic prefix 89%, drane and fennic 92–94%); attribute prompts outline
92%, warm 97%, cool 100%, stripes 97%, dots 98%, checks 100%; content right on 99% of
superclass samples. A model is committed only at ≥ 95% right on the trained phrasings.

Why the patterns are drawn as they are (`data.pattern_mask`): 1-px stripes and dots are drawn
faint or left out (a pattern is decided at high noise, where 1-px detail is gone), and a 2×2
checkerboard on the dots' 4-px lattice is drawn as dots (the model learns the lattice, not
which of its cells to ink). 2-px cells and a 4×4 checkerboard are learnt.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch import Tensor

from ..world import WEIGHTS_DIR, World
from . import captions, data, families, report
from .concept import StyleConcept
from .metrics import StyleComparison, StyleEvaluation, StylePlan, compare_style, evaluate_style


class StylesWorld:
    """Shapes whose look is a compound style; a concept is a style of 2–3 attributes."""

    name = "styles"
    weights = WEIGHTS_DIR / "styles_unet.safetensors"
    max_tokens = 20
    train_steps = 5000
    check_samples = 16

    def training_captions(self) -> list[str]:
        return captions.training_captions()

    def training_batch(self, batch: int, rng: np.random.Generator) -> tuple[Tensor, list[str]]:
        """Images drawn by look (`data.look_weights`), and a caption each."""
        images, items = data.dataset()
        idx = data.sample_items(batch, rng)
        x0 = data.as_model_input(images[torch.from_numpy(idx)])
        return x0, captions.sample_captions([items[i] for i in idx], rng)

    def train_meta(self) -> dict[str, str]:
        return {"world": self.name, "threads": str(torch.get_num_threads())}

    def check(self, world: World, samples: int, seed: int) -> str:
        """Every prompt family's accuracy, and what the superclasses draw."""
        return families.report(world, samples=samples, seed=seed)

    def concept(self, name: str) -> StyleConcept:
        return StyleConcept(name)

    def plan(self, concept: StyleConcept, target_samples: int) -> StylePlan:
        return StylePlan.sized(concept, target_samples)

    def original(self, world: World, plan: StylePlan, seed: int) -> StyleEvaluation:
        return evaluate_style(world, plan, seed)

    def compare(self, world: World, plan: StylePlan, original: StyleEvaluation, seed: int,
                delta: Mapping[str, Tensor], seconds: float) -> StyleComparison:
        return compare_style(world, plan, original, seed, delta, seconds)

    def table(self, plan: StylePlan, cmp: StyleComparison) -> str:
        return report.table(cmp)

    def grid_rows(self, world: World, plan: StylePlan, cmp: StyleComparison,
                  delta: Mapping[str, Tensor], seed: int) -> list[tuple[str, Tensor]]:
        return report.grid_rows(world, cmp, delta, seed=seed)


STYLES_WORLD = StylesWorld()
