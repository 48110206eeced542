"""The two sets of defaults the pack has, named once.

`REFERENCE` is the paper's setting (the authors' hyper-parameters: AdvAnchor with L_adv1,
alternating schedule, δ moved by Adam at lr 1e-4 for 20 steps, 51 weight updates at lr 1e-5 on
cross-attention, λ = 10). The core's dataclasses default to it, so a bare `UnlearnConfig()` is
the reference and tests can check the method as published.

`RECOMMENDED` is what the nodes and the lab's demo do when the user changes nothing: what
measured best in the lab (benchmarks/RESULTS.md): ESD, and for users who pick the adversarial
method, the keep anchor searched first (sequential) with 5 δ steps. The anchor's lr of 0.05 is
the lab's step relative to a token's size (0.02 on MiniLM, tokens of norm 6–11) carried to
CLIP-L's scale (norm ≈ 28).
"""
from __future__ import annotations

from .anchors import AnchorConfig
from .unlearn import UnlearnConfig

REFERENCE = UnlearnConfig()

RECOMMENDED = UnlearnConfig(method="esd", schedule="sequential",
                            anchor=AnchorConfig(loss="keep", steps=5, lr=0.05))
