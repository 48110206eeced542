"""What an erasure did, measured in the shapes world: erasure, preservation, leakage, validity.

Why these numbers:
- *residual*: share of samples for prompts naming the concept that still show it. Invalid
  samples (no recognisable object) are counted apart, never as "erased": destroying the image
  is not erasing a concept.
- *chance floor*: how often the original model draws the concept when the prompt names only
  the superclass (colour dropped, "shape" for the shape, texture dropped). An erasure that maps
  the concept onto its superclass cannot go below it, so residuals are read against it.
- *preservation*: accuracy on every prompt that does not name the concept, relative to the
  original model at the same seeds, and the pixel drift from the original's samples.
- *leakage*: the concept's rate under trained synonyms and under phrasings no training caption
  used, next to the original model's rate for the same prompts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping, Sequence

from torch import Tensor

from ..measure import Preservation, mean
from ..world import World
from . import data
from .classifier import Prediction, classify
from .concept import FACTORS, LabConcept, full_captions


@dataclass
class Samples:
    """Images and their classifications for a list of prompts."""

    prompts: list[str]
    images: Tensor
    preds: list[Prediction]


def draw(world: World, prompts: Sequence[str], seed: int,
         delta: Mapping[str, Tensor] | None = None) -> Samples:
    images = world.sample(list(prompts), seed=seed, delta=delta)
    return Samples(list(prompts), images, classify(images))


@dataclass
class EvalPlan:
    """The prompts one evaluation of a concept draws (`n` samples per prompt)."""

    concept: LabConcept
    n_target: int = 4
    n_preserve: int = 2
    n_leak: int = 4

    @classmethod
    def sized(cls, concept: LabConcept, target_samples: int = 150) -> "EvalPlan":
        """At least `target_samples` target samples (17 a prompt for a colour's 9 prompts, 10 for
        a shape's or texture's 15: ±4 points), 2 per preserve prompt (72 for a colour, 60 for a
        shape or texture), 4 per leakage phrasing."""
        n = -(-target_samples // len(concept.target_prompts()))
        return cls(concept, n_target=n, n_preserve=2, n_leak=4)

    @cached_property
    def groups(self) -> dict[str, list[str]]:
        c = self.concept
        g = {"target": [p for p in c.target_prompts() for _ in range(self.n_target)],
             "preserve": [row[0] for row in c.preserve_prompts() for _ in range(self.n_preserve)]}
        for name, prompts in {**c.synonym_prompts(), **c.heldout_prompts()}.items():
            g[f"leak:{name}"] = [p for p in prompts for _ in range(max(1, self.n_leak * 3 // len(prompts)))]
        return g

    @cached_property
    def truth(self) -> list[tuple[str, str, str]]:
        """Factors named by each preserve prompt (same order as groups['preserve'])."""
        return [row[1:] for row in self.concept.preserve_prompts() for _ in range(self.n_preserve)]

    def all_prompts(self) -> list[str]:
        return [p for prompts in self.groups.values() for p in prompts]


@dataclass
class Evaluation:
    """Every metric of one model (original or erased) on one plan and seed."""

    residual: float               # target samples, valid and showing the concept
    invalid: float                # target samples that are no recognisable object
    target_rest: float            # target samples, valid, with the other two factors right
    preserve_acc: float           # preserve samples with all three factors right (and valid)
    preserve_by_value: dict[str, float]   # accuracy of every other concept value
    valid: float                  # all samples of the evaluation
    leakage: dict[str, float]     # concept rate for each synonym / held-out phrasing
    images: dict[str, Tensor] = field(repr=False, default_factory=dict)


def evaluate(world: World, plan: EvalPlan, seed: int = 0,
             delta: Mapping[str, Tensor] | None = None) -> Evaluation:
    """Sample every prompt of `plan` once (one batched call) and score it."""
    prompts = plan.all_prompts()
    s = draw(world, prompts, seed, delta)
    parts, images, i = {}, {}, 0
    for name, group in plan.groups.items():
        parts[name] = s.preds[i:i + len(group)]
        images[name] = s.images[i:i + len(group)]
        i += len(group)
    c = plan.concept
    target = parts["target"]
    others = [f for f in FACTORS if f != c.factor]
    target_truth = [row[1:] for row in full_captions() if row[1 + FACTORS.index(c.factor)] == c.value]
    target_truth = [t for t in target_truth for _ in range(plan.n_target)]
    rest = [p.valid and all(getattr(p, f) == t[FACTORS.index(f)] for f in others)
            for p, t in zip(target, target_truth)]
    preserve = parts["preserve"]
    right = [p.valid and (p.colour, p.shape, p.texture) == t for p, t in zip(preserve, plan.truth)]
    by_value: dict[str, list[bool]] = {}
    for p, t in zip(preserve, plan.truth):
        for f, v in zip(FACTORS, t):
            if f == c.factor or v == c.value:
                continue
            by_value.setdefault(v, []).append(p.valid and getattr(p, f) == v)
    return Evaluation(
        residual=mean(c.shows(p) for p in target),
        invalid=mean(not p.valid for p in target),
        target_rest=mean(rest),
        preserve_acc=mean(right),
        preserve_by_value={k: mean(v) for k, v in by_value.items()},
        valid=mean(p.valid for p in s.preds),
        leakage={k[5:]: mean(c.shows(p) for p in v) for k, v in parts.items() if k.startswith("leak:")},
        images=images)


def chance_floor(world: World, concept: LabConcept, n: int = 4, seed: int = 0) -> float:
    """How often the original model draws the concept for its superclass prompts."""
    prompts = [p for p in concept.floor_prompts() for _ in range(n)]
    return mean(concept.shows(p) for p in draw(world, prompts, seed).preds)


@dataclass
class Comparison(Preservation):
    """An erased model against the original, on one plan and seed."""

    before: Evaluation
    after: Evaluation
    floor: float
    seconds: float = float("nan")

    @property
    def worst_other(self) -> tuple[str, float]:
        k = min(self.after.preserve_by_value, key=self.after.preserve_by_value.get)
        return k, self.after.preserve_by_value[k]


@dataclass
class Original:
    """The unchanged model on one plan and seed: what every erasure of the concept is read
    against (its evaluation, and the chance floor of its superclass prompts)."""

    evaluation: Evaluation
    floor: float


def measure_original(world: World, plan: EvalPlan, seed: int = 0) -> Original:
    return Original(evaluate(world, plan, seed), chance_floor(world, plan.concept, plan.n_target, seed))


def compare(world: World, plan: EvalPlan, original: Original, seed: int, delta: Mapping[str, Tensor],
            seconds: float = float("nan")) -> Comparison:
    """The erased model (`delta`) on `plan` against the original."""
    return Comparison(original.evaluation, evaluate(world, plan, seed, delta), original.floor, seconds)


def concept_accuracy(world: World, samples_per_prompt: int = 2, seed: int = 0,
                     delta: Mapping[str, Tensor] | None = None) -> dict[str, dict[str, float]]:
    """Per factor and value, the share of valid samples with that factor right.

    Drawn from all 45 full captions, plus the trained synonyms (scored as the colour they
    stand for, reported under the synonym).
    """
    rows = [(cap, c, s, t) for cap, c, s, t in full_captions()]
    for colour, words in data.TRAINED_SYNONYMS.items():
        for w in words:
            rows += [(data.caption(w, s, t), w, s, t) for s in data.SHAPES for t in data.TEXTURES]
    prompts = [r[0] for r in rows for _ in range(samples_per_prompt)]
    truth = [r[1:] for r in rows for _ in range(samples_per_prompt)]
    preds = draw(world, prompts, seed, delta).preds
    synonym_of = {w: c for c, ws in data.TRAINED_SYNONYMS.items() for w in ws}
    hits: dict[str, dict[str, list[bool]]] = {f: {} for f in FACTORS}
    for p, (c, s, t) in zip(preds, truth):
        colour = synonym_of.get(c, c)
        hits["colour"].setdefault(c, []).append(p.valid and p.colour == colour)
        if c in synonym_of:
            continue
        hits["shape"].setdefault(s, []).append(p.valid and p.shape == s)
        hits["texture"].setdefault(t, []).append(p.valid and p.texture == t)
    return {f: {k: mean(v) for k, v in d.items()} for f, d in hits.items()}

