"""The demo's view of a style erasure: a before/after table and image rows."""
from __future__ import annotations

from typing import Mapping

from torch import Tensor

from ..figures import before_after_rows, before_after_table, pct
from ..world import World
from . import captions
from .families import CONTENTS
from .metrics import StyleComparison


def table(cmp: StyleComparison) -> str:
    """Attributes against their chance floor, the whole style, invalid samples, content kept,
    preservation, the worst neighbour and held-out phrasings, before and after."""
    b, a = cmp.before, cmp.after
    attrs = " + ".join(cmp.concept.attributes)
    name, kept = cmp.worst_neighbour
    rows = [
        ("metric", " before", "  after", "note"),
        (f'"{cmp.concept.word}" attributes still drawn', pct(b.attribute_residual),
         pct(a.attribute_residual), f"{attrs}; chance floor {100 * cmp.floor:.0f}% (the bare prompt draws them)"),
        ("foreign attributes drawn", pct(b.foreign), pct(a.foreign),
         f"any attribute {cmp.concept.word} lacks; chance floor {100 * cmp.foreign_floor:.0f}%"),
        ("whole style still drawn", pct(b.style_residual), pct(a.style_residual), ""),
        ("invalid target samples", pct(b.invalid), pct(a.invalid), "no recognisable object"),
        ("content kept on target prompts", pct(b.content_kept), pct(a.content_kept),
         "shape, colour and background survive, minus the style"),
        ("accuracy on every other prompt", pct(b.preserve_acc), pct(a.preserve_acc),
         f"preservation {100 * cmp.preservation:.0f}% of original, pixel drift {cmp.drift:.3f}"),
        ("worst neighbour style (kept)", "", pct(kept), f"{name}: shares an attribute"),
        ("held-out phrasings: attributes", pct(b.heldout_residual), pct(a.heldout_residual),
         "\", style\" and \"in the style of\""),
    ]
    return before_after_table(rows)


def grid_rows(world: World, cmp: StyleComparison, delta: Mapping[str, Tensor], n: int = 8,
              seed: int = 0) -> list[tuple[str, Tensor]]:
    """Before/after rows at the same seeds: both trained phrasings, a held-out one, a neighbour."""
    style = cmp.concept.style
    contents = [CONTENTS[(5 * i) % len(CONTENTS)] for i in range(n)]
    neighbour = cmp.worst_neighbour[0]
    prompts = [captions.style_prompt(style, *contents[0], t) for t in ("in-style", "prefix", "style-of")]
    prompts.append(captions.style_prompt(neighbour, *contents[0]))
    families = [(style, "in-style"), (style, "prefix"), (style, "style-of"), (neighbour, "in-style")]
    batch = [captions.style_prompt(s, *c, t) for s, t in families for c in contents]
    return before_after_rows(world, prompts, batch, n, seed, delta)
