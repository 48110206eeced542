"""The committed lab model draws its world, and an adversarial-anchor erasure works on it."""
from __future__ import annotations

from advanchor_lab.erase import erase
from advanchor_lab.shapes.concept import LabConcept
from advanchor_lab.shapes.metrics import EvalPlan, concept_accuracy, evaluate


def test_lab_model_draws_every_training_concept(world):
    acc = concept_accuracy(world, samples_per_prompt=1, seed=0)
    assert set(acc["colour"]) >= {"red", "green", "blue", "yellow", "purple", "crimson", "scarlet"}
    low = {f"{f}:{k}": v for f, d in acc.items() for k, v in d.items() if v < 0.95}
    assert not low, f"concepts below 95% accuracy: {low}"


def test_adversarial_erasure_removes_the_concept_and_keeps_the_rest(world):
    concept = LabConcept.parse("red")
    plan = EvalPlan(concept, n_target=2, n_preserve=2, n_leak=1)
    before = evaluate(world, plan, seed=0)
    run = erase(world, concept, "adv2", seed=0)
    after = evaluate(world, plan, seed=0, delta=run.delta)
    assert before.residual >= 0.9
    assert after.residual <= before.residual - 0.5, (before.residual, after.residual)
    # L_adv2's anchor removes the object with the colour (see erase.py and the README):
    # `residual` counts samples that still show red; objectless samples are reported by the
    # benchmark as invalid, and this test does not claim they are good erasures.
    worst = {k: v for k, v in after.preserve_by_value.items() if v < 0.9}
    assert not worst, f"other concepts below 90% after erasing red: {worst}"
    assert set(run.delta) and all("attn2" in k for k in run.delta)
    base = world.denoiser.named_weights()
    assert all(run.delta[k].shape == base[k].shape for k in run.delta)
