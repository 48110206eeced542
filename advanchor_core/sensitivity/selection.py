"""Sensitivity-guided selection: the most sensitive layers as the parameters to unlearn.

Why: `UnlearnConfig(parameters=...)` takes parameter names; the analysis ranks layers. This
turns a ranking into names, with the same weight presets the unlearning loop knows.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from ..errors import AdvAnchorError
from ..presets import in_block_preset, layout
from .layers import LayerSensitivity


@dataclass(frozen=True)
class LayerSelection:
    """The layers chosen for unlearning and the parameter names they own.

    `parameters` goes straight into `UnlearnConfig(parameters=...)`.
    """

    layers: tuple[str, ...]
    parameters: tuple[str, ...]
    scores: tuple[float, ...]
    rule: str

    def as_dict(self) -> dict:
        return asdict(self)


def select_layers(sens: LayerSensitivity, weight_names: Sequence[str], *, top_k: int | None = None,
                  threshold: float | None = None, weights: str = "all",
                  reference: str | None = None) -> LayerSelection:
    """The most sensitive layers: the `top_k` best, and/or those scoring at least `threshold`
    × the best layer's score. `weights` "all" trains the chosen layers' weights that the `xattn`
    preset names (a UNet's to_q/to_k/to_v/to_out; a transformer block's joint attention), "kv"
    those `xattn-kv` names (to_k/to_v; the block's text q/k/v); a Flux single-stream block
    trains `linear2` and `linear1` ("all") or `linear1` ("kv"): `presets.in_block_preset`."""
    _check(top_k, threshold, weights)
    scores = sens.scores(reference)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    if top_k is not None:
        order = order[:top_k]
    if threshold is not None:
        best = scores[order[0]] if order else 0.0
        order = [i for i in order if scores[i] >= threshold * best]
    layers = tuple(sens.layers[i] for i in order)
    preset, kind = ("xattn" if weights == "all" else "xattn-kv"), layout(weight_names)
    chosen = [name for name in weight_names if in_block_preset(name, preset, kind)
              and any(name.startswith(layer + ".") for layer in layers)]
    if not chosen:
        raise AdvAnchorError("the selected layers own no parameter of this model: run the "
                             "sensitivity analysis on the model you unlearn")
    rule = ", ".join(part for part in (f"top {top_k}" if top_k else "",
                                       f"≥ {threshold:g}× best" if threshold is not None else "",
                                       f"{weights} weights") if part)
    return LayerSelection(layers, tuple(chosen), tuple(scores[i] for i in order), rule)


def _check(top_k: int | None, threshold: float | None, weights: str) -> None:
    """Refuse a selection rule that chooses nothing or is not a rule."""
    if top_k is None and threshold is None:
        raise AdvAnchorError("choose layers by top_k, threshold or both")
    if top_k is not None and top_k < 1:
        raise AdvAnchorError(f"top_k is {top_k}: keep at least 1 layer")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise AdvAnchorError(f"threshold is {threshold}: give a fraction of the top layer's score in [0, 1]")
    if weights not in ("all", "kv"):
        raise AdvAnchorError(f"weights {weights!r} is unknown: use 'all' or 'kv'")
