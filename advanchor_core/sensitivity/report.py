"""Every analysis at once, as the sensitivity node shows it, in one JSON-ready report."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from torch import Tensor

from ..concept import ConceptConditioning
from ..denoiser import Denoiser
from ..latents import Draw
from .anchor_choice import AnchorMap, anchor_map, standard_candidates
from .layers import LayerSensitivity, layer_sensitivity
from .selection import LayerSelection, select_layers
from .tokens import TokenAttribution, token_attribution


@dataclass
class SensitivityReport:
    concept: str
    anchor_map: AnchorMap
    layers: LayerSensitivity
    tokens: TokenAttribution
    selection: LayerSelection | None
    probes: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return _finite({"concept": self.concept, "probes": self.probes,
                        "anchor_map": self.anchor_map.as_dict(), "layers": self.layers.as_dict(),
                        "tokens": self.tokens.as_dict(),
                        "selection": self.selection.as_dict() if self.selection else None})

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.as_dict(), indent=indent, allow_nan=False)


def _finite(x: Any) -> Any:
    """JSON has no NaN/inf: write them as null (and keys as strings)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def analyse(denoiser: Denoiser, cc: ConceptConditioning, probes: Draw, *,
            anchor: Tensor | None = None, prompts: Mapping[str, Tensor] | None = None,
            token_labels: Sequence[str] | None = None, shown_tokens: int | None = None,
            concept_positions: Sequence[int] = (), top_k: int | None = 3, threshold: float | None = None,
            weights: str = "all") -> SensitivityReport:
    """Everything at once, as the node shows it. Layer sensitivity is measured between c_u and
    every candidate; the adversarial anchor (if given, else the superclass) ranks layers."""
    candidates = standard_candidates(cc, anchor, prompts)
    amap = anchor_map(denoiser, cc, candidates, probes)
    refs = {name: cond for name, (kind, cond) in candidates.items() if kind != "concept"}
    primary = "adversarial anchor" if anchor is not None else "superclass"
    sens = layer_sensitivity(denoiser, cc.erase, refs, probes, primary=primary)
    concept = cc.concept.text if cc.concept else ""
    tokens = token_attribution(denoiser, cc.erase, cc.superclass, cc.empty, probes,
                               prompt=cc.concept.prompt if cc.concept else "",
                               labels=token_labels, shown=shown_tokens,
                               concept_positions=concept_positions)
    selection = None
    if top_k is not None or threshold is not None:
        selection = select_layers(sens, list(denoiser.named_weights()), top_k=top_k,
                                  threshold=threshold, weights=weights)
    info = {"latents": int((probes.t == probes.t[0]).sum()),
            "timesteps": sorted(int(t) for t in dict.fromkeys(probes.t.tolist()))}
    return SensitivityReport(concept, amap, sens, tokens, selection, info)
