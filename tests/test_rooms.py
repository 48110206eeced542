"""The house keeps its shape: imports run nodes → bridge → core, the lab sits on the core only,
nothing in the product imports the lab or the workshop, and product modules form no cycles."""
from __future__ import annotations

from collections import Counter

from scripts.room_map import PRODUCT, arrows, cycles, module_graph, upward


def test_no_room_imports_upwards_or_sideways():
    assert upward(arrows()) == []


def test_the_core_and_the_lab_never_import_comfyui():
    count = arrows()
    assert count["advanchor_core", "ComfyUI"] == 0
    assert count["advanchor_lab", "ComfyUI"] == 0


def test_the_lab_stands_on_the_core():
    assert arrows()["advanchor_lab", "advanchor_core"] > 0


def test_product_modules_form_no_import_cycle():
    assert cycles(module_graph(PRODUCT)) == []


def test_the_map_sees_a_planted_upward_arrow_and_a_cycle():
    assert upward(Counter({("advanchor_core", "nodes"): 1, ("nodes", "advanchor_core"): 3})) == \
        [("advanchor_core", "nodes")]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
