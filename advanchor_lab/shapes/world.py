"""The shapes world behind the lab's protocol (`..world.WorldSpec`).

Its model (`weights/lab_unet.safetensors`, 1,800 steps: 100% on every concept at DDIM 25,
guidance 3) conditions on MiniLM at 12 tokens, which fit every caption of the world.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
from torch import Tensor

from ..world import WEIGHTS_DIR, World
from . import data, report
from .concept import LabConcept
from .metrics import Comparison, EvalPlan, Original, compare, concept_accuracy, measure_original


class ShapesWorld:
    """Coloured shapes on textured backgrounds; a concept is one colour, shape or texture."""

    name = "shapes"
    weights = WEIGHTS_DIR / "lab_unet.safetensors"
    max_tokens = 12
    train_steps = 1800
    check_samples = 8

    def training_captions(self) -> list[str]:
        return data.training_captions()

    def training_batch(self, batch: int, rng: np.random.Generator) -> tuple[Tensor, list[str]]:
        """Images drawn uniformly from the 4,950, and a caption each (dropout and synonyms)."""
        images, items = data.dataset()
        idx = rng.integers(len(items), size=batch)
        return images[idx], data.sample_captions([items[i] for i in idx], rng)

    def train_meta(self) -> dict[str, str]:
        return {}

    def check(self, world: World, samples: int, seed: int) -> str:
        """Per factor, the share of samples that draw each value right."""
        acc = concept_accuracy(world, samples_per_prompt=samples, seed=seed)
        return "\n".join(f"{factor:8s} " + "  ".join(f"{k} {v:.0%}" for k, v in values.items())
                         for factor, values in acc.items())

    def concept(self, name: str) -> LabConcept:
        return LabConcept.parse(name)

    def plan(self, concept: LabConcept, target_samples: int) -> EvalPlan:
        return EvalPlan.sized(concept, target_samples)

    def original(self, world: World, plan: EvalPlan, seed: int) -> Original:
        return measure_original(world, plan, seed)

    def compare(self, world: World, plan: EvalPlan, original: Original, seed: int,
                delta: Mapping[str, Tensor], seconds: float) -> Comparison:
        return compare(world, plan, original, seed, delta, seconds)

    def table(self, plan: EvalPlan, cmp: Comparison) -> str:
        return report.table(cmp, plan.concept)

    def grid_rows(self, world: World, plan: EvalPlan, cmp: Comparison, delta: Mapping[str, Tensor],
                  seed: int) -> list[tuple[str, Tensor]]:
        return report.grid_rows(world, plan.concept, delta, seed=seed)


SHAPES_WORLD = ShapesWorld()
