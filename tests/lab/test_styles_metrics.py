"""The style world's erasure measurement: who the neighbours are, what a plan draws, and that
an unchanged model scores as unchanged."""
from __future__ import annotations

import pytest
import torch

from advanchor_lab.styles import captions, data
from advanchor_lab.styles.concept import StyleConcept
from advanchor_lab.styles.classifier import Prediction
from advanchor_lab.styles.metrics import StyleComparison, StylePlan, evaluate_style, foreign_rate
from advanchor_lab.styles.world import STYLES_WORLD
from advanchor_lab.world import load_world


def test_neighbours_share_an_attribute_and_candidates_are_the_other_style_words():
    zorbic = StyleConcept("zorbic")
    assert zorbic.attributes == ("outline", "stripes")
    assert zorbic.neighbours() == ("plimm", "vesk", "drane", "fennic", "brisp")
    assert zorbic.anchor_candidates() == ("plimm", "vesk", "quold", "drane", "fennic", "taglo",
                                          "brisp", "some")
    with pytest.raises(ValueError, match="not a style"):
        StyleConcept("zorbik")


def test_the_core_concept_names_the_attributes_and_the_chosen_superclass():
    concept = StyleConcept("quold", "generic").core_concept(retain=True)
    assert concept.prompt == "a shape in quold style"
    assert concept.superclass == "a shape in some style"
    assert [p for p, _ in concept.attributes] == ["a shape with a warm tint", "a shape with dots"]
    assert concept.retain_prompts == ("a shape in drane style", "a shape in brisp style")


def test_a_plan_draws_150_target_samples_and_floor_prompts_at_the_same_contents():
    plan = StylePlan(StyleConcept("fennic"))
    g = plan.groups
    assert len(g["in-style"]) + len(g["prefix"]) == 150
    assert [r.content for r in g["floor"]] == [r.content for f in captions.TRAINED_TEMPLATES for r in g[f]]
    assert {r.key for r in g["other"]} == set(data.STYLES) - {"fennic"}
    assert all("fennic" not in r.prompt for n in ("other", "attribute", "bare") for r in g[n])


def test_the_original_compared_with_itself_is_fully_preserved():
    torch.set_num_threads(min(2, torch.get_num_threads()))
    world = load_world(STYLES_WORLD)
    plan = StylePlan(StyleConcept("zorbic"), n_target=3, n_heldout=1, n_other=1, n_attribute=1, n_bare=2)
    before = evaluate_style(world, plan, seed=0)
    zero = {n: torch.zeros_like(w) for n, w in world.denoiser.named_weights().items() if "attn2" in n}
    cmp = StyleComparison(plan.concept, before, evaluate_style(world, plan, seed=0, delta=zero))
    assert cmp.preservation == 1.0 and cmp.drift == 0.0
    assert cmp.after.attribute_residual == before.attribute_residual > 0.5
    assert before.floor is not None and cmp.after.floor is None
    assert cmp.after.foreign == before.foreign and before.foreign_floor is not None
    assert cmp.after.foreign_floor is None


def drawn(outline: bool, tint: str, pattern: str, valid: bool = True) -> tuple[None, Prediction]:
    return None, Prediction("red", "circle", "black", outline, tint, pattern, valid, 1.0, 0.0, 0.0, 0.0)


def test_foreign_attributes_count_what_the_style_lacks_on_valid_samples_only():
    zorbic = ("outline", "stripes")
    rows = [drawn(True, "none", "stripes"),   # zorbic itself: nothing foreign
            drawn(False, "warm", "none"),     # a warm tint: foreign
            drawn(True, "none", "dots"),      # dots: foreign
            drawn(False, "none", "none"),     # plain: nothing foreign
            drawn(True, "cool", "checks", valid=False)]  # invalid: not counted
    assert foreign_rate(rows, zorbic) == 0.5
