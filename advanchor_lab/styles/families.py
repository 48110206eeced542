"""What the style-world model draws, family by family, and the chance floors that follows.

Prompt families, each scored by the exact classifier on samples at DDIM 25 / guidance 3:
- style families, one per template: "in-style" and "prefix" (trained), "comma" and "style-of"
  (held out). A sample is right when it is valid and its shape, colour, background and whole
  look (outline, tint, pattern) are the ones the prompt names;
- "attribute": "a red circle on black with an outline", one prompt per attribute. Right when
  valid, the content is right and the named attribute is drawn (the others are free);
- "bare" and "generic" (the superclasses): the content must be right; what is reported is how
  often each attribute (and each style) is drawn: the chance floors below.
Every prompt names a full content (colour, shape, background), cycled over the 30 contents.

What the chance floor means here. An erasure that maps a style onto a superclass cannot do
better than what the original model draws for that superclass, so a style's residual
attributes are read against these rates. There are two superclasses:

- the **bare** prompt, "a red circle on black" (the style phrase removed). It is trained on
  plain images, on the unnamed looks with their attribute phrase dropped and on styled images
  with the style dropped, so it draws a *plain* object about half of the time and each
  attribute at a floor of roughly 13–26% (`data_floors()`, below).
- the **generic** prompt, "a red circle on black in some style", trained on the eight styles
  only: it draws one of them, each about 1/8 of the time, so an attribute's floor is the share
  of styles that have it (outline 4/8; warm, cool, stripes 3/8; dots, checks 2/8). It is the
  analogue of the paper's generic anchor ("painting"): mapping a style onto it replaces the
  style by a random other one, which often shares some of its attributes.

Guidance sharpens what the model draws, so the measured floors (`chance_floors`, at DDIM 25,
guidance 3) differ from the caption-level rates a perfect model of the training data would
have (`data_floors()`):

    attribute  caption-level      committed model (256 samples a family, seed 0)
               bare   generic     bare   generic
    outline    0.26   0.50        0.20   0.58
    warm       0.18   0.375       0.08   0.32
    cool       0.18   0.375       0.09   0.31
    stripes    0.15   0.375       0.04   0.32
    dots       0.13   0.25        0.06   0.09
    checks     0.13   0.25        0.04   0.13
    (plain)    0.49   0           0.59   0.09      (generic: a named style on ~29% of samples)

The generic prompt is far from uniform over the styles, so measure the floors again on any
new model.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Sequence

import numpy as np

from ..measure import mean
from ..world import World
from . import captions, data
from .classifier import Prediction, classify

CONTENTS = list(product(data.COLOURS, data.SHAPES, data.BACKGROUNDS))
STYLE_FAMILIES = tuple(captions.TEMPLATES)  # in-style, prefix, comma, style-of


@dataclass(frozen=True)
class Request:
    """One prompt and what it asks for: a content, a style or attributes (or neither)."""

    prompt: str
    family: str
    key: str  # the style, the attribute, or "" for the superclass families
    content: tuple[str, str, str]

    def content_right(self, p: Prediction) -> bool:
        return p.valid and (p.colour, p.shape, p.background) == self.content

    def right(self, p: Prediction) -> bool:
        if not self.content_right(p):
            return False
        if self.family in STYLE_FAMILIES:
            return p.look == data.STYLES[self.key]
        if self.family == "attribute":
            return p.has(self.key)
        return True


def contents(n: int, offset: int = 0) -> list[tuple[str, str, str]]:
    return [CONTENTS[(offset + i) % len(CONTENTS)] for i in range(n)]


def requests(samples: int, families: Sequence[str] = (*STYLE_FAMILIES, "attribute", "bare", "generic"),
             styles: Sequence[str] = tuple(data.STYLES), superclass_factor: int = 4) -> list[Request]:
    """`samples` prompts per style and family (per attribute for "attribute"; ×
    `superclass_factor` for the superclasses)."""
    out: list[Request] = []
    for family in families:
        if family in STYLE_FAMILIES:
            for k, style in enumerate(styles):
                out += [Request(captions.style_prompt(style, *c, family), family, style, c)
                        for c in contents(samples, 7 * k)]
        elif family == "attribute":
            for k, a in enumerate(data.ATTRIBUTES):
                out += [Request(captions.attribute_prompt((a,), *c), family, a, c)
                        for c in contents(samples, 7 * k)]
        elif family in ("bare", "generic"):
            make = captions.bare_prompt if family == "bare" else captions.generic_prompt
            out += [Request(make(*c), family, "", c) for c in contents(samples * superclass_factor)]
        else:
            raise ValueError(f"unknown family {family!r}")
    return out


@dataclass
class Scored:
    requests: list[Request]
    preds: list[Prediction]

    def select(self, family: str, key: str | None = None) -> list[tuple[Request, Prediction]]:
        return [(r, p) for r, p in zip(self.requests, self.preds)
                if r.family == family and (key is None or r.key == key)]

    def accuracy(self, family: str, key: str | None = None) -> float:
        return mean(r.right(p) for r, p in self.select(family, key))

    def factor_accuracy(self, family: str, key: str) -> dict[str, float]:
        """Per factor, the share of samples that draw it right (valid samples only count)."""
        rows = self.select(family, key)
        look = data.STYLES.get(key)
        out = {"valid": mean(p.valid for _, p in rows),
               "shape": mean(p.valid and p.shape == r.content[1] for r, p in rows),
               "colour": mean(p.valid and p.colour == r.content[0] for r, p in rows),
               "background": mean(p.valid and p.background == r.content[2] for r, p in rows)}
        if look is not None:
            out |= {"outline": mean(p.valid and p.outline == look.outline for _, p in rows),
                    "tint": mean(p.valid and p.tint == look.tint for _, p in rows),
                    "pattern": mean(p.valid and p.pattern == look.pattern for _, p in rows)}
        return out

    def rates(self, family: str) -> dict[str, float]:
        """Among valid samples of a family: the share of each attribute, of plain, of each style."""
        preds = [p for _, p in self.select(family) if p.valid]
        out = {a: mean(p.has(a) for p in preds) for a in data.ATTRIBUTES}
        out["(plain)"] = mean(p.look == data.PLAIN for p in preds)
        out |= {s: mean(p.style == s for p in preds) for s in data.STYLES}
        return out


def score(world: World, reqs: Sequence[Request], seed: int = 0, delta=None) -> Scored:
    images = world.sample([r.prompt for r in reqs], seed=seed, delta=delta)
    return Scored(list(reqs), classify(images))


def chance_floors(world: World, samples: int = 64, seed: int = 0, delta=None) -> dict[str, dict[str, float]]:
    """Measured rates of every attribute, plain and style for the bare and generic prompts."""
    s = score(world, requests(samples, ("bare", "generic"), superclass_factor=1), seed, delta)
    return {f: s.rates(f) for f in ("bare", "generic")}


def report(world: World, samples: int = 64, seed: int = 0,
           families: Sequence[str] = (*STYLE_FAMILIES, "attribute", "bare", "generic")) -> str:
    """A plain-text table of every family's accuracy (and the superclasses' rates)."""
    s = score(world, requests(samples, families), seed)
    lines = []
    style_fams = [f for f in STYLE_FAMILIES if f in families]
    if style_fams:
        lines.append(f"all-right share, {samples} samples per style and family "
                     f"(trained: {', '.join(captions.TRAINED_TEMPLATES)}; held out: {', '.join(captions.HELDOUT_TEMPLATES)})")
        lines.append(f"{'style':8s} " + " ".join(f"{f:>9s}" for f in style_fams))
        for style in data.STYLES:
            lines.append(f"{style:8s} " + " ".join(f"{s.accuracy(f, style):9.1%}" for f in style_fams))
        lines.append(f"{'all':8s} " + " ".join(f"{s.accuracy(f):9.1%}" for f in style_fams))
        for f in style_fams:
            for style in data.STYLES:
                fa = s.factor_accuracy(f, style)
                if f in captions.TRAINED_TEMPLATES and min(fa.values()) < 0.95:
                    lines.append(f"  {f}/{style}: " + " ".join(f"{k} {v:.0%}" for k, v in fa.items()))
    if "attribute" in families:
        lines.append(f"attribute prompts ({samples} samples each): " + "  ".join(
            f"{a} {s.accuracy('attribute', a):.1%}" for a in data.ATTRIBUTES))
    for f in ("bare", "generic"):
        if f in families:
            rows = s.select(f)
            r = s.rates(f)
            lines.append(f"{f} prompt ({len(rows)} samples): content right {s.accuracy(f):.1%}; "
                         "drawn: " + " ".join(f"{k} {v:.0%}" for k, v in r.items()))
    return "\n".join(lines)



def data_floors(n: int = 200_000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Share of each attribute (and of plain looks) among training images captioned with the
    bare or the generic prompt, estimated from the caption sampler."""
    _, items = data.dataset()
    rng = np.random.default_rng(seed)
    idx = data.sample_items(n, rng)
    looks: dict[str, list[data.Look]] = {"bare": [], "generic": []}
    for i in idx:
        it = items[i]
        cap = captions.sample_caption(it, rng)
        if not cap:
            continue
        content = (it.colour, it.shape, it.background)
        if cap in {captions.bare_prompt(c, s, b) for c in (content[0], None) for s in (content[1], None)
                   for b in (content[2], None)}:
            looks["bare"].append(it.look)
        elif f"in {captions.GENERIC_STYLE} style" in cap:
            looks["generic"].append(it.look)
    out = {}
    for name, ls in looks.items():
        out[name] = {a: float(np.mean([a in lk.attributes for lk in ls])) for a in data.ATTRIBUTES}
        out[name]["(plain)"] = float(np.mean([lk == data.PLAIN for lk in ls]))
    return out
