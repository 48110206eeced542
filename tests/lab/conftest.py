"""Fixtures for the lab's tests: the committed shapes-world model, loaded once, one thread."""
from __future__ import annotations

import pytest
import torch

from advanchor_lab.shapes.world import SHAPES_WORLD
from advanchor_lab.world import World, load_world


@pytest.fixture(scope="session")
def world() -> World:
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return load_world(SHAPES_WORLD)
