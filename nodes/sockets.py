"""The pack's own socket types."""
from comfy_api.latest import io

Concept = io.Custom("ADVANCHOR_CONCEPT")
Anchor = io.Custom("ADVANCHOR_ANCHOR")
Erasure = io.Custom("ADVANCHOR_ERASURE")
Layers = io.Custom("ADVANCHOR_LAYERS")  # a LayerSelection from Concept Sensitivity

CATEGORY = "AdvAnchor"
