"""Trade-off curves: residual over the floor against preservation, one line per method, one
point per weight budget (`lab_erasure --budgets`).

Why a figure beside the tables: a method is judged by its whole curve — how much erasure each
point of preservation buys — not by one budget, and the plane (residual ≤ floor + 5 points,
preservation ≥ 95%) is the shaded corner of this picture. Each point is the mean over seeds; a
hollow point has a seed that breaks the plane's other targets (invalid samples > 5%, or foreign
attributes over their floor + 5 points); an x, a seed with no valid object left, whose
residual is drawn as 100%.
"""
from __future__ import annotations

import re
from pathlib import Path
from statistics import mean
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.plane import SLACK, meets

BUDGET = re.compile(r"^(.*), (\d+) updates$")


def curves(rows: Sequence, key: str) -> dict[str, dict[str, list[tuple[int, list]]]]:
    """{concept: {method: [(updates, its seeds' rows) by budget]}} from rows labelled
    "method, N updates" (a row without a budget is a one-point curve)."""
    out: dict[str, dict[str, dict[int, list]]] = {}
    for r in rows:
        match = BUDGET.match(r.method)
        method, n = (match[1], int(match[2])) if match else (r.method, r.updates or 0)
        out.setdefault(getattr(r, key), {}).setdefault(method, {}).setdefault(n, []).append(r)
    return {c: {m: sorted(b.items()) for m, b in ms.items()} for c, ms in out.items()}


def _residual(row) -> float:
    """The row's residual; a run that left no valid object (no residual to measure) counts as
    not erased at all, drawn as an x."""
    return 1.0 if row.residual != row.residual else row.residual


def draw(rows: Sequence, key: str, path: Path, title: str) -> Path:
    """One panel per concept (its split in the title), every method's curve; the plane's corner shaded."""
    data = curves(rows, key)
    split = {getattr(r, key): r.split for r in rows}
    fig = Figure(figsize=(5.2 * len(data), 4.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(data), squeeze=False)[0]
    for ax, (concept, methods) in zip(axes, data.items()):
        for k, (method, budgets) in enumerate(methods.items()):
            xs = [100 * mean(_residual(r) - r.floor for r in rs) for _, rs in budgets]
            ys = [100 * mean(r.preservation for r in rs) for _, rs in budgets]
            colour = f"C{k % 10}"
            ax.plot(xs, ys, "-", color=colour, lw=1.2, label=method)
            for (n, rs), x, y in zip(budgets, xs, ys):
                clean = all(all(v for t, v in meets(r).items() if t not in ("floor", "preserve")) for r in rs)
                marker = "x" if any(r.residual != r.residual for r in rs) else "o"
                ax.plot([x], [y], marker, color=colour, mfc=colour if clean else "white", ms=5)
            ax.annotate(str(budgets[-1][0]), (xs[-1], ys[-1]), fontsize=6, color=colour,
                        xytext=(3, 3), textcoords="offset points")
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        x0, x1, y1 = min(x0, -5), max(x1, 100 * SLACK + 1), max(y1, 101)
        ax.fill_between([x0, 100 * SLACK], 95, y1, color="#d5f5e3", zorder=0)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(f"{concept} ({split[concept]})", fontsize=9)
        ax.set_xlabel("residual − floor (points; left is erased)", fontsize=8)
        ax.set_ylabel("preservation (%)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="lower left")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
