"""The anchor's effect size r = ‖ε*(anchor) − ε*(concept)‖ / ‖ε*(concept) − ε*(superclass)‖."""
from dataclasses import replace

import pytest
import torch

from advanchor_core.anchors import AnchorConfig, AnchorState
from advanchor_core.latents import Draw
from advanchor_core.unlearn import UnlearnConfig, search_anchor, unlearn
from advanchor_core.unlearn.effect import effect_size

from .test_unlearn import FAST
from .tiny_models import LATENT


def draws(n: int = 3) -> list[Draw]:
    g = torch.Generator().manual_seed(5)
    return [Draw(torch.randn(1, *LATENT, generator=g), torch.tensor([100 + 300 * i])) for i in range(n)]


def fixed(base: torch.Tensor) -> AnchorState:
    """An anchor that is exactly `base` (δ = 0 on one row)."""
    return AnchorState(base, [1], torch.zeros(1, base.shape[-1]))


def test_r_is_the_ratio_of_the_two_distances_summed_over_draws(denoiser, conditioning):
    ds = draws()
    eps = lambda c: torch.cat([denoiser(d.x_t, d.t, c) for d in ds])  # noqa: E731
    anchor, concept, sup = eps(conditioning.anchor_base), eps(conditioning.erase), eps(conditioning.superclass)
    want = ((anchor - concept).norm() / (concept - sup).norm()).item()
    assert effect_size(denoiser, conditioning, fixed(conditioning.anchor_base), ds) == pytest.approx(want, rel=1e-5)


def test_r_is_0_on_the_concept_and_1_on_the_superclass(denoiser, conditioning):
    ds = draws()
    assert effect_size(denoiser, conditioning, fixed(conditioning.erase), ds) == pytest.approx(0.0, abs=1e-6)
    assert effect_size(denoiser, conditioning, fixed(conditioning.superclass), ds) == pytest.approx(1.0, rel=1e-5)


def test_a_larger_perturbation_has_a_larger_effect(denoiser, conditioning):
    ds, base = draws(), conditioning.erase
    direction = torch.randn(1, base.shape[-1], generator=torch.Generator().manual_seed(0))
    sizes = [effect_size(denoiser, conditioning, AnchorState(base, [1, 2], s * direction.expand(2, -1)), ds)
             for s in (0.1, 1.0, 5.0)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_the_search_and_unlearning_report_it(denoiser, conditioning):
    cfg = UnlearnConfig(**{**FAST, "anchor": AnchorConfig(loss="adv2", steps=2, lr=0.05)})
    state, _ = search_anchor(denoiser, conditioning, cfg, draws=2, latent_shape=LATENT)
    assert state.effect is not None and state.effect > 0
    result = unlearn(denoiser, conditioning, replace(cfg, steps=2), latent_shape=LATENT)
    assert result.anchor.effect == pytest.approx(
        float(result.erasure.metadata["settings"].split('"anchor_effect": [')[1].split("]")[0]))
    assert unlearn(denoiser, conditioning, replace(cfg, steps=2, method="esd"),
                   latent_shape=LATENT).anchor is None
