"""The demo's view of a shapes-world erasure: a before/after table and image rows."""
from __future__ import annotations

from typing import Mapping

from torch import Tensor

from ..figures import before_after_rows, before_after_table, pct
from ..world import World
from . import data
from .concept import LabConcept
from .metrics import Comparison


def table(cmp: Comparison, concept: LabConcept) -> str:
    """Residual against its chance floor, invalid samples, the rest of the object, preservation,
    the worst other concept and leakage, before and after."""
    b, a = cmp.before, cmp.after
    rows = [
        ("metric", " before", "  after", "note"),
        (f'"{concept.word}" still drawn (target prompts)', pct(b.residual), pct(a.residual),
         f"chance floor {100 * cmp.floor:.0f}% (superclass prompt draws it)"),
        ("invalid target samples", pct(b.invalid), pct(a.invalid), "no recognisable object"),
        ("other factors right on target prompts", pct(b.target_rest), pct(a.target_rest),
         "the object survives, minus the concept"),
        ("accuracy on every other prompt", pct(b.preserve_acc), pct(a.preserve_acc),
         f"preservation {100 * cmp.preservation:.0f}% of original, pixel drift {cmp.drift:.3f}"),
        ("worst other concept", "", pct(cmp.worst_other[1]), cmp.worst_other[0]),
    ]
    for name in b.leakage:
        kind = "trained synonym" if name in data.TRAINED_SYNONYMS.get(concept.value, ()) else "held-out phrasing"
        rows.append((f"leakage: {name}", pct(b.leakage[name]), pct(a.leakage[name]), kind))
    rows.append(("valid samples (all prompts)", pct(b.valid), pct(a.valid), ""))
    return before_after_table(rows)


def grid_rows(world: World, concept: LabConcept, delta: Mapping[str, Tensor], n: int = 8,
              seed: int = 0) -> list[tuple[str, Tensor]]:
    """Before/after rows at the same seeds: target, a synonym, and two unrelated prompts."""
    target = concept.target_prompts()
    prompts = [target[0], target[len(target) // 2]]
    prompts += [p for ps in concept.synonym_prompts().values() for p in ps[:1]]
    prompts += [row[0] for row in concept.preserve_prompts()[::17][:2]]
    batch = [p for p in prompts for _ in range(n)]
    return before_after_rows(world, prompts, batch, n, seed, delta)
