"""Which denoiser calls build an autograd graph: only those a gradient is taken through.

Why it matters: at SD1.5/SDXL size a graph holds the activations of a whole UNet pass; a pass
that builds one nobody uses costs as much memory as a training pass.
"""
from __future__ import annotations

import torch

from advanchor_core.anchors import AnchorConfig
from advanchor_core.latents import LatentConfig
from advanchor_core.unlearn import UnlearnConfig, unlearn
from advanchor_core.unlearn.stopping import HELD_OUT_DRAWS


class GradRecorder:
    """A Denoiser that records, per call, whether grad was on and whether a δ was passed."""

    def __init__(self, inner):
        self.inner, self.schedule, self.calls = inner, inner.schedule, []

    def named_weights(self):
        return self.inner.named_weights()

    def network(self):
        return self.inner.network()

    def context_of(self, cond):
        return self.inner.context_of(cond)

    def __call__(self, x_t, t, cond, delta=None):
        self.calls.append((torch.is_grad_enabled(), bool(delta)))
        return self.inner(x_t, t, cond, delta)


def test_the_anchors_last_evaluation_builds_no_graph(denoiser, conditioning):
    rec = GradRecorder(denoiser)
    steps = 3
    config = UnlearnConfig(steps=2, anchor=AnchorConfig(steps=steps, early_stop=False),
                           latents=LatentConfig(source="noise"), preservation=0.0)
    unlearn(rec, conditioning, config, latent_shape=(4, 8, 8))
    first = 2 * HELD_OUT_DRAWS   # before training: the gauge's frozen predictions on its draws
    per_update = steps + 2
    update = rec.calls[first:first + per_update]
    # the measurements around the run (gauge, final reading, effect size) build no graph either
    assert not any(g for g, _ in rec.calls[:first] + rec.calls[first + 2 * per_update:])
    # frozen batch (first anchor evaluation folded in: grad on), steps - 1 re-evaluations with
    # grad, the last one without, then the θ step with δ
    assert [g for g, _ in update] == [True] * steps + [False] + [True]
    assert [d for _, d in update] == [False] * (steps + 1) + [True]
