"""Figures as arrays: the sensitivity views and the unlearning loss curve.

Why arrays: a ComfyUI IMAGE, a benchmark's PNG and a test all want pixels, not a window.
matplotlib's object API (`Figure`, no pyplot) draws headless with the Agg canvas and keeps no
global state, so figures can be drawn from worker threads. Every figure of one call has the
same size, so they stack into one IMAGE batch.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .sensitivity import AnchorMap, LayerSelection, LayerSensitivity, TokenAttribution

SIZE = (1000, 700)  # pixels, every figure
DPI = 100
KIND_STYLE = {  # kind → (colour, marker)
    "concept": ("#c0392b", "*"), "adversarial": ("#8e44ad", "D"), "superclass": ("#2471a3", "s"),
    "empty": ("#7f8c8d", "o"), "fixed": ("#117a65", "^"), "prompt": ("#d68910", "o"),
}


def _figure(size: tuple[int, int] = SIZE):
    from matplotlib.figure import Figure

    return Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)


def figure_to_array(fig) -> np.ndarray:
    """RGB float32 [H, W, 3] in 0..1, rendered with Agg (no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return rgba[..., :3].astype(np.float32) / 255.0


def save_png(image: np.ndarray, path) -> None:
    """Write an array from this module as a PNG (benchmarks, README figures)."""
    from matplotlib.image import imsave

    imsave(str(path), np.clip(image, 0.0, 1.0))


def short_layer(name: str) -> str:
    """'output_blocks.3.1.transformer_blocks.0.attn2' → 'out 3.1 tb0': readable tick labels."""
    s = name.replace("input_blocks.", "in ").replace("output_blocks.", "out ")
    s = s.replace("middle_block.", "mid ").replace(".transformer_blocks.", " tb")
    return s.removesuffix(".attn2")


def anchor_scatter(amap: AnchorMap, title: str = "") -> np.ndarray:
    """Closeness (x) against retention (y): the ideal anchor sits right (close) and low
    (carries none of the concept's direction)."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    seen = set()
    for p in amap.points:
        colour, marker = KIND_STYLE.get(p.kind, ("#34495e", "o"))
        ax.scatter([p.closeness], [p.retention], s=160 if p.kind == "concept" else 90, c=colour,
                   marker=marker, edgecolors="black", linewidths=0.6, zorder=3,
                   label=p.kind if p.kind not in seen else None)
        seen.add(p.kind)
        ax.annotate(p.name, (p.closeness, p.retention), textcoords="offset points", xytext=(7, 6),
                    fontsize=11)
    ax.axhline(0.0, color="#999999", lw=0.8, ls="--", zorder=1)
    ax.axhline(1.0, color="#c0392b", lw=0.6, ls=":", zorder=1)
    ax.set_xlabel("closeness to the concept (cosine at the concept's tokens)", fontsize=12)
    ax.set_ylabel("retention of the concept's ε direction (vs superclass)", fontsize=12)
    ax.set_title(title or "Anchor map: erase towards low retention, keep closeness high", fontsize=13)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=10, title="kind")
    xs = [p.closeness for p in amap.points]
    ys = [p.retention for p in amap.points]
    pad_x, pad_y = 0.08 * (max(xs) - min(xs) + 0.1), 0.1 * (max(ys) - min(ys) + 0.1)
    ax.set_xlim(min(xs) - pad_x, max(xs) + 3 * pad_x)
    ax.set_ylim(min(ys) - pad_y, max(ys) + pad_y)
    fig.tight_layout()
    return figure_to_array(fig)


def layer_heatmap(sens: LayerSensitivity, selection: LayerSelection | None = None,
                  title: str = "") -> np.ndarray:
    """Left: relative output change of every attn2 layer (rows) against every reference
    (columns). Right: the ranking reference's scores as bars, selected layers highlighted."""
    fig = _figure()
    grid = fig.add_gridspec(1, 2, width_ratios=[max(2, len(sens.references)), 3], wspace=0.45)
    ax = fig.add_subplot(grid[0, 0])
    data = np.array(sens.relative, dtype=float).reshape(len(sens.layers), len(sens.references))
    im = ax.imshow(data, aspect="auto", cmap="viridis")
    chosen = set(selection.layers) if selection else set()
    labels = [("▶ " if n in chosen else "") + short_layer(n) for n in sens.layers]
    ax.set_yticks(range(len(labels)), labels, fontsize=10 if len(labels) <= 20 else 8)
    ax.set_xticks(range(len(sens.references)),
                  [r + (" ★" if r == sens.primary else "") for r in sens.references],
                  rotation=30, ha="right", fontsize=10)
    if data.size <= 200:
        top = np.nanmax(data) if data.size else 1.0
        for (i, j), v in np.ndenumerate(data):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color="black" if v > 0.6 * top else "white")
    fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02, label="‖Δ out‖ / ‖out‖")
    bx = fig.add_subplot(grid[0, 1])
    scores = sens.scores()
    colours = ["#e67e22" if n in chosen else "#5d6d7e" for n in sens.layers]
    bx.barh(range(len(scores)), scores, color=colours)
    bx.set_ylim(len(scores) - 0.5, -0.5)
    bx.set_yticks([])
    bx.set_xlabel(f"change vs {sens.primary}", fontsize=11)
    bx.grid(axis="x", alpha=0.3)
    fig.suptitle(title or "Cross-attention layers: how much each reads the concept "
                 "(▶ = selected for unlearning)", fontsize=13)
    fig.subplots_adjust(left=0.2, right=0.98, top=0.9, bottom=0.14)
    return figure_to_array(fig)


def token_bars(tokens: TokenAttribution, title: str = "") -> np.ndarray:
    """Share of the attribution per token of the prompt, among the shown tokens.

    Positions after the prompt (CLIP's padding, which attends to the whole prompt) are left
    out of the bars, or they would flatten them, and their total share is written instead.
    """
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    shown = sum(tokens.shares) or 1.0
    shares = [s / shown for s in tokens.shares]
    concept = set(tokens.concept_positions)
    colours = ["#c0392b" if p in concept else ("#2e86c1" if s >= 0 else "#85c1e9")
               for p, s in zip(tokens.positions, tokens.scores)]
    ax.bar(range(len(shares)), shares, color=colours, edgecolor="black", linewidth=0.4)
    rotate = len(shares) > 6
    ax.set_xticks(range(len(shares)), tokens.tokens, rotation=40 if rotate else 0,
                  ha="right" if rotate else "center", fontsize=11)
    ax.set_ylabel("share of |gradient × input| among these tokens", fontsize=12)
    ax.set_title(title or f"Which tokens carry the concept in “{tokens.prompt}”", fontsize=13)
    note = "red: the concept's tokens · light: pushes towards the superclass"
    if tokens.padding_share > 0:
        note += f"\npositions after the prompt (padding) carry {100 * tokens.padding_share:.0f}% " \
                "of the total, not shown"
    ax.text(0.99, 0.97, note, transform=ax.transAxes, ha="right", va="top", fontsize=10,
            bbox=dict(facecolor="white", alpha=0.8, edgecolor="#cccccc"))
    ax.set_ylim(0, 1.25 * max(shares + [1e-9]))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return figure_to_array(fig)


def loss_curve(history: Sequence, size: tuple[int, int] = (640, 400),
               title: str = "AdvAnchor unlearning") -> np.ndarray:
    """Unlearning losses per update (and the anchor loss, right axis) from StepReports."""
    fig = _figure(size)
    ax = fig.add_subplot(1, 1, 1)
    steps = [r for r in history if r.phase == "unlearn"]
    for key in ("erase", "preserve", "total"):
        ys = [r.losses[key] for r in steps if key in r.losses]
        if ys:
            ax.plot(range(1, len(ys) + 1), ys, label=key)
    adv = [r.losses["adv"] for r in history if "adv" in r.losses]
    if adv:
        ax2 = ax.twinx()
        ax2.plot(range(1, len(adv) + 1), adv, color="tab:red", alpha=0.5, linestyle="--", label="anchor")
        ax2.set_ylabel("anchor loss")
        ax2.legend(loc="upper center")
    ax.set_xlabel("update")
    ax.set_ylabel("loss")
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_title(title)
    ax.legend(loc="upper right")
    fig.tight_layout()
    return figure_to_array(fig)


def sensitivity_figures(amap: AnchorMap, sens: LayerSensitivity, tokens: TokenAttribution,
                        selection: LayerSelection | None = None, concept: str = "") -> np.ndarray:
    """The three views, [3, H, W, 3], same size: one IMAGE batch for ComfyUI."""
    label = f" — {concept}" if concept else ""
    return np.stack([
        anchor_scatter(amap, f"Anchor map{label}: low retention = erases, right = close to the concept"),
        layer_heatmap(sens, selection, f"Cross-attention sensitivity{label} (▶ = selected)"),
        token_bars(tokens),
    ])

