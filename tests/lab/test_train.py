"""One trainer for both worlds: a few steps give a model that loads back as its world's."""
from __future__ import annotations

import pytest
import torch

from advanchor_lab.shapes.world import SHAPES_WORLD
from advanchor_lab.styles.world import STYLES_WORLD
from advanchor_lab.train import Recipe, save, train
from advanchor_lab.world import load_world


def test_a_short_run_saves_a_model_its_world_loads_and_the_other_refuses(tmp_path):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    model, meta = train(SHAPES_WORLD, Recipe(steps=2), log_every=0)
    path = tmp_path / "shapes.safetensors"
    save(model, meta, path)
    world = load_world(SHAPES_WORLD, path)
    assert world.meta["steps"] == "2" and world.encoder.max_tokens == 12 and "world" not in world.meta
    assert world.sample(["a red circle on stripes"], seed=0).shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="not a styles-world model"):
        load_world(STYLES_WORLD, path)

