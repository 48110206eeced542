"""The style world's language: its prompts and the caption sampler its model was trained on.

- attribute prompts ("a red circle on black with an outline"), a bare superclass ("a red circle
  on black": mostly plain, see `families.py` for its measured floors) and a generic superclass
  ("a red circle on black in some style": any of the eight styles);
- trained phrasings ("a red circle on black in zorbic style", "a zorbic red circle on black")
  and held-out ones no training caption uses ("a red circle on black, zorbic style",
  "a red circle on black in the style of zorbic").

The sampler takes an explicit numpy Generator, so a training run's captions follow its seed.
"""
from __future__ import annotations

from itertools import product
from typing import Sequence

import numpy as np

from .data import ATTRIBUTES, BACKGROUNDS, COLOURS, LOOKS, SHAPES, STYLES, Item

ATTRIBUTE_PHRASES = {"outline": "an outline", "warm": "a warm tint", "cool": "a cool tint",
                     "stripes": "stripes", "dots": "dots", "checks": "checks"}

GENERIC_STYLE = "some"  # "… in some style": the generic superclass, trained on the eight styles

# Prompt templates; {obj} is the content phrase ("red circle on black"), {style} a style word.
TRAINED_TEMPLATES = {"in-style": "a {obj} in {style} style", "prefix": "a {style} {obj}"}
HELDOUT_TEMPLATES = {"comma": "a {obj}, {style} style", "style-of": "a {obj} in the style of {style}"}
TEMPLATES = {**TRAINED_TEMPLATES, **HELDOUT_TEMPLATES}
SHAPE_SUPERCLASS = "shape"

# Caption rules. Empty caption 10% (classifier-free guidance); content words dropped: colour
# 15%, shape → "shape" 10%, background 15%. Then, for a named style: its name 60% (either
# trained template), the generic "some style" 10%, a non-empty subset of its attributes 20%,
# nothing (the bare prompt) 10%; an unnamed look: attributes 75%, bare 25%; plain: bare.
P_EMPTY = 0.1
P_DROP_COLOUR, P_SHAPE_SUPERCLASS, P_DROP_BACKGROUND = 0.15, 0.1, 0.15
P_STYLE_NAME, P_GENERIC, P_STYLE_ATTRIBUTES = 0.6, 0.1, 0.2
P_UNNAMED_ATTRIBUTES = 0.75


def obj_phrase(colour: str | None, shape: str | None, background: str | None) -> str:
    """"red circle on black"; a None factor is dropped (shape None → "shape")."""
    words = ([colour] if colour else []) + [shape or SHAPE_SUPERCLASS]
    return " ".join(words + (["on", background] if background else []))


def bare_prompt(colour: str | None, shape: str | None, background: str | None) -> str:
    """The superclass prompt: content only, "a red circle on black"."""
    return f"a {obj_phrase(colour, shape, background)}"


def style_prompt(style: str, colour: str | None, shape: str | None, background: str | None,
                 template: str = "in-style") -> str:
    """A style prompt in one of `TEMPLATES` ("a red circle on black in zorbic style")."""
    return TEMPLATES[template].format(obj=obj_phrase(colour, shape, background), style=style)


def generic_prompt(colour: str | None, shape: str | None, background: str | None) -> str:
    """The generic superclass: "a red circle on black in some style"."""
    return style_prompt(GENERIC_STYLE, colour, shape, background, "in-style")


def attribute_phrase(attributes: Sequence[str]) -> str:
    """"an outline", "an outline and dots", "an outline, a warm tint and dots"."""
    order = sorted(attributes, key=ATTRIBUTES.index)
    phrases = [ATTRIBUTE_PHRASES[a] for a in order]
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def attribute_prompt(attributes: Sequence[str], colour: str | None, shape: str | None,
                     background: str | None) -> str:
    """"a red circle on black with an outline and stripes"."""
    return f"a {obj_phrase(colour, shape, background)} with {attribute_phrase(attributes)}"


def attribute_subsets() -> list[tuple[str, ...]]:
    """Every non-empty attribute set one look can carry (at most one tint, one pattern): 23."""
    out = []
    for look in LOOKS:
        attrs = look.attributes
        for k in range(1, 2 ** len(attrs)):
            sub = tuple(a for i, a in enumerate(attrs) if k >> i & 1)
            if sub not in out:
                out.append(sub)
    return out


def _subset(attrs: tuple[str, ...], rng: np.random.Generator) -> tuple[str, ...]:
    k = int(rng.integers(1, 2 ** len(attrs)))
    return tuple(a for i, a in enumerate(attrs) if k >> i & 1)


def sample_caption(item: Item, rng: np.random.Generator) -> str:
    """A training caption for an item, with the dropout rules above."""
    if rng.random() < P_EMPTY:
        return ""
    colour = None if rng.random() < P_DROP_COLOUR else item.colour
    shape = None if rng.random() < P_SHAPE_SUPERCLASS else item.shape
    background = None if rng.random() < P_DROP_BACKGROUND else item.background
    attrs, style, u = item.look.attributes, item.style, rng.random()
    if style is not None:
        if u < P_STYLE_NAME:
            template = tuple(TRAINED_TEMPLATES)[int(rng.integers(len(TRAINED_TEMPLATES)))]
            return style_prompt(style, colour, shape, background, template)
        if u < P_STYLE_NAME + P_GENERIC:
            return generic_prompt(colour, shape, background)
        if u < P_STYLE_NAME + P_GENERIC + P_STYLE_ATTRIBUTES:
            return attribute_prompt(_subset(attrs, rng), colour, shape, background)
    elif attrs and u < P_UNNAMED_ATTRIBUTES:
        return attribute_prompt(_subset(attrs, rng), colour, shape, background)
    return bare_prompt(colour, shape, background)


def sample_captions(items: Sequence[Item], rng: np.random.Generator) -> list[str]:
    return [sample_caption(it, rng) for it in items]


def training_captions() -> list[str]:
    """Every caption the sampler can emit (encoded once and cached by the trainer): 2,953."""
    out = {""}
    for colour, shape, bg in product((None, *COLOURS), (None, *SHAPES), (None, *BACKGROUNDS)):
        out.add(bare_prompt(colour, shape, bg))
        out.add(generic_prompt(colour, shape, bg))
        for style in STYLES:
            out.update(style_prompt(style, colour, shape, bg, t) for t in TRAINED_TEMPLATES)
        out.update(attribute_prompt(sub, colour, shape, bg) for sub in attribute_subsets())
    return sorted(out)
