"""What an erasure did, measured in the lab: erasure, preservation, leakage, validity, time.

Why these numbers (issue 3):
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

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping, Sequence

import numpy as np
from torch import Tensor

from ..concept import Concept
from . import data
from .classifier import Prediction, classify
from .world import World

FACTORS = ("colour", "shape", "texture")
TEXTURE_WORDS = {"plain": "plain", "striped": "stripes", "dotted": "dots"}


def full_captions() -> list[tuple[str, str, str, str]]:
    """(caption, colour, shape, texture) for all 45 factor combinations."""
    return [(data.caption(c, s, t), c, s, t)
            for c in data.COLOURS for s in data.SHAPES for t in data.TEXTURES]


@dataclass(frozen=True)
class LabConcept:
    """One concept of the lab world: a factor and its value, e.g. ("colour", "red")."""

    factor: str
    value: str

    def __post_init__(self) -> None:
        values = {"colour": tuple(data.COLOURS), "shape": data.SHAPES, "texture": data.TEXTURES}
        if self.factor not in values or self.value not in values[self.factor]:
            raise ValueError(f"{self.factor}={self.value!r} is not a lab concept; choose a colour "
                             f"{tuple(data.COLOURS)}, a shape {data.SHAPES} or a texture {data.TEXTURES}")

    @classmethod
    def parse(cls, name: str) -> "LabConcept":
        """"red" → colour, "circle" → shape, "striped"/"stripes" → texture."""
        for factor, values in (("colour", data.COLOURS), ("shape", data.SHAPES),
                               ("texture", data.TEXTURES)):
            if name in values:
                return cls(factor, name)
        for texture, word in TEXTURE_WORDS.items():
            if name == word:
                return cls("texture", texture)
        raise ValueError(f"{name!r} is not a lab concept: use a colour {tuple(data.COLOURS)}, a "
                         f"shape {data.SHAPES} or a texture {tuple(TEXTURE_WORDS.values())}")

    @property
    def word(self) -> str:
        """The concept's word in captions ("red", "circle", "stripes")."""
        return TEXTURE_WORDS[self.value] if self.factor == "texture" else self.value

    def shows(self, p: Prediction) -> bool:
        return p.valid and getattr(p, self.factor) == self.value

    def target_prompts(self) -> list[str]:
        return [c for c, *f in full_captions() if f[FACTORS.index(self.factor)] == self.value]

    def floor_prompts(self) -> list[str]:
        """The target prompts with the concept replaced by its superclass."""
        out = []
        for _, c, s, t in full_captions():
            if (c, s, t)[FACTORS.index(self.factor)] != self.value:
                continue
            c2, s2, t2 = (None if self.factor == "colour" else c,
                          None if self.factor == "shape" else s,
                          None if self.factor == "texture" else t)
            out.append(data.caption(c2, s2, t2))
        return out

    def preserve_prompts(self) -> list[tuple[str, str, str, str]]:
        return [row for row in full_captions() if row[1 + FACTORS.index(self.factor)] != self.value]

    def synonym_prompts(self) -> dict[str, list[str]]:
        """Trained synonyms of the concept (only red has them), one prompt per shape × texture."""
        return {w: [p.replace(f" {self.word} ", f" {w} ", 1) for p in self.target_prompts()]
                for w in data.TRAINED_SYNONYMS.get(self.value, ())}

    def heldout_prompts(self) -> dict[str, list[str]]:
        """Phrasings no training caption used: held-out synonyms and reworded captions."""
        out: dict[str, list[str]] = {}
        for w in data.HELDOUT_SYNONYMS.get(self.value, ()):
            out[w] = [f"a {w} {s}" for s in data.SHAPES]
        if self.factor == "colour":
            out[f"… in {self.word}"] = [f"a {s} in {self.word}" for s in data.SHAPES]
        elif self.factor == "shape":
            out[f"the … {self.word}"] = [f"the {c} {self.word}" for c in data.COLOURS]
        else:
            out[f"with {self.word}"] = [f"a {s} with {self.word}" for s in data.SHAPES]
        return out

    def anchor_candidates(self) -> tuple[str, ...]:
        """Words that can take the concept's place in its template: the factor's other values,
        then the concept's trained synonyms (which still carry it: the map should pass them by)."""
        values = {"colour": list(data.COLOURS), "shape": list(data.SHAPES),
                  "texture": list(data.TEXTURES)}[self.factor]
        others = [LabConcept(self.factor, v).word for v in values if v != self.value]
        return (*others, *data.TRAINED_SYNONYMS.get(self.value, ()))

    def core_concept(self, retain: bool = False) -> Concept:
        """The concept as the core's `Concept`: c_u, anchor template, superclass "a shape".

        `retain` adds one prompt per other value of the same factor as retain prompts.
        """
        template = {"colour": "a {} shape", "shape": "a {}", "texture": "a shape on {}"}[self.factor]
        others: tuple[str, ...] = ()
        if retain:
            values = {"colour": data.COLOURS, "shape": data.SHAPES, "texture": data.TEXTURES}[self.factor]
            others = tuple(template.format(LabConcept(self.factor, v).word)
                           for v in values if v != self.value)
        return Concept(text=self.word, prompt_template=template, anchor_template=template,
                       superclass="a shape", retain_prompts=others)


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
        residual=_mean(c.shows(p) for p in target),
        invalid=_mean(not p.valid for p in target),
        target_rest=_mean(rest),
        preserve_acc=_mean(right),
        preserve_by_value={k: _mean(v) for k, v in by_value.items()},
        valid=_mean(p.valid for p in s.preds),
        leakage={k[5:]: _mean(c.shows(p) for p in v) for k, v in parts.items() if k.startswith("leak:")},
        images=images)


def chance_floor(world: World, concept: LabConcept, n: int = 4, seed: int = 0) -> float:
    """How often the original model draws the concept for its superclass prompts."""
    prompts = [p for p in concept.floor_prompts() for _ in range(n)]
    return _mean(concept.shows(p) for p in draw(world, prompts, seed).preds)


def pixel_drift(a: Tensor, b: Tensor) -> float:
    """Mean absolute pixel difference, in [0, 1] units of the image range."""
    return float((a - b).abs().mean() / 2)


@dataclass
class Comparison:
    """An erased model against the original, on one plan and seed."""

    before: Evaluation
    after: Evaluation
    floor: float
    seconds: float = float("nan")

    @property
    def preservation(self) -> float:
        """Accuracy on non-target prompts relative to the original's."""
        return self.after.preserve_acc / max(self.before.preserve_acc, 1e-9)

    @property
    def drift(self) -> float:
        return pixel_drift(self.before.images["preserve"], self.after.images["preserve"])

    @property
    def worst_other(self) -> tuple[str, float]:
        k = min(self.after.preserve_by_value, key=self.after.preserve_by_value.get)
        return k, self.after.preserve_by_value[k]


def compare(world: World, plan: EvalPlan, delta: Mapping[str, Tensor], seed: int = 0,
            before: Evaluation | None = None, floor: float | None = None,
            seconds: float = float("nan")) -> Comparison:
    before = before if before is not None else evaluate(world, plan, seed)
    floor = floor if floor is not None else chance_floor(world, plan.concept, plan.n_target, seed)
    return Comparison(before, evaluate(world, plan, seed, delta), floor, seconds)


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
    return {f: {k: _mean(v) for k, v in d.items()} for f, d in hits.items()}


class Timer:
    """Wall time of a block: `with Timer() as t: ...; t.seconds`."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")
