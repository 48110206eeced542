"""The pack's own socket types."""
from comfy_api.latest import io

Concept = io.Custom("ADVANCHOR_CONCEPT")
Anchor = io.Custom("ADVANCHOR_ANCHOR")
Erasure = io.Custom("ADVANCHOR_ERASURE")
Layers = io.Custom("ADVANCHOR_LAYERS")  # a LayerSelection from Concept Sensitivity

CATEGORY = "AdvAnchor"


def advanced(*inputs):
    """`inputs` marked as expert settings, as a list to splat into a schema. ComfyUI's schema
    sends the mark (`advanced`) from 0.12 on and recent frontends fold those widgets away;
    a ComfyUI whose schema has no such field never reads it."""
    for i in inputs:
        i.advanced = True
    return list(inputs)
