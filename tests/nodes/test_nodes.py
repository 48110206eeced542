"""Concept, Search Anchor and Unlearn in process, on a tiny seeded SD1.5-layout model, as
ComfyUI's executor runs them."""
from __future__ import annotations

import json

import pytest
import torch

from tests.comfy_support.inprocess import (assert_matches_apply_model, assert_untouched,
                                           effective_unet_state, eps, run_node)
from tests.nodes.conftest import FAST


# --- Concept ---------------------------------------------------------------------------
def test_concept_defaults_are_the_reference(concept):
    assert concept.prompt == "Van Gogh painting"
    assert concept.anchor_text == "Van Gogh's painting"
    assert concept.superclass == "painting" and concept.use_concept_term and not concept.attributes


def test_concept_nudity_preset_has_reference_attributes(n):
    (c,) = run_node(n["concept"], concept="nudity", preset="nudity (reference)",
                    attributes="tattoos: 0.5")
    assert len(c.attributes) == 9 and c.attributes[0] == ("FEMALE BREAST EXPOSED", 0.2454)
    assert c.attributes[-1] == ("tattoos", 0.5) and c.prompt == "nudity"


@pytest.mark.parametrize("inputs,message", [
    (dict(concept="   "), "concept is empty"),
    (dict(concept="x", preset="fancy"), "preset 'fancy' is unknown"),
    (dict(concept="x", attributes="swirls: lots"), "not a number"),
    (dict(concept="x", anchor_template="a painting"), "has no '{}'"),
])
def test_concept_bad_input_says_what_to_change(n, errors, inputs, message):
    with pytest.raises(errors.AdvAnchorError, match=message):
        run_node(n["concept"], **inputs)


# --- Search Anchor -----------------------------------------------------------------------
def test_search_anchor_perturbs_only_the_concept_tokens(n, tiny, concept, bridge, caplog):
    import logging

    model = tiny["model"]
    # loaded first: the shared torch modules may still hold a clone's patches from earlier tests
    before = {"weights": effective_unet_state(model), "patches": dict(model.patches),
              "uuid": model.patches_uuid, "options": json.dumps(model.model_options, default=str)}
    with caplog.at_level(logging.INFO):
        state, conditioning = run_node(n["anchor"], model=model, clip=tiny["clip"], concept=concept,
                                       draws=2, steps=3, lr=1e-2, latent_source="noise", sample_size=64)
    assert f"effect size r = {state.effect:.3f}" in caplog.text  # the log says how far it moved
    assert_untouched(model, before)
    cond, extra = conditioning[0]
    assert cond.shape == (1, 77, 768) and "pooled_output" in extra
    base = bridge.ComfyTextEncoder(tiny["clip"]).encode([concept.anchor_text])
    moved = (cond - base).abs().amax(dim=-1)[0].nonzero().flatten().tolist()
    enc = bridge.ComfyTextEncoder(tiny["clip"])
    assert moved == enc.token_positions(concept.anchor_text, "Van Gogh") == state.positions
    ids = enc._stream_ids(concept.anchor_text)["l"]
    assert moved[0] == 1 and ids[moved[-1] + 1] == enc._stream_ids("'s")["l"][1]   # right after BOS, before 's


# --- Unlearn ------------------------------------------------------------------------------
def test_unlearn_leaves_the_input_model_bit_identical(unlearned, tiny):
    assert_untouched(tiny["model"], unlearned["before"])
    # and sampling with the input after the erased clone was loaded sees the original weights
    effective_unet_state(unlearned["model"])
    assert effective_unet_state(tiny["model"]).keys() == unlearned["before"]["weights"].keys()
    after = effective_unet_state(tiny["model"])
    assert all(torch.equal(after[k], v) for k, v in unlearned["before"]["weights"].items())


def test_unlearn_changes_exactly_the_preset_parameters(unlearned, tiny):
    original = effective_unet_state(tiny["model"])
    patched = effective_unet_state(unlearned["model"])
    differ = {k for k in original if not torch.equal(original[k], patched[k])}
    assert differ == set(unlearned["erasure"].tensors) and all(".attn2." in k for k in differ)
    assert set(unlearned["erasure"].tensors) == {k for k in original if ".attn2." in k}
    effective_unet_state(tiny["model"])


def test_unlearn_moves_the_concept_prediction(unlearned, tiny, concept):
    before = eps(tiny["model"], tiny["clip"], concept.prompt)
    after = eps(unlearned["model"], tiny["clip"], concept.prompt)
    assert torch.isfinite(after).all()
    assert (after - before).norm() > 1e-3 * before.norm()
    sup_before = eps(tiny["model"], tiny["clip"], concept.superclass)
    sup_after = eps(unlearned["model"], tiny["clip"], concept.superclass)
    # preservation: the superclass moves less than the concept
    assert (sup_after - sup_before).norm() < (after - before).norm()


def test_unlearn_outputs_a_loss_curve_and_metadata(unlearned):
    curve = unlearned["curve"]
    assert curve.shape[0] == 1 and curve.shape[-1] == 3 and curve.dtype == torch.float32
    assert 0 <= curve.min() and curve.max() <= 1 and curve.std() > 0
    meta = unlearned["erasure"].metadata
    assert json.loads(meta["concepts"]) == ["Van Gogh"]
    assert unlearned["model"].model_options["advanchor"][0]["concepts"] == meta["concepts"]


def test_unlearn_kv_preset_touches_only_keys_and_values(n, tiny, concept):
    out, erasure, _ = run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                               parameters="xattn-kv", **(FAST | dict(iterations=2, method="fixed")))
    assert erasure.tensors and all(".attn2.to_k." in k or ".attn2.to_v." in k for k in erasure.tensors)
    original = effective_unet_state(tiny["model"])
    patched = effective_unet_state(out)
    differ = {k for k in original if not torch.equal(original[k], patched[k])}
    assert differ == set(erasure.tensors)


def test_unlearn_passes_esd_eta_to_the_core(n, tiny, concept):
    _, erasure, _ = run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                             esd_eta=2.5, **(FAST | dict(iterations=1, method="esd")))
    assert json.loads(erasure.metadata["settings"])["config"]["esd_eta"] == 2.5


def test_unlearn_robust_attacks_the_model_in_training_and_records_it(n, tiny, concept):
    before = effective_unet_state(tiny["model"])
    out, erasure, _ = run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"],
                               concept=concept, robust_every=2, robust_steps=2,
                               **(FAST | dict(iterations=3, method="esd")))
    robust = json.loads(erasure.metadata["settings"])["robust"]
    assert robust["rounds"] == 2 and robust["settings"]["steps"] == 2
    assert robust["space"] == "conditioning"  # ComfyUI's CLIP: the prefix is free context rows
    assert robust["prefixed_prompt"] == "* * * * * Van Gogh painting"
    plain = run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                     **(FAST | dict(iterations=3, method="esd")))[1]
    assert any(not torch.equal(plain.tensors[k], v) for k, v in erasure.tensors.items())
    after = effective_unet_state(tiny["model"])
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_unlearn_with_latent_and_anchor_from_search(n, tiny, concept):
    state, _ = run_node(n["anchor"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                        draws=1, steps=2, latent_source="noise", sample_size=64)
    latent = {"samples": torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(5))}
    _, erasure, _ = run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                             anchor=state, latent=latent, schedule="sequential",
                             **(FAST | dict(iterations=2)))
    settings = json.loads(erasure.metadata["settings"])
    assert settings["config"]["latents"]["source"] == "supplied"


def test_unlearn_refuses_an_anchor_its_method_does_not_use(n, tiny, concept, errors):
    """A connected anchor with method esd is an error saying what to change, not dropped."""
    state, _ = run_node(n["anchor"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                        draws=1, steps=1, latent_source="noise", sample_size=64)
    with pytest.raises(errors.AdvAnchorError, match="'esd'.*set method 'adversarial'"):
        run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                 anchor=state, **(FAST | dict(iterations=1, method="esd")))


def test_unlearn_is_deterministic_for_a_seed(n, tiny, concept):
    runs = [run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                     **(FAST | dict(iterations=2)))[1] for _ in range(2)]
    assert all(torch.equal(runs[0].tensors[k], runs[1].tensors[k]) for k in runs[0].tensors)


def test_unlearn_on_a_patched_model_keeps_its_patches(n, tiny, concept):
    """A MODEL that already carries patches (e.g. a LoRA) keeps them, and the erasure stacks."""
    key = "diffusion_model.input_blocks.0.0.weight"
    with torch.inference_mode():
        lora_like = tiny["model"].clone()
        w = lora_like.model.diffusion_model.input_blocks[0][0].weight
        lora_like.add_patches({key: (0.01 * torch.ones_like(w),)}, 1.0)
    before = {k: list(v) for k, v in lora_like.patches.items()}
    out, erasure, _ = run_node(n["unlearn"], model=lora_like, clip=tiny["clip"], concept=concept,
                               **(FAST | dict(iterations=2)))
    assert {k: list(v) for k, v in lora_like.patches.items()} == before
    assert key in out.patches and all("diffusion_model." + k in out.patches for k in erasure.tensors)
    state = effective_unet_state(out)
    assert torch.allclose(state["input_blocks.0.0.weight"],
                          effective_unet_state(lora_like)["input_blocks.0.0.weight"])


@pytest.mark.parametrize("inputs,message", [
    (dict(parameters="custom pattern", parameter_pattern="no_such_layer"), "matches no parameter"),
    (dict(parameters="everything"), "parameter preset 'everything' is unknown"),
    (dict(lr=0.0), "lr is 0.0"),
])
def test_unlearn_bad_input_says_what_to_change(n, tiny, concept, errors, inputs, message):
    with pytest.raises(errors.AdvAnchorError, match=message):
        run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                 **(FAST | inputs))


def test_unlearn_non_finite_loss_stops_with_an_error(n, tiny, concept, errors):
    with pytest.raises(errors.AdvAnchorError, match="not finite"):
        run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                 **(FAST | dict(lr=1e30, anchor_lr=1e30, iterations=6)))


def test_cancel_stops_within_one_update_and_returns_nothing(n, tiny, concept, cancel_after_first_report):
    import comfy.model_management as mm

    with pytest.raises(mm.InterruptProcessingException):
        run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                 **(FAST | dict(iterations=20)))
    assert not mm.processing_interrupted()   # the flag is consumed, the next prompt runs
    assert cancel_after_first_report == [1]


def test_unlearn_on_latents_sampled_from_the_model(n, tiny, concept):
    _, erasure, _ = run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                             **(FAST | dict(latent_source="sampled", sample_count=1, sample_steps=2,
                                            iterations=2)))
    assert json.loads(erasure.metadata["settings"])["config"]["latents"]["source"] == "sampled"
    assert all(torch.isfinite(v).all() and v.abs().sum() > 0 for v in erasure.tensors.values())


@pytest.mark.parametrize("model_type", ["EPS", "V_PREDICTION"])
def test_bridge_epsilon_agrees_with_comfyui_own_denoising(pack, comfy, model_type, bridge):
    """ε from the bridge, turned into x0 with the core's schedule, equals ComfyUI's apply_model
    (which scales inputs by σ and converts ε/v itself) at the same timestep."""
    import comfy.model_base
    import comfy.model_management as mm
    import comfy.model_patcher
    from tests.comfy_support import tiny as t

    with torch.inference_mode():
        base = comfy.model_base.BaseModel(t.sd15_config(), getattr(comfy.model_base.ModelType, model_type))
        t.init_weights(base.diffusion_model, 4)
        patcher = comfy.model_patcher.ModelPatcher(base, mm.get_torch_device(), mm.unet_offload_device())
    den = bridge.ComfyDenoiser(patcher).prepare()
    assert den.prediction == ("v" if model_type == "V_PREDICTION" else "eps")
    g = torch.Generator().manual_seed(0)
    x_t, cond = torch.randn((3, 4, 8, 8), generator=g), torch.randn((3, 77, 768), generator=g)
    steps = torch.tensor([50, 500, 950])
    assert_matches_apply_model(den, base, x_t, steps, cond)
