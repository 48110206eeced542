"""What erasing a style did, measured with the exact classifier.

Why these numbers: a style is several attributes drawn together, so "is it still
there" has two readings, both reported:
- *attribute residual* (the headline): over valid target samples, the mean share of the
  style's attributes still drawn. Mapping the style onto its bare superclass leaves each
  attribute at the rate that prompt draws it anyway, so the *floor* is the original's rate
  for the bare prompt at the same contents and seeds. Dropping one attribute of three is
  not an erasure: a nudity detector fires on any exposed part.
- *style residual*: valid target samples that still show the whole look.
Invalid samples (no recognisable object) are counted apart, never as erased. *content kept*:
target samples whose shape, colour and background are the prompt's (the content must survive).
*foreign attributes*: valid target samples drawing any attribute the style does not have (a
warm tint on zorbic), against the bare prompt's rate at the same contents and seeds: an erasure
that pushes the style onto another style's attributes (away from "the object without the
style") scores well on the residual and shows here.
*preservation*: accuracy on every prompt that does not name the style — the other styles, the
attribute prompts, the bare prompt — relative to the original at the same seeds; the *worst
neighbour* is the least preserved style sharing an attribute with the erased one (the ones a
generic anchor drags along). *held out*: the attribute residual under phrasings no training
caption used ("…, zorbic style", "… in the style of zorbic").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

import numpy as np
import torch
from torch import Tensor

from ..measure import Preservation, mean
from ..world import World
from . import captions, data
from .classifier import Prediction, classify
from .concept import StyleConcept
from .families import Request, contents


@dataclass
class StylePlan:
    """The prompts one evaluation of a style draws; every prompt names a full content."""

    concept: StyleConcept
    n_target: int = 75      # per trained phrasing (two): 150 target samples
    n_heldout: int = 25     # per held-out phrasing (two)
    n_other: int = 12       # per other style (in-style phrasing): 84
    n_attribute: int = 6    # per attribute prompt: 36
    n_bare: int = 18

    @classmethod
    def sized(cls, concept: StyleConcept, target_samples: int = 150) -> "StylePlan":
        """`target_samples` on the trained phrasings, every other group scaled alike."""
        scale = target_samples / 150
        return cls(concept, *(max(1, round(n * scale)) for n in (75, 25, 12, 6, 18)))

    @cached_property
    def groups(self) -> dict[str, list[Request]]:
        style = self.concept.style
        g: dict[str, list[Request]] = {}
        for k, family in enumerate(captions.TEMPLATES):
            n = self.n_target if family in captions.TRAINED_TEMPLATES else self.n_heldout
            g[family] = [Request(captions.style_prompt(style, *c, family), family, style, c)
                         for c in contents(n, 11 * k)]
        g["other"] = [Request(captions.style_prompt(s, *c), "in-style", s, c)
                      for k, s in enumerate(data.STYLES) if s != style
                      for c in contents(self.n_other, 5 * k)]
        g["attribute"] = [Request(captions.attribute_prompt((a,), *c), "attribute", a, c)
                          for k, a in enumerate(data.ATTRIBUTES) for c in contents(self.n_attribute, 3 * k)]
        g["bare"] = [Request(captions.bare_prompt(*c), "bare", "", c) for c in contents(self.n_bare, 17)]
        # last, so every other sample has the same index (hence the same noise) with or without it
        g["floor"] = [Request(captions.bare_prompt(*r.content), "bare", "", r.content)
                      for f in captions.TRAINED_TEMPLATES for r in g[f]]
        return g


@dataclass
class StyleEvaluation:
    """Every metric of one model (original or erased) on one plan and seed."""

    attribute_residual: float     # trained phrasings: mean share of the style's attributes drawn
    style_residual: float         # trained phrasings: the whole look drawn
    invalid: float
    content_kept: float
    heldout_residual: float       # held-out phrasings, attribute residual
    preserve_acc: float           # every prompt not naming the style
    by_style: dict[str, float]    # accuracy on each other style's prompts
    valid: float
    floor: float | None           # the bare prompt's rate of the style's attributes (original only)
    foreign: float = float("nan")  # trained phrasings: any attribute the style does not have
    foreign_floor: float | None = None  # the bare prompt's rate of those (original only)
    images: dict[str, Tensor] = field(repr=False, default_factory=dict)


def evaluate_style(world: World, plan: StylePlan, seed: int = 0,
                   delta: Mapping[str, Tensor] | None = None) -> StyleEvaluation:
    """Sample every prompt of `plan` once (the floor prompts with the original only) and score."""
    names = [n for n in plan.groups if n != "floor" or delta is None]
    reqs = [r for n in names for r in plan.groups[n]]
    images = world.sample([r.prompt for r in reqs], seed=seed, delta=delta)
    preds = classify(images)
    parts: dict[str, list[tuple[Request, Prediction]]] = {}
    pictures: dict[str, Tensor] = {}
    i = 0
    for name in names:
        n = len(plan.groups[name])
        parts[name] = list(zip(plan.groups[name], preds[i:i + n]))
        pictures[name] = images[i:i + n]
        i += n
    attrs = plan.concept.attributes
    target = [rp for f in captions.TRAINED_TEMPLATES for rp in parts[f]]
    heldout = [rp for f in captions.HELDOUT_TEMPLATES for rp in parts[f]]
    preserve = parts["other"] + parts["attribute"] + parts["bare"]
    return StyleEvaluation(
        attribute_residual=attribute_rate(target, attrs),
        style_residual=mean(p.valid and p.style == plan.concept.style for _, p in target),
        invalid=mean(not p.valid for _, p in target),
        content_kept=mean(r.content_right(p) for r, p in target),
        heldout_residual=attribute_rate(heldout, attrs),
        preserve_acc=mean(r.right(p) for r, p in preserve),
        by_style={s: mean(r.right(p) for r, p in parts["other"] if r.key == s)
                  for s in data.STYLES if s != plan.concept.style},
        valid=mean(p.valid for p in preds),
        floor=attribute_rate(parts["floor"], attrs) if "floor" in parts else None,
        foreign=foreign_rate(target, attrs),
        foreign_floor=foreign_rate(parts["floor"], attrs) if "floor" in parts else None,
        images={"target": torch.cat([pictures[f] for f in captions.TRAINED_TEMPLATES]),
                "preserve": torch.cat([pictures[n] for n in ("other", "attribute", "bare")])})


def foreign_rate(rows: list[tuple[Request, Prediction]], attributes: tuple[str, ...]) -> float:
    """Over valid samples, the share drawing any attribute outside `attributes`."""
    others = [a for a in data.ATTRIBUTES if a not in attributes]
    return mean(any(p.has(a) for a in others) for _, p in rows if p.valid)


def attribute_rate(rows: list[tuple[Request, Prediction]], attributes: tuple[str, ...]) -> float:
    """Over valid samples, the mean share of `attributes` drawn."""
    return mean(float(np.mean([p.has(a) for a in attributes])) for _, p in rows if p.valid)


@dataclass
class StyleComparison(Preservation):
    """An erased model against the original, on one plan and seed."""

    concept: StyleConcept
    before: StyleEvaluation
    after: StyleEvaluation
    seconds: float = float("nan")

    @property
    def floor(self) -> float:
        return self.before.floor

    @property
    def foreign_floor(self) -> float:
        return self.before.foreign_floor

    @property
    def worst_neighbour(self) -> tuple[str, float]:
        """The neighbour style kept least, relative to the original."""
        rel = {s: self.after.by_style[s] / max(self.before.by_style[s], 1e-9)
               for s in self.concept.neighbours()}
        name = min(rel, key=rel.get)
        return name, rel[name]


def compare_style(world: World, plan: StylePlan, before: StyleEvaluation, seed: int,
                  delta: Mapping[str, Tensor], seconds: float = float("nan")) -> StyleComparison:
    """The erased model (`delta`) on `plan` against the original's evaluation."""
    return StyleComparison(plan.concept, before, evaluate_style(world, plan, seed, delta), seconds)
