"""The shapes world is what it claims to be, and the classifier reads it back exactly."""
from __future__ import annotations

import numpy as np
import torch

from advanchor_lab.measure import noisy
from advanchor_lab.pixels import to_tensor
from advanchor_lab.shapes import data
from advanchor_lab.shapes.classifier import classify
from advanchor_lab.text import load_encoder


def test_world_is_complete_and_deterministic():
    images, items = data.dataset()
    assert images.shape == (4950, 3, 16, 16) and len(items) == 4950
    assert len({(i.colour, i.shape, i.texture) for i in items}) == 45
    assert torch.equal(images, to_tensor(np.stack([data.render(i) for i in items])))
    a = data.sample_captions(items[:200], np.random.default_rng(3))
    b = data.sample_captions(items[:200], np.random.default_rng(3))
    assert a == b and "" in a


def test_captions_follow_the_dropout_and_synonym_rules():
    rng = np.random.default_rng(0)
    red = [i for i in data.dataset()[1] if i.colour == "red"][:1]
    caps = [data.sample_caption(red[0], rng) for _ in range(4000)]
    share = lambda pred: np.mean([pred(c) for c in caps])  # noqa: E731
    assert abs(share(lambda c: c == "") - data.P_EMPTY) < 0.02
    assert share(lambda c: any(w in c.split() for w in data.TRAINED_SYNONYMS["red"])) > 0.1
    held = data.HELDOUT_SYNONYMS["red"]
    assert not any(w in c for c in data.training_captions() for w in held)
    assert set(caps) <= set(data.training_captions())


def test_classifier_is_exact_on_ground_truth_and_under_noise():
    images, items = data.dataset()
    idx = np.random.default_rng(0).choice(len(items), 600, replace=False)
    for x in (images[idx], noisy(images[idx], 0.08, seed=1)):
        preds = classify(x)
        for p, i in zip(preds, (items[j] for j in idx)):
            assert p.valid and (p.colour, p.shape, p.texture) == (i.colour, i.shape, i.texture)


def test_classifier_rejects_noise_and_washes():
    g = torch.Generator().manual_seed(0)
    assert not any(p.valid for p in classify(torch.rand(32, 3, 16, 16, generator=g) * 2 - 1))
    wash = torch.full((4, 3, 16, 16), -0.8)
    wash[:, 0] = 0.7  # a red-orange frame with no shape in it
    assert not any(p.valid for p in classify(wash))


def test_encoder_shape_padding_positions_and_length_limit():
    enc = load_encoder()
    x = enc.encode(["a red circle on stripes", ""])
    assert x.shape == (2, enc.max_tokens, 384)
    assert x[0, 7:].abs().sum() == 0 and x[0, :7].norm(dim=-1).min() > 0
    assert enc.token_positions("a red circle on stripes", "red") == [2]
    assert enc.token_positions("a cherry-red square", "cherry-red") == [2, 3, 4]
    try:
        enc.encode(["a red circle on stripes and a blue square on dots"])
    except ValueError as err:
        assert "shorten" in str(err)
    else:
        raise AssertionError("an over-long prompt must raise")
