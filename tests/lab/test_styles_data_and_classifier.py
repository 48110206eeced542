"""The style world is what it claims to be, and its classifier reads it back exactly."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import torch

from advanchor_core.concept import encode_concept
from advanchor_lab.measure import noisy
from advanchor_lab.pixels import to_tensor
from advanchor_lab.styles import captions, data
from advanchor_lab.styles.classifier import classify, factors, truth
from advanchor_lab.styles.concept import style_concept
from advanchor_lab.text import load_encoder


def test_world_is_complete_and_deterministic():
    images, items = data.dataset()
    assert images.shape == (36000, 3, 16, 16) and images.dtype == torch.uint8
    assert len({it.look for it in items}) == 24 and len(data.placements()) == 50
    some = [items[i] for i in range(0, len(items), 997)]
    assert all(np.array_equal(images[items.index(it)].permute(1, 2, 0).numpy(), data.render(it))
               for it in some[:5])
    rng = lambda: np.random.default_rng(3)  # noqa: E731
    assert np.array_equal(data.sample_items(300, rng()), data.sample_items(300, rng()))
    a = captions.sample_captions([items[i] for i in range(0, 36000, 120)], rng())
    assert a == captions.sample_captions([items[i] for i in range(0, 36000, 120)], rng()) and "" in a
    # the frame's outer ring is always plain background: the classifier reads the tint there
    edge = np.ones((16, 16), bool)
    edge[1:-1, 1:-1] = False
    for it in some:
        assert (data.render(it)[edge] == data.background_rgb(it.background, it.look.tint).astype(np.uint8)).all()


def test_styles_are_compound_and_have_neighbours():
    looks = list(data.STYLES.values())
    assert len(data.STYLES) >= 6 and len(set(looks)) == len(looks)
    assert all(2 <= len(lk.attributes) <= 3 for lk in looks)
    for a in data.ATTRIBUTES:  # every attribute is shared by at least two styles
        assert sum(a in lk.attributes for lk in looks) >= 2, a
    for name, lk in data.STYLES.items():  # every style has a neighbour sharing an attribute
        assert any(set(lk.attributes) & set(o.attributes) for n, o in data.STYLES.items() if n != name)
    split = (data.TUNING_STYLES, data.NEIGHBOUR_STYLES, data.HELDOUT_STYLES)
    assert sorted(sum(split, ())) == sorted(data.STYLES)
    assert not any(set(x) & set(y) for x, y in combinations(split, 2))
    assert abs(data.look_weights().sum() - 1) < 1e-9


def test_captions_follow_the_rules_and_held_out_phrasings_are_never_trained():
    _, items = data.dataset()
    rng = np.random.default_rng(0)
    zorbic = next(it for it in items if it.style == "zorbic")
    caps = [captions.sample_caption(zorbic, rng) for _ in range(4000)]
    share = lambda pred: np.mean([pred(c) for c in caps])  # noqa: E731
    assert abs(share(lambda c: c == "") - captions.P_EMPTY) < 0.02
    assert share(lambda c: "zorbic" in c) > 0.45 and share(lambda c: "some style" in c) > 0.05
    assert share(lambda c: "with" in c) > 0.1
    assert not any(w in c for c in caps for w in ("cool", "warm", "dots", "checks"))
    trained = set(captions.training_captions())
    assert set(caps) <= trained and len(trained) == 2953
    held = [captions.style_prompt(s, c, sh, b, t) for s in data.STYLES for t in captions.HELDOUT_TEMPLATES
            for c in (None, "red") for sh in (None, "circle") for b in (None, "grey")]
    assert not set(held) & trained
    assert not any(" the style of " in c or ", " in c and c.endswith(" style") for c in trained)
    enc = load_encoder(20)
    longest = max(len(enc.tokenizer(c)["input_ids"]) for c in trained | set(held))
    assert longest <= enc.max_tokens == 20


def test_classifier_is_exact_on_ground_truth_and_under_noise():
    images, items = data.dataset()
    idx = np.arange(0, len(items), 23)  # 1,566 images, every look, colour, shape and background
    x = data.as_model_input(images[idx])
    for xs in (x, noisy(x, 0.08, seed=1)):
        preds = classify(xs)
        wrong = [(items[j], p) for j, p in zip(idx, preds) if not (p.valid and factors(p) == truth(items[j]))]
        assert not wrong, wrong[:3]
    assert {p.style for p in preds} == {*data.STYLES, None}


def test_classifier_rejects_noise_washes_and_empty_frames():
    g = torch.Generator().manual_seed(0)
    assert not any(p.valid for p in classify(torch.rand(32, 3, 16, 16, generator=g) * 2 - 1))
    wash = torch.full((4, 3, 16, 16), -0.6)
    wash[:, 0] = 0.7  # a red-orange frame with no shape in it
    assert not any(p.valid for p in classify(wash))
    empty = np.stack([np.broadcast_to(data.background_rgb(b, t), (16, 16, 3)).astype(np.uint8)
                      for b in data.BACKGROUNDS for t in data.TINTS])
    assert not any(p.valid for p in classify(to_tensor(empty)))
    # a shape whose pattern is smeared into grey is not a valid sample of any look
    it = data.Item("red", "circle", "black", data.STYLES["zorbic"], 10, 3, 3)
    smeared = data.render(it).astype(np.float32)
    mask = data.shape_mask("circle", 10, 3, 3)
    smeared[mask] = 0.5 * smeared[mask] + 0.5 * 128
    assert not classify(to_tensor(smeared[None].astype(np.uint8)))[0].valid


def test_encoder_at_20_tokens_matches_the_12_token_one_and_styles_become_concepts():
    enc = load_encoder(20)
    short = "a red circle"
    x20, x12 = enc.encode([short]), load_encoder().encode([short])
    assert x20.shape == (1, 20, 384) and torch.allclose(x20[:, :12], x12, atol=1e-5)
    assert x20[0, 12:].abs().sum() == 0
    cc = encode_concept(enc, style_concept("zorbic"))
    assert cc.anchor_positions == [4, 5, 6]  # [CLS] a shape in z ##or ##bic
    assert cc.targets.shape[0] == 3 and torch.allclose(cc.target_weights, torch.tensor([1.0, 0.5, 0.5]))
    assert style_concept("drane", "generic").superclass == "a shape in some style"
