"""Which parameters an erasure may change: presets from ESD/Concept Ablation, or a pattern.

Why by name: every UNet family ComfyUI loads (and the pack's own tiny models) names its
cross-attention `...attn2.to_q/to_k/to_v/to_out...`; selecting by name is model-agnostic.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

from .errors import AdvAnchorError

CROSS_ATTENTION = "attn2."

PRESETS: dict[str, Callable[[str], bool]] = {
    "xattn": lambda n: CROSS_ATTENTION in n,                                   # ESD-x, reference
    "xattn-kv": lambda n: re.search(r"attn2\.to_[kv]\.", n) is not None,       # ESD x-strict, CA
    "noxattn": lambda n: CROSS_ATTENTION not in n,                             # ESD-u
    "full": lambda n: True,
}


def select_parameters(names: Iterable[str], spec: str | Sequence[str]) -> list[str]:
    """Names chosen by a preset, a regular expression, or an explicit list (e.g. from sensitivity)."""
    names = list(names)
    if not isinstance(spec, str):
        missing = sorted(set(spec) - set(names))
        if missing:
            raise AdvAnchorError(f"{len(missing)} selected parameters are not in this model "
                                 f"(first: {missing[0]!r}): re-run the selection on this model")
        return [n for n in names if n in set(spec)]
    if spec in PRESETS:
        if spec.startswith("xattn") and not any(CROSS_ATTENTION in n for n in names):
            raise AdvAnchorError(f"preset {spec!r} needs cross-attention, and this model has no "
                                 "parameter named '*attn2*': use 'noxattn', 'full' or a pattern")
        chosen = [n for n in names if PRESETS[spec](n)]
    else:
        try:
            pattern = re.compile(spec)
        except re.error as err:
            raise AdvAnchorError(f"parameter pattern {spec!r} is not a valid regular expression "
                                 f"({err}); use a preset: {', '.join(PRESETS)}") from None
        chosen = [n for n in names if pattern.search(n)]
    if not chosen:
        raise AdvAnchorError(f"{spec!r} matches no parameter of this model: use a preset "
                             f"({', '.join(PRESETS)}) or a regular expression over names such as "
                             f"{names[len(names) // 2]!r}")
    return chosen
