"""Scorers and the measurement report: pixel drift, NudeNet, the grid."""
import sys

import numpy as np
import pytest
import torch

from advanchor_core.errors import AdvAnchorError
from advanchor_core.measure import GAP, grid, measure_report
from advanchor_core.scorers import NUDENET_CLASSES, Comparison, NudeNet, PixelDrift, run_scorers


def images(seed: int, n: int = 2) -> torch.Tensor:
    return torch.rand((n, 8, 6, 3), generator=torch.Generator().manual_seed(seed))


def test_pixel_drift_is_zero_for_the_same_images_and_positive_otherwise():
    same = Comparison("a photo", "preserve", [0, 1], images(1), images(1))
    moved = Comparison("a dog", "preserve", [0, 1], images(1), images(1) * 0.5)
    target = Comparison("Van Gogh", "target", [0, 1], images(1), images(2))
    out = PixelDrift().score([same, moved, target])
    assert out["per_prompt"]["a photo"]["mean"] == 0.0
    assert out["per_prompt"]["a photo"]["per_seed"] == [0.0, 0.0]
    expected = (images(1) * 0.5).mean().item()
    assert out["per_prompt"]["a dog"]["mean"] == pytest.approx(expected)
    assert out["preserve_mean"] == pytest.approx(expected / 2) and out["target_mean"] > 0
    assert out["attack_mean"] is None


class FakeDetector:
    """NudeNet's detect(path) contract: the brighter the image, the more it 'finds'."""

    def __init__(self):
        self.paths = []

    def detect(self, path):
        from PIL import Image

        self.paths.append(path)
        level = float(np.asarray(Image.open(path), dtype=np.float32).mean() / 255)
        return [{"class": "FEMALE_BREAST_EXPOSED", "score": level, "box": [0, 0, 1, 1]},
                {"class": "FACE_FEMALE", "score": 0.99, "box": [0, 0, 1, 1]}]


def test_nudenet_counts_listed_classes_above_the_threshold_and_says_which():
    bright, dark = torch.full((2, 8, 8, 3), 0.9), torch.full((2, 8, 8, 3), 0.1)
    comps = [Comparison("nudity", "target", [0, 1], bright, dark),
             Comparison("a tree", "preserve", [0, 1], dark, dark),
             Comparison("attack", "attack", [0, 1], bright, torch.cat([bright[:1], dark[:1]]))]
    detector = FakeDetector()
    out = NudeNet(threshold=0.45, detector=detector).score(comps)
    assert out["threshold"] == 0.45 and out["classes"] == list(NUDENET_CLASSES)
    assert out["target_rate"] == {"original": 1.0, "erased": 0.0}
    assert out["attack_rate"] == {"original": 1.0, "erased": 0.5}
    assert out["preserve_rate"] == {"original": 0.0, "erased": 0.0}   # FACE_FEMALE is not listed
    assert len(detector.paths) == 12 and all(p.endswith(".png") for p in detector.paths)
    only_face = NudeNet(classes=("FACE_FEMALE",), detector=FakeDetector()).score(comps)
    assert only_face["preserve_rate"]["erased"] == 1.0


def test_nudenet_missing_is_reported_with_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "nudenet", None)   # import nudenet now raises ImportError
    comps = [Comparison("nudity", "target", [0], images(1, 1), images(2, 1))]
    out = run_scorers([PixelDrift(), NudeNet()], comps)
    assert out["nudenet"]["available"] is False
    assert "pip install nudenet" in out["nudenet"]["message"]
    assert out["pixel_drift"]["target_mean"] > 0


@pytest.mark.parametrize("make,message", [
    (lambda: NudeNet(threshold=1.5), "between 0 and 1"),
    (lambda: NudeNet(classes=()), "classes are empty"),
    (lambda: Comparison("x", "other", [0], images(1, 1), images(1, 1)), "kind 'other'"),
    (lambda: Comparison("x", "target", [0, 1], images(1), images(1, 1)), "same seeds"),
])
def test_bad_scorer_input_is_refused(make, message):
    with pytest.raises(AdvAnchorError, match=message):
        make()


def test_grid_puts_original_left_and_erased_right_row_by_row():
    a = Comparison("p", "target", [0, 1], torch.zeros(2, 8, 6, 3), torch.full((2, 8, 6, 3), 0.5))
    b = Comparison("q", "preserve", [0, 1], torch.full((2, 8, 6, 3), 0.25), torch.zeros(2, 8, 6, 3))
    out = grid([a, b])
    assert out.shape == (1, 2 * 8 + GAP, 4 * 6 + 4 * GAP, 3)
    assert out[0, 0, 0].tolist() == [0, 0, 0]
    assert out[0, 0, 2 * 6 + 3 * GAP].tolist() == [0.5] * 3     # the erased half, after a wider gap
    assert out[0, 8 + GAP, 0].tolist() == [0.25] * 3
    report = measure_report([a, b], [PixelDrift()], {"steps": 2})
    assert [r["label"] for r in report["grid"]["rows"]] == ["p", "q"]
    assert report["scores"]["pixel_drift"]["preserve_mean"] == 0.25
