"""What the demo and the benchmark show: image grids of lab samples (matplotlib, Agg, PNG)
and the demo's before/after table."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from torch import Tensor  # noqa: E402

from .pixels import to_uint8  # noqa: E402
from .world import World  # noqa: E402


def strip(images: Tensor, scale: int = 4, gap: int = 2) -> np.ndarray:
    """A row of images, upscaled (nearest) with a gap between them, HWC uint8."""
    imgs = [np.kron(im, np.ones((scale, scale, 1), np.uint8)) for im in to_uint8(images)]
    pad = np.full((imgs[0].shape[0], gap, 3), 255, np.uint8)
    row = [x for im in imgs for x in (im, pad)][:-1]
    return np.concatenate(row, axis=1)


def image_grid(rows: Sequence[tuple[str, Tensor]], path: Path, title: str = "") -> Path:
    """One labelled row per (label, images); all rows the same number of images."""
    fig_h = 0.62 * len(rows) + (0.4 if title else 0.1)
    width = rows[0][1].shape[0]
    fig, axes = plt.subplots(len(rows), 1, figsize=(2.6 + 0.7 * width, fig_h), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows):
        ax.imshow(strip(images), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        for side in ax.spines.values():
            side.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def before_after_rows(world: World, labels: list[str], batch: list[str], n: int, seed: int,
                      delta: Mapping[str, Tensor]) -> list[tuple[str, Tensor]]:
    """Grid rows for `batch` (n prompts per label) sampled before and after at the same seeds."""
    before = world.sample(batch, seed=seed)
    after = world.sample(batch, seed=seed, delta=delta)
    rows = []
    for i, label in enumerate(labels):
        rows += [(f"{label}\nbefore", before[i * n:(i + 1) * n]), ("after", after[i * n:(i + 1) * n])]
    return rows


def pct(x: float) -> str:
    """A share as the before/after table prints it."""
    return f"{100 * x:5.0f}%"


def before_after_table(rows: Sequence[tuple[str, str, str, str]]) -> str:
    """(metric, before, after, note) rows, the metric column as wide as its longest entry."""
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{r[0]:<{width}}  {r[1]:>7} {r[2]:>7}  {r[3]}" for r in rows)
