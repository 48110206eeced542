"""The result of a run: a weight delta keyed by parameter name, and what made it.

Why a delta and not weights: it is small (only the preset's tensors), it applies to the
model it came from at any strength, several can be merged, and it turns into a LoRA.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from torch import Tensor

from . import __version__

FORMAT = "advanchor.erasure.v1"


@dataclass
class Erasure:
    tensors: dict[str, Tensor]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def concepts(self) -> list[str]:
        return json.loads(self.metadata.get("concepts", "[]"))


def describe(concepts: list[str], settings: dict) -> dict[str, str]:
    """Safetensors metadata (str → str) recording how an erasure was made."""
    return {"format": FORMAT, "version": __version__, "concepts": json.dumps(concepts),
            "settings": json.dumps(settings, default=str)}
