"""How far an erasure has gone (moved towards the target, drift of the superclass), and the
stopping rule that reads it."""
from dataclasses import replace

import pytest
import torch

from advanchor_core.errors import AdvAnchorError
from advanchor_core.latents import Draw, LatentConfig
from advanchor_core.presets import select_parameters
from advanchor_core.unlearn import UnlearnConfig, unlearn
from advanchor_core.unlearn.methods import TABLE
from advanchor_core.unlearn.run import make_run, start_progress
from advanchor_core.unlearn.stopping import Gauge

from .test_unlearn import FAST
from .tiny_models import LATENT

FIXED = UnlearnConfig(**{**FAST, "method": "fixed", "preservation": 0.0,
                         "latents": LatentConfig(source="noise")})


def gauge(denoiser, cc, draws) -> Gauge:
    return Gauge(denoiser, make_run(start_progress(denoiser, FIXED, 1, None, None), cc, FIXED,
                                    TABLE["fixed"]), draws)


def test_moved_and_drift_are_the_distances_the_docstring_defines(denoiser, conditioning):
    g = torch.Generator().manual_seed(3)
    draws = [Draw(torch.randn(1, *LATENT, generator=g), torch.tensor([t])) for t in (200, 700)]
    names = select_parameters(denoiser.named_weights().keys(), "xattn")
    delta = {n: 0.05 * torch.randn(denoiser.named_weights()[n].shape, generator=g) for n in names}
    eps = lambda c, d, dl=None: denoiser(d.x_t, d.t, c, dl)  # noqa: E731
    cc = conditioning
    to_go = sum((eps(cc.erase, d, delta) - eps(cc.fixed_anchor, d)).norm() for d in draws)
    start = sum((eps(cc.erase, d) - eps(cc.fixed_anchor, d)).norm() for d in draws)
    drift = sum((eps(cc.superclass, d, delta) - eps(cc.superclass, d)).norm() for d in draws)
    apart = sum((eps(cc.erase, d) - eps(cc.superclass, d)).norm() for d in draws)
    reading = gauge(denoiser, cc, draws).read(delta, None, 7)
    assert reading.update == 7
    assert reading.moved == pytest.approx(1 - (to_go / start).item(), rel=1e-4, abs=1e-6)
    assert reading.drift == pytest.approx((drift / apart).item(), rel=1e-4)
    zero = gauge(denoiser, cc, draws).read({n: torch.zeros_like(d) for n, d in delta.items()}, None, 0)
    assert zero.moved == pytest.approx(0.0, abs=1e-6) and zero.drift == pytest.approx(0.0, abs=1e-6)


def test_every_run_reports_how_far_each_concept_went(denoiser, conditioning):
    result = unlearn(denoiser, conditioning, replace(FIXED, steps=8), latent_shape=LATENT)
    (reached,) = result.reached
    assert reached.update == 8 and reached.moved > 0
    assert '"reached": [{"update": 8' in result.erasure.metadata["settings"]


def test_the_rule_stops_a_concept_once_it_has_moved_far_enough(denoiser, conditioning):
    cfg = replace(FIXED, steps=40, lr=1e-3, stop_at=0.6, stop_every=2)
    result = unlearn(denoiser, conditioning, cfg, latent_shape=LATENT)
    (reached,) = result.reached
    assert reached.moved >= 0.6 and reached.update < 40 and reached.update % 2 == 0
    updates = [h for h in result.history if h.phase == "unlearn"]
    assert len(updates) == reached.update
    readings = [h.losses["moved"] for h in updates if "moved" in h.losses]
    assert len(readings) == reached.update // 2 and readings[-1] == reached.moved
    assert all(m < 0.6 for m in readings[:-1])


def test_a_rule_never_met_trains_every_update(denoiser, conditioning):
    cfg = replace(FIXED, steps=6, stop_at=1.0, stop_every=3)
    result = unlearn(denoiser, conditioning, cfg, latent_shape=LATENT)
    assert result.reached[0].update == 6
    assert [h.step for h in result.history if "moved" in h.losses] == [3, 6]


@pytest.mark.parametrize("kw,message", [(dict(stop_at=1.5), "stop_at is 1.5"),
                                        (dict(stop_every=0), "stop_every is 0")])
def test_bad_settings_say_what_to_change(kw, message):
    with pytest.raises(AdvAnchorError, match=message):
        UnlearnConfig(**kw)


def test_a_run_keeps_its_delta_after_the_updates_asked_for(denoiser, conditioning):
    result = unlearn(denoiser, conditioning, replace(FIXED, steps=6), latent_shape=LATENT,
                     keep_after=(2, 4, 6))
    assert sorted(result.kept) == [2, 4, 6]
    final = result.erasure.tensors
    assert all(torch.equal(result.kept[6][n], final[n]) for n in final)
    sizes = [sum(d.norm() for d in result.kept[k].values()) for k in (2, 4)]
    assert 0 < sizes[0] < sizes[1] < sum(d.norm() for d in final.values())
    # the same run without copies: the copies were taken, not trained differently
    plain = unlearn(denoiser, conditioning, replace(FIXED, steps=6), latent_shape=LATENT)
    assert all(torch.equal(plain.erasure.tensors[n], final[n]) for n in final)
    assert unlearn(denoiser, conditioning, replace(FIXED, steps=2), latent_shape=LATENT).kept == {}
