"""Attack Erasure in process: a prefix attack on an erased tiny SD1.5 model."""
from __future__ import annotations

import json

import pytest
import torch

from tests.comfy_support.inprocess import effective_unet_state, run_node
from tests.nodes.conftest import ERASE

ATTACK = dict(latent_source="noise", sample_size=64, steps=6, lr=0.05, seed=1)


@pytest.fixture(scope="module")
def node(pack):
    from advanchor_pack.nodes.attack import AttackErasureNode

    return AttackErasureNode


def state(model) -> dict:
    return {"weights": effective_unet_state(model), "patches": dict(model.patches),
            "uuid": model.patches_uuid}


def test_attack_outputs_prefix_conditioning_and_a_report(node, n, tiny, concept, erased, bridge):
    before = {"original": state(tiny["model"]), "erased": state(erased)}
    cond, report = run_node(node, erased_model=erased, original_model=tiny["model"],
                            clip=tiny["clip"], concept=concept, **ATTACK)
    report = json.loads(report)
    ((tensor, extra),) = cond
    plain = bridge.ComfyTextEncoder(tiny["clip"]).encode([report["prefixed_prompt"]])
    moved = ((tensor - plain)[0].abs().amax(-1) > 0).nonzero().flatten().tolist()
    assert tensor.shape == (1, 77, 768) and "pooled_output" in extra
    assert moved == report["prefix_positions"] == [1, 2, 3, 4, 5]
    assert report["space"] == "conditioning" and report["prefixed_prompt"] == "* * * * * Van Gogh painting"
    assert len(report["loss_curve"]) == ATTACK["steps"] and report["settings"]["lr"] == ATTACK["lr"]
    gap = report["held_out_gap"]
    assert gap["plain_prompt"] > 0 and gap["attack_end"] < gap["attack_start"]
    for name, model in (("original", tiny["model"]), ("erased", erased)):
        after = state(model)
        assert after["patches"] == before[name]["patches"] and after["uuid"] == before[name]["uuid"]
        assert all(torch.equal(after["weights"][k], v) for k, v in before[name]["weights"].items())


def test_attack_is_deterministic_for_a_seed(node, tiny, concept, erased):
    runs = [run_node(node, erased_model=erased, original_model=tiny["model"], clip=tiny["clip"],
                     concept=concept, **(ATTACK | dict(steps=2, seed=s)))[0][0][0] for s in (4, 4, 5)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_attack_cancel_stops_and_returns_nothing(node, tiny, concept, erased, monkeypatch, bridge):
    import comfy.model_management as mm

    ticks = []
    original = bridge.Progress.__call__

    def tick(self, report):
        original(self, report)
        ticks.append(report.step)
        mm.interrupt_current_processing(True)

    monkeypatch.setattr(bridge.Progress, "__call__", tick)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            run_node(node, erased_model=erased, original_model=tiny["model"], clip=tiny["clip"],
                     concept=concept, **(ATTACK | dict(steps=10)))
    finally:
        mm.interrupt_current_processing(False)
    assert ticks == [1]


def test_attack_refuses_models_of_different_shapes(node, tiny, concept, errors):
    from tests.comfy_support.tiny import UNET_SMALL, tiny_model

    other = tiny_model(5, dict(UNET_SMALL, model_channels=64))
    with pytest.raises(errors.AdvAnchorError, match="not the same architecture"):
        run_node(node, erased_model=other, original_model=tiny["model"], clip=tiny["clip"],
                 concept=concept, **ATTACK)


def test_attack_and_measure_on_sdxl_keep_the_pooled_vector(node, n, concept, comfy):
    """SDXL's conditioning carries a pooled text vector: the attack keeps the placeholder
    prompt's own, and Measure Erasure samples the attack with it."""
    from tests.comfy_support import tiny as t

    from advanchor_pack.nodes.bridge.text import ComfyTextEncoder
    from advanchor_pack.nodes.measure import MeasureErasureNode

    model, clip = t.tiny_family_model("sdxl", 10), t.tiny_family_clip("sdxl", 11)
    erased = run_node(n["unlearn"], model=model, clip=clip, concept=concept,
                      **(ERASE | dict(iterations=2)))[0]
    ((tensor, extra),), report = run_node(node, erased_model=erased, original_model=model, clip=clip,
                                          concept=concept, **(ATTACK | dict(steps=2)))
    prompt = json.loads(report)["prefixed_prompt"]
    _, pooled = ComfyTextEncoder(clip, pooled_rows=1).encode_one(prompt, pooled=True)
    assert tensor.shape == (1, 77, 2048) and torch.equal(extra["pooled_output"], pooled.float())
    image, measured = run_node(MeasureErasureNode, original_model=model, erased_model=erased, clip=clip,
                               vae=t.tiny_vae(2), attack=[[tensor, extra]], width=64, height=64,
                               steps=1, samples=1, target_prompts="Van Gogh painting", preserve_prompts="")
    assert image.shape[1:] == (2 * 64 + 4, 2 * 64 + 8, 3)
    assert json.loads(measured)["scores"]["pixel_drift"]["attack_mean"] > 0


@pytest.mark.parametrize("fam", ["flux-dev", "chroma", "zimage"])
def test_attack_and_measure_on_transformers(node, n, concept, dit, fam):
    """Rectified-flow transformers, a T5 or an LLM context: the prefix sits on the placeholder
    rows (inside Z-Image's chat template), a guidance-distilled model's training images are
    sampled without classifier-free guidance; Measure samples both models through ComfyUI."""
    from tests.comfy_support import tiny_dit as t

    from advanchor_pack.nodes.measure import MeasureErasureNode

    model, clip = dit[fam]["model"], dit[fam]["clip"]
    erased = run_node(n["unlearn"], model=model, clip=clip, concept=concept, parameters="xattn-kv",
                      **(ERASE | dict(iterations=2, lr=1e-3)))[0]
    attack, report = run_node(node, erased_model=erased, original_model=model, clip=clip,
                              concept=concept, **(ATTACK | dict(steps=2, latent_source="sampled",
                                                                sample_count=1, sample_steps=2)))
    report = json.loads(report)
    assert report["settings"]["latents"]["sample_guidance"] == (1.0 if fam == "flux-dev" else 7.5)
    assert len(report["prefix_positions"]) == 5 and report["held_out_gap"]["plain_prompt"] > 0
    image, measured = run_node(MeasureErasureNode, original_model=model, erased_model=erased,
                               clip=clip, vae=t.tiny_vae16(), attack=attack, width=64, height=64,
                               steps=1, samples=1, target_prompts="Van Gogh painting", preserve_prompts="")
    assert image.shape[1:] == (2 * 64 + 4, 2 * 64 + 8, 3)
    assert json.loads(measured)["scores"]["pixel_drift"]["attack_mean"] > 0
