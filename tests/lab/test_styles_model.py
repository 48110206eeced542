"""The committed style-world model (`advanchor_lab/weights/styles_unet.safetensors`) draws its
styles, attributes and content."""
from __future__ import annotations

import pytest
import torch

from advanchor_lab.styles import captions, data
from advanchor_lab.styles.families import requests, score
from advanchor_lab.styles.world import STYLES_WORLD
from advanchor_lab.world import load_world


@pytest.fixture(scope="module")
def style_world():
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return load_world(STYLES_WORLD)


def test_style_model_draws_every_style_in_both_trained_phrasings(style_world):
    s = score(style_world, requests(2, tuple(captions.TRAINED_TEMPLATES)), seed=0)
    assert s.accuracy("in-style") >= 0.9 and s.accuracy("prefix") >= 0.9, \
        {(f, st): s.accuracy(f, st) for f in captions.TRAINED_TEMPLATES for st in data.STYLES}
    assert style_world.meta["world"] == "styles" and style_world.encoder.max_tokens == 20


def test_superclasses_draw_the_content_and_the_bare_one_draws_plain_more_often(style_world):
    s = score(style_world, requests(30, ("bare", "generic"), superclass_factor=1), seed=0)  # every content once
    assert s.accuracy("bare") >= 0.85 and s.accuracy("generic") >= 0.85
    assert s.rates("bare")["(plain)"] > s.rates("generic")["(plain)"]
