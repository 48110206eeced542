"""The decision plane both lab erasure benchmarks report, and the per-seed tables they render.

A row is on the plane when its residual is at most floor + 5 points, at most 5% of its target
samples are invalid and preservation is at least 95% (and, where measured, its foreign
attributes at most their floor + 5 points); a method is on it for a concept when every
seed's row is. Rows need `split`, `method`, `seed`, `residual`, `floor`, `invalid`,
`preservation` and the concept's name under the attribute the caller names.
"""
from __future__ import annotations

from typing import Callable, Sequence

SLACK = 0.05
# A table column: its header, and its cell from every seed's row of one (concept, method).
Column = tuple[str, Callable[[Sequence], str]]


def meets(row) -> dict[str, bool]:
    """The plane's targets and whether `row` meets each; a row that measured foreign attributes
    (the styles world's) also holds them to their floor + 5 points."""
    out = {"floor": row.residual <= row.floor + SLACK, "valid": row.invalid <= 0.05,
           "preserve": row.preservation >= 0.95}
    if getattr(row, "foreign", None) is not None:
        out["foreign"] = row.foreign <= row.foreign_floor + SLACK
    return out


def pct(x: float | None) -> str:
    """A share as the tables print it; "–" where there is nothing to measure (None, NaN)."""
    return "–" if x is None or x != x else f"{100 * x:.0f}%"


def per_seed(rows: Sequence, cell: Callable[[object], str]) -> str:
    """One table cell: the value of every seed's row, joined by ' / '."""
    return " / ".join(cell(r) for r in rows)


def targets_met(rows: Sequence) -> str:
    """The plane's targets every row meets: 'all', some of them, or 'none'."""
    met = [meets(r) for r in rows]
    ok = [k for k in met[0] if all(m[k] for m in met)]
    return "all" if len(ok) == len(met[0]) else ", ".join(ok) or "none"


def table(rows: Sequence, key: str, columns: Sequence[Column]) -> list[str]:
    """A markdown table, one line per (concept, method) in order of appearance: the concept's
    name (row attribute `key`), the method, then `columns`."""
    lines = ["| " + " | ".join([key, "method", *(head for head, _ in columns)]) + " |",
             "|" + "---|" * (len(columns) + 2)]
    for name, method in dict.fromkeys((getattr(r, key), r.method) for r in rows):
        rs = [r for r in rows if (getattr(r, key), r.method) == (name, method)]
        lines.append("| " + " | ".join([name, method, *(cell(rs) for _, cell in columns)]) + " |")
    return lines


def verdict(rows: Sequence, key: str, noun: str) -> list[str]:
    """Per split: for each concept the methods on the plane on every seed, and those on it for
    every concept of the split."""
    out = []
    for split in dict.fromkeys(r.split for r in rows):
        rs = [r for r in rows if r.split == split]
        per: dict[str, list[str]] = {}
        for name in dict.fromkeys(getattr(r, key) for r in rs):
            mine = [r for r in rs if getattr(r, key) == name]
            per[name] = [m for m in dict.fromkeys(r.method for r in mine)
                         if targets_met([r for r in mine if r.method == m]) == "all"]
        every = [m for m in next(iter(per.values())) if all(m in ms for ms in per.values())]
        detail = "; ".join(f"{n}: {', '.join(ms) or 'none'}" for n, ms in per.items())
        out.append(f"- **{split}**: on the plane on every seed — {detail}; for every {noun} of the "
                   f"split: {', '.join(every) or 'no method'}.")
    return out
