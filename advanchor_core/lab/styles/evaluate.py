"""What the style-world model draws, family by family: `python -m advanchor_core.lab.styles.evaluate`.

Prompt families, each scored by the exact classifier on samples at DDIM 25 / guidance 3:
- style families, one per template: "in-style" and "prefix" (trained), "comma" and "style-of"
  (held out). A sample is right when it is valid and its shape, colour, background and whole
  look (outline, tint, pattern) are the ones the prompt names;
- "attribute": "a red circle on black with an outline", one prompt per attribute. Right when
  valid, the content is right and the named attribute is drawn (the others are free);
- "bare" and "generic" (the superclasses): the content must be right; what is reported is how
  often each attribute (and each style) is drawn: the chance floors of `world.py`.
Every prompt names a full content (colour, shape, background), cycled over the 30 contents.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from itertools import product
from typing import Sequence

import numpy as np
import torch

from . import data
from .classifier import Prediction, classify
from ..world import World

CONTENTS = list(product(data.COLOURS, data.SHAPES, data.BACKGROUNDS))
STYLE_FAMILIES = tuple(data.TEMPLATES)  # in-style, prefix, comma, style-of


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
                out += [Request(data.style_prompt(style, *c, family), family, style, c)
                        for c in contents(samples, 7 * k)]
        elif family == "attribute":
            for k, a in enumerate(data.ATTRIBUTES):
                out += [Request(data.attribute_prompt((a,), *c), family, a, c)
                        for c in contents(samples, 7 * k)]
        elif family in ("bare", "generic"):
            make = data.bare_prompt if family == "bare" else data.generic_prompt
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
        return _mean(r.right(p) for r, p in self.select(family, key))

    def factor_accuracy(self, family: str, key: str) -> dict[str, float]:
        """Per factor, the share of samples that draw it right (valid samples only count)."""
        rows = self.select(family, key)
        look = data.STYLES.get(key)
        out = {"valid": _mean(p.valid for _, p in rows),
               "shape": _mean(p.valid and p.shape == r.content[1] for r, p in rows),
               "colour": _mean(p.valid and p.colour == r.content[0] for r, p in rows),
               "background": _mean(p.valid and p.background == r.content[2] for r, p in rows)}
        if look is not None:
            out |= {"outline": _mean(p.valid and p.outline == look.outline for _, p in rows),
                    "tint": _mean(p.valid and p.tint == look.tint for _, p in rows),
                    "pattern": _mean(p.valid and p.pattern == look.pattern for _, p in rows)}
        return out

    def rates(self, family: str) -> dict[str, float]:
        """Among valid samples of a family: the share of each attribute, of plain, of each style."""
        preds = [p for _, p in self.select(family) if p.valid]
        out = {a: _mean(p.has(a) for p in preds) for a in data.ATTRIBUTES}
        out["(plain)"] = _mean(p.look == data.PLAIN for p in preds)
        out |= {s: _mean(p.style == s for p in preds) for s in data.STYLES}
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
                     f"(trained: {', '.join(data.TRAINED_TEMPLATES)}; held out: {', '.join(data.HELDOUT_TEMPLATES)})")
        lines.append(f"{'style':8s} " + " ".join(f"{f:>9s}" for f in style_fams))
        for style in data.STYLES:
            lines.append(f"{style:8s} " + " ".join(f"{s.accuracy(f, style):9.1%}" for f in style_fams))
        lines.append(f"{'all':8s} " + " ".join(f"{s.accuracy(f):9.1%}" for f in style_fams))
        for f in style_fams:
            for style in data.STYLES:
                fa = s.factor_accuracy(f, style)
                if f in data.TRAINED_TEMPLATES and min(fa.values()) < 0.95:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--weights", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from .world import WEIGHTS, load_world

    print(report(load_world(args.weights or WEIGHTS), samples=args.samples, seed=args.seed))


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


if __name__ == "__main__":
    main()
