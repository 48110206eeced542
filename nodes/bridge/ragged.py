"""Prompts of different lengths in one conditioning tensor, for families whose text encoder
gives each prompt its own number of rows (Chroma's unpadded T5, the LLM encoders).

Why: the core stacks conditionings (concept, superclass, anchor, retain prompts) into one
batch, which needs one row count. Padding the rows would change these models' predictions:
ComfyUI passes them no text mask (Chroma, Flux.2) or ignores the one it has (Z-Image in
0.33.0 sets `cap_mask = None`), so padded rows would be read as text. Instead each prompt's
rows are stored zero-padded to `ROWS`, followed by one row whose first value is the prompt's
own row count; the denoiser calls the model once per distinct count, on exactly the rows
ComfyUI itself would pass for that prompt (`split`). Anchors perturb the concept's token rows
only, so the count row is carried through the core unchanged, like SDXL's pooled row.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

from ...advanchor_core.errors import AdvAnchorError

ROWS = 512  # token rows every prompt is padded to (Flux.2 Klein's own window)


def pad(rows: Tensor, prompt: str) -> Tensor:
    """[1, n, D] token rows → [1, ROWS + 1, D]: the rows, zeros, and the count row."""
    n, width = rows.shape[1], rows.shape[2]
    if n > ROWS:
        raise AdvAnchorError(f"the prompt {prompt[:60]!r}... encodes to {n} token rows; AdvAnchor "
                             f"takes at most {ROWS} for this model: shorten it")
    count = torch.zeros((1, 1, width), dtype=rows.dtype)
    count[0, 0, 0] = n
    return torch.cat([rows, rows.new_zeros((1, ROWS - n, width)), count], dim=1)


def counts(cond: Tensor) -> Tensor:
    """Each prompt's own row count, [B] (long), from its count row."""
    return cond[:, -1, 0].detach().round().long().cpu()


def trimmed(cond: Tensor) -> Tensor:
    """One prompt's conditioning [1, ROWS + 1, D] as ComfyUI's [1, n, D]."""
    return cond[:, :int(counts(cond)[0])]


def split(cond: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
    """(batch indices, their token rows [k, n, D]) for each distinct row count n."""
    sizes = counts(cond)
    for n in sizes.unique().tolist():
        index = (sizes == n).nonzero().flatten()
        yield index, cond[index.to(cond.device), :n]


def joined(parts: list[tuple[Tensor, Tensor]]) -> Tensor:
    """The per-count outputs back in batch order (differentiable)."""
    order = torch.cat([index for index, _ in parts])
    out = torch.cat([value for _, value in parts])
    return out[torch.argsort(order).to(out.device)]
