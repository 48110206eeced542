"""A measurement of an erasure: the samples of both models side by side, and the scores.

Sampling belongs to whoever owns the models (ComfyUI's samplers in the node); this module
takes the samples as `Comparison`s and makes the grid and the report, so the same scorers run
on any sampler.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .errors import AdvAnchorError
from .scorers import Comparison, Scorer, run_scorers

GAP = 4  # pixels between tiles; the gap between the original and erased halves is doubled


def grid(comparisons: Sequence[Comparison], gap: int = GAP) -> Tensor:
    """[1, H, W, C]: one row per comparison, its seeds from the original model on the left,
    the same seeds from the erased model on the right, on a white background."""
    if not comparisons:
        raise AdvAnchorError("nothing was sampled: give at least one target or preserve prompt")
    n, h, w, c = comparisons[0].original.shape
    cols, rows = 2 * n, len(comparisons)
    width = cols * w + (cols - 1) * gap + gap
    out = torch.ones((rows * h + (rows - 1) * gap, width, c))
    for r, comp in enumerate(comparisons):
        y = r * (h + gap)
        for i, img in enumerate([*comp.original, *comp.erased]):
            x = i * (w + gap) + (gap if i >= n else 0)
            out[y:y + h, x:x + w] = img.float().cpu()
    return out[None]


def measure_report(comparisons: Sequence[Comparison], scorers: Sequence[Scorer],
                   settings: dict) -> dict:
    """The report: how it was sampled, the grid's layout, and every scorer's section."""
    return {
        "settings": settings,
        "grid": {"rows": [{"label": c.label, "kind": c.kind} for c in comparisons],
                 "columns": "original model at each seed, then erased model at the same seeds",
                 "seeds": comparisons[0].seeds if comparisons else []},
        "scores": run_scorers(scorers, comparisons),
    }
