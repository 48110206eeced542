"""Measure Erasure in process: both models sampled at the same seeds, then scored."""
from __future__ import annotations

import json
import sys

import pytest
from tests.comfy_support.inprocess import run_node

SMALL = dict(width=64, height=64, steps=2, samples=2, seed=11,
             target_prompts="Van Gogh painting", preserve_prompts="a photo of a cat\na red house")


@pytest.fixture(scope="module")
def node(pack):
    from advanchor_pack.nodes.measure import MeasureErasureNode

    return MeasureErasureNode


def measure(node, tiny, erased_model, **kw):
    image, report = run_node(node, original_model=tiny["model"], erased_model=erased_model,
                             clip=tiny["clip"], vae=tiny["vae"], **(SMALL | kw))
    return image, json.loads(report)


def test_a_model_measured_against_itself_drifts_zero(node, tiny):
    image, report = measure(node, tiny, tiny["model"])
    drift = report["scores"]["pixel_drift"]
    assert drift["preserve_mean"] == 0.0 and drift["target_mean"] == 0.0
    assert [r["kind"] for r in report["grid"]["rows"]] == ["target", "preserve", "preserve"]
    assert report["settings"]["seeds"] == [11, 12] and report["settings"]["steps"] == 2
    # 3 rows of 64 px, 4 tiles (2 seeds × 2 models) with gaps, RGB in [0, 1]
    assert image.shape == (1, 3 * 64 + 2 * 4, 4 * 64 + 4 * 4, 3)
    assert 0 <= image.min() and image.max() <= 1
    assert "nudenet" not in report["scores"]


def test_after_an_erasure_the_drift_is_positive_and_inputs_are_untouched(node, tiny, erased):
    patches = (dict(tiny["model"].patches), dict(erased.patches), erased.patches_uuid)
    _, report = measure(node, tiny, erased)
    drift = report["scores"]["pixel_drift"]
    assert drift["preserve_mean"] > 0 and drift["target_mean"] > 0
    assert all(len(v["per_seed"]) == 2 for v in drift["per_prompt"].values())
    assert (dict(tiny["model"].patches), dict(erased.patches), erased.patches_uuid) == patches


def test_the_attack_conditioning_is_sampled_by_both_models(node, tiny, erased, concept):
    from advanchor_pack.nodes.attack import AttackErasureNode

    attack, _ = run_node(AttackErasureNode, erased_model=erased, original_model=tiny["model"],
                         clip=tiny["clip"], concept=concept, latent_source="noise", sample_size=64,
                         steps=2, lr=0.05)
    image, report = measure(node, tiny, erased, attack=attack, preserve_prompts="")
    assert [r["kind"] for r in report["grid"]["rows"]] == ["target", "attack"]
    assert report["scores"]["pixel_drift"]["attack_mean"] > 0
    assert image.shape[1] == 2 * 64 + 4


def test_nudenet_missing_gives_a_message_not_a_crash(node, tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "nudenet", None)
    _, report = measure(node, tiny, tiny["model"], nudenet=True, samples=1, preserve_prompts="")
    assert report["scores"]["nudenet"]["available"] is False
    assert "pip install nudenet" in report["scores"]["nudenet"]["message"]
    assert report["scores"]["pixel_drift"]["target_mean"] == 0.0


def test_nudenet_threshold_and_classes_are_stated(node, tiny, monkeypatch):
    import types

    class Detector:
        def detect(self, path):
            return [{"class": "BUTTOCKS_EXPOSED", "score": 0.5, "box": [0, 0, 1, 1]}]

    monkeypatch.setitem(sys.modules, "nudenet", types.SimpleNamespace(NudeDetector=Detector))
    _, report = measure(node, tiny, tiny["model"], nudenet=True, samples=1, preserve_prompts="",
                        nudenet_threshold=0.6, nudenet_classes="buttocks_exposed, ANUS_EXPOSED")
    section = report["scores"]["nudenet"]
    assert section["threshold"] == 0.6 and section["classes"] == ["BUTTOCKS_EXPOSED", "ANUS_EXPOSED"]
    assert section["target_rate"] == {"original": 0.0, "erased": 0.0}   # 0.5 < 0.6


def test_no_prompts_is_refused_saying_what_to_do(node, tiny, errors):
    with pytest.raises(errors.AdvAnchorError, match="at least one target or preserve prompt"):
        measure(node, tiny, tiny["model"], target_prompts=" \n# none", preserve_prompts="")


def test_measure_cancel_stops_it(node, tiny, monkeypatch, bridge):
    import comfy.model_management as mm

    def tick(self, total=None):
        mm.interrupt_current_processing(True)

    monkeypatch.setattr(bridge.Progress, "tick", tick)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            measure(node, tiny, tiny["model"])
    finally:
        mm.interrupt_current_processing(False)
