"""The two sets of defaults the pack has, named once.

`REFERENCE` is the paper's setting (the authors' hyper-parameters: AdvAnchor with L_adv1,
alternating schedule, δ moved by Adam at lr 1e-4 for 20 steps, 51 weight updates at lr 1e-5 on
cross-attention, λ = 10). The core's dataclasses default to it, so a bare `UnlearnConfig()` is
the reference and tests can check the method as published.

`RECOMMENDED` is what the nodes and the lab's demo do when the user changes nothing: what
measured best in the lab (benchmarks/RESULTS.md): ESD, and for users who pick the adversarial
method, the keep anchor searched first (sequential) with 5 δ steps. The anchor's lr of 0.05 is
relative (`AnchorConfig.lr_relative`: in units of the concept rows' RMS coordinate), the lab's
measured step (0.02 absolute on MiniLM, whose rows' RMS coordinate is 0.3–0.6) carried to any
encoder: CLIP-L, CLIP-G and T5 alike. That is still ~500× the reference's relative step (1e-4
on CLIP-L): the lab's setting, not the paper's regime.
"""
from __future__ import annotations

from .anchors import AnchorConfig
from .unlearn import UnlearnConfig

REFERENCE = UnlearnConfig()

RECOMMENDED = UnlearnConfig(method="esd", schedule="sequential",
                            anchor=AnchorConfig(loss="keep", steps=5, lr=0.05, lr_relative=True))
