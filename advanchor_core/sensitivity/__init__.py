"""Where a concept lives before erasing it: anchors, cross-attention layers, tokens.

Why: the method's trade-off is decided before training starts. An anchor that still carries
the concept erases little; one far from the concept drags unrelated content along; training
layers that never read the concept's text spends the budget where the concept is not. These
analyses measure that on the frozen model, with the same `Denoiser` and conditioning tensors
the unlearning loop uses, so what they show is what training will meet.

One module per idea:
- `probes`: the (x_t, t) every analysis averages over.
- `anchor_choice`: the anchor map (closeness vs retention of candidate anchors) and
  `choose_anchor`, the start the unlearning loop takes from it.
- `layers`: per text-reading layer, how much its output moves when the text changes.
- `tokens`: gradient × input of the concept's ε shift on the prompt's conditioning.
- `selection`: the top-k / above-threshold layers as parameter names for
  `UnlearnConfig(parameters=...)`.
- `report`: all of them at once (`analyse`), as the node shows them.

All functions are pure (no weight is written; hooks are removed on exit) and return small
dataclasses whose `as_dict()` is JSON-serialisable.
"""
from .anchor_choice import (AnchorChoice, AnchorMap, AnchorPoint, anchor_map, candidate_map,
                            choose_anchor, standard_candidates)
from .layers import LayerSensitivity, MeasuresTextBlocks, cross_attention_layers, layer_sensitivity
from .probes import ProbeConfig, make_probes
from .report import SensitivityReport, analyse
from .selection import LayerSelection, select_layers
from .tokens import TokenAttribution, token_attribution

__all__ = ["AnchorChoice", "AnchorMap", "AnchorPoint", "LayerSelection", "LayerSensitivity",
           "MeasuresTextBlocks", "ProbeConfig", "SensitivityReport", "TokenAttribution", "analyse",
           "anchor_map", "candidate_map", "choose_anchor", "cross_attention_layers",
           "layer_sensitivity", "make_probes", "select_layers", "standard_candidates",
           "token_attribution"]
