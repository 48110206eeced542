"""Every node in process, on a tiny seeded SD1.5-layout model, as ComfyUI's executor runs it."""
from __future__ import annotations

import json
import os

import pytest
import torch
from tests.comfy_support.inprocess import assert_matches_apply_model, effective_unet_state, run_node, unet_state
from safetensors import safe_open

FAST = dict(method="adversarial", iterations=4, anchor_steps=2, latent_source="noise", sample_size=64, lr=1e-3, seed=3)
# the shared erasure: 8 updates, so that the preservation term has acted on the superclass
ERASE = FAST | dict(iterations=8)


@pytest.fixture(scope="module")
def erased(n, tiny, concept):
    """One Unlearn run shared by the tests that inspect its outputs; input state captured."""
    model = tiny["model"]
    # loaded first: the shared torch modules may still hold a clone's patches from earlier tests
    before = {"weights": effective_unet_state(model), "patches": dict(model.patches),
              "uuid": model.patches_uuid, "options": json.dumps(model.model_options, default=str)}
    out_model, erasure, curve = run_node(n["unlearn"], model=model, clip=tiny["clip"],
                                         concept=concept, **ERASE)
    return dict(before=before, model=out_model, erasure=erasure, curve=curve)


def assert_untouched(model, before):
    after = unet_state(model)
    assert before["weights"].keys() == after.keys()
    changed = [k for k in after if not torch.equal(before["weights"][k], after[k])]
    assert not changed, f"input weights changed: {changed[:3]}"
    assert model.patches == before["patches"] and model.patches_uuid == before["uuid"]
    assert json.dumps(model.model_options, default=str) == before["options"]


def eps(model, clip, prompt, seed=0):
    """The model's ε for `prompt` at a fixed (x_t, t), as sampling would see it."""
    from advanchor_pack.nodes.bridge.denoiser import ComfyDenoiser
    from advanchor_pack.nodes.bridge.text import ComfyTextEncoder

    den = ComfyDenoiser(model).prepare()
    cond = ComfyTextEncoder(clip).encode([prompt])
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((2, 4, 8, 8), generator=g)
    t = torch.tensor([300, 700])
    with torch.inference_mode():
        return den(x, t, cond.expand(2, -1, -1))


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
def test_search_anchor_perturbs_only_the_concept_tokens(n, tiny, concept, bridge):

    model = tiny["model"]
    # loaded first: the shared torch modules may still hold a clone's patches from earlier tests
    before = {"weights": effective_unet_state(model), "patches": dict(model.patches),
              "uuid": model.patches_uuid, "options": json.dumps(model.model_options, default=str)}
    state, conditioning = run_node(n["anchor"], model=model, clip=tiny["clip"], concept=concept,
                                   draws=2, steps=3, lr=1e-2, latent_source="noise", sample_size=64)
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
def test_unlearn_leaves_the_input_model_bit_identical(erased, tiny):
    assert_untouched(tiny["model"], erased["before"])
    # and sampling with the input after the erased clone was loaded sees the original weights
    effective_unet_state(erased["model"])
    assert effective_unet_state(tiny["model"]).keys() == erased["before"]["weights"].keys()
    after = effective_unet_state(tiny["model"])
    assert all(torch.equal(after[k], v) for k, v in erased["before"]["weights"].items())


def test_unlearn_changes_exactly_the_preset_parameters(erased, tiny):
    original = effective_unet_state(tiny["model"])
    patched = effective_unet_state(erased["model"])
    differ = {k for k in original if not torch.equal(original[k], patched[k])}
    assert differ == set(erased["erasure"].tensors) and all(".attn2." in k for k in differ)
    assert set(erased["erasure"].tensors) == {k for k in original if ".attn2." in k}
    effective_unet_state(tiny["model"])


def test_unlearn_moves_the_concept_prediction(erased, tiny, concept):
    before = eps(tiny["model"], tiny["clip"], concept.prompt)
    after = eps(erased["model"], tiny["clip"], concept.prompt)
    assert torch.isfinite(after).all()
    assert (after - before).norm() > 1e-3 * before.norm()
    sup_before = eps(tiny["model"], tiny["clip"], concept.superclass)
    sup_after = eps(erased["model"], tiny["clip"], concept.superclass)
    # preservation: the superclass moves less than the concept
    assert (sup_after - sup_before).norm() < (after - before).norm()


def test_unlearn_outputs_a_loss_curve_and_metadata(erased):
    curve = erased["curve"]
    assert curve.shape[0] == 1 and curve.shape[-1] == 3 and curve.dtype == torch.float32
    assert 0 <= curve.min() and curve.max() <= 1 and curve.std() > 0
    meta = erased["erasure"].metadata
    assert json.loads(meta["concepts"]) == ["Van Gogh"]
    assert erased["model"].model_options["advanchor"][0]["concepts"] == meta["concepts"]


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


def test_cancel_stops_within_one_update_and_returns_nothing(n, tiny, concept, monkeypatch, bridge):
    import comfy.model_management as mm

    ticks = []
    original = bridge.Progress.__call__

    def tick(self, report):
        original(self, report)
        ticks.append(report.step)
        if len(ticks) == 1:
            mm.interrupt_current_processing(True)   # what /interrupt does

    monkeypatch.setattr(bridge.Progress, "__call__", tick)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                     **(FAST | dict(iterations=20)))
    finally:
        flag = mm.processing_interrupted()
        mm.interrupt_current_processing(False)
    assert not flag   # the flag is consumed, the next prompt runs
    assert ticks == [1]


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


# --- files ------------------------------------------------------------------------------------
def test_save_erasure_then_apply_reproduces_the_erased_model(n, erased, tiny, output_dir):
    (path,) = run_node(n["save"], erasure=erased["erasure"], filename_prefix="tests/diff")
    full = os.path.join(output_dir, path)
    assert path.startswith(os.path.join("erasures", "tests")) and os.path.isfile(full)
    assert not [f for f in os.listdir(os.path.dirname(full)) if f.endswith(".tmp")]
    with safe_open(full, "pt") as f:
        assert set(f.keys()) == set(erased["erasure"].tensors)
        assert json.loads(f.metadata()["concepts"]) == ["Van Gogh"]
    name = os.path.relpath(path, "erasures")
    from advanchor_pack.nodes import files

    assert name in files.erasure_files()
    (applied,) = run_node(n["apply"], model=tiny["model"], erasure_file=name, strength=1.0)
    want, got = effective_unet_state(erased["model"]), effective_unet_state(applied)
    assert all(torch.equal(want[k], got[k]) for k in want)
    (none,) = run_node(n["apply"], model=tiny["model"], erasure_file=name, strength=0.0)
    orig, got0 = erased["before"]["weights"], effective_unet_state(none)
    assert all(torch.allclose(orig[k], got0[k], atol=0, rtol=0) for k in orig)
    assert_untouched(tiny["model"], erased["before"] | {"weights": effective_unet_state(tiny["model"])})


def test_apply_erasure_refuses_a_mismatched_model(n, erased, tiny, errors, output_dir):
    from tests.comfy_support import tiny as t

    (path,) = run_node(n["save"], erasure=erased["erasure"], filename_prefix="mismatch")
    other = t.tiny_model(0, dict(t.UNET_SMALL, model_channels=64))
    with pytest.raises(errors.AdvAnchorError, match="does not fit|does not have|shape"):
        run_node(n["apply"], model=other, erasure_file=os.path.relpath(path, "erasures"))


def test_lora_from_save_erasure_loads_with_comfyui_lora_loader(n, erased, tiny, output_dir):
    import folder_paths
    import nodes as comfy_nodes

    (path,) = run_node(n["save"], erasure=erased["erasure"], format="LoRA", rank=768,
                       filename_prefix="lora_full")
    assert path.startswith("loras")
    assert os.path.relpath(path, "loras") in folder_paths.get_filename_list("loras")  # Load LoRA lists it
    with torch.inference_mode():
        lora_model, _ = comfy_nodes.LoraLoader().load_lora(
            tiny["model"], tiny["clip"], os.path.relpath(path, "loras"), 1.0, 0.0)
    want = effective_unet_state(erased["model"])
    got = effective_unet_state(lora_model)
    for k in want:
        assert torch.allclose(want[k], got[k], atol=1e-5), k
    a, b = eps(erased["model"], tiny["clip"], "Van Gogh painting"), eps(lora_model, tiny["clip"], "Van Gogh painting")
    assert torch.allclose(a, b, atol=1e-4)


def test_save_erased_checkpoint_writes_the_erased_weights(n, erased, tiny, output_dir):
    (path,) = run_node(n["ckpt"], model=erased["model"], clip=tiny["clip"], vae=tiny["vae"],
                       filename_prefix="erased/tiny")
    full = os.path.join(output_dir, path)
    assert path.startswith(os.path.join("checkpoints", "erased")) and os.path.isfile(full)
    want = effective_unet_state(erased["model"])
    with safe_open(full, "pt") as f:
        meta = f.metadata()
        for k, v in want.items():
            assert torch.equal(f.get_tensor("model.diffusion_model." + k), v), k
        assert any(k.startswith("cond_stage_model.") for k in f.keys())
        assert any(k.startswith("first_stage_model.") or "taesd" in k for k in f.keys())
    assert json.loads(json.loads(meta["advanchor.erasures"])[0]["concepts"]) == ["Van Gogh"]
    effective_unet_state(tiny["model"])
    assert_untouched(tiny["model"], erased["before"])


def test_save_erased_checkpoint_keeps_a_patch_on_the_clip(n, erased, tiny, output_dir):
    """A LoRA's text-encoder part is in the saved CLIP: written by ComfyUI itself where it bakes
    the CLIP's patches in (≥ 0.12.3), by the pack where ComfyUI loses the CLIP (0.12.0-0.12.2)
    or writes the loaded weights (older)."""
    from advanchor_pack.nodes.files import encoder_and_vae_keys

    clip = tiny["clip"].clone()
    key, weight = next((k, v) for k, v in clip.get_sd().items() if k.endswith("fc1.weight"))
    clip.add_patches({key: (torch.full_like(weight, 0.25),)}, 1.0)
    (path,) = run_node(n["ckpt"], model=erased["model"], clip=clip, vae=tiny["vae"],
                       filename_prefix="erased/patched_clip")
    with safe_open(os.path.join(output_dir, path), "pt") as f:
        saved = f.get_tensor(next(k for k in f.keys() if k.endswith(key.split(".", 1)[1])))
    assert torch.allclose(saved.float(), weight.float() + 0.25, atol=1e-3)
    assert (encoder_and_vae_keys(erased["model"], clip, tiny["vae"]) == {}) == \
        hasattr(clip, "state_dict_for_saving")


@pytest.mark.parametrize("prefix", ["../escape", "a/../../escape", "/abs/escape", "", "..\\x"])
def test_filename_prefix_cannot_leave_the_output_folder(n, erased, tiny, errors, output_dir, prefix):
    before = sorted(p for p, _, fs in os.walk(output_dir) for _ in fs)
    with pytest.raises(errors.AdvAnchorError, match="filename_prefix"):
        run_node(n["save"], erasure=erased["erasure"], filename_prefix=prefix)
    with pytest.raises(errors.AdvAnchorError, match="filename_prefix"):
        run_node(n["ckpt"], model=erased["model"], clip=tiny["clip"], vae=tiny["vae"],
                 filename_prefix=prefix)
    assert sorted(p for p, _, fs in os.walk(output_dir) for _ in fs) == before
    assert not os.path.exists(os.path.join(os.path.dirname(str(output_dir)), "escape"))


def test_apply_erasure_reads_only_safetensors(n, tiny, errors, output_dir):
    folder = os.path.join(output_dir, "erasures")
    os.makedirs(folder, exist_ok=True)
    torch.save({"x": torch.zeros(1)}, os.path.join(folder, "evil.pt"))
    from advanchor_pack.nodes import files

    assert "evil.pt" not in files.erasure_files()
    with pytest.raises(errors.AdvAnchorError, match="safetensors"):
        run_node(n["apply"], model=tiny["model"], erasure_file="evil.pt")


def test_apply_erasure_file_name_cannot_reach_outside_its_folders(n, tiny, errors):
    with pytest.raises(errors.AdvAnchorError, match="was not found"):
        run_node(n["apply"], model=tiny["model"], erasure_file="../../checkpoints/x.safetensors")


def test_schemas_have_tooltips_and_category(n):
    for cls in n.values():
        schema = cls.GET_SCHEMA()
        assert schema.category == "AdvAnchor"
        missing = [i.id for i in schema.inputs if not i.tooltip]
        assert not missing, f"{schema.node_id}: inputs without tooltip {missing}"


def test_a_training_forward_saves_the_frozen_weights_themselves_not_copies(bridge, tiny):
    """One copy of the weights: autograd keeps references to the frozen weights, and the only
    new weight-shaped tensors it saves are the trained layers' w + δ."""
    den = bridge.ComfyDenoiser(tiny["model"]).prepare()
    weights = {k: w for k, w in den.named_weights().items() if w.dim() >= 2}
    storages = {w.untyped_storage().data_ptr() for w in weights.values()}
    trained = [k for k in weights if ".attn2.to_k." in k]
    shapes = {tuple(w.shape) for k, w in weights.items() if k not in trained}
    g = torch.Generator().manual_seed(0)
    x_t, cond = torch.randn((1, 4, 8, 8), generator=g), torch.randn((1, 77, 768), generator=g)
    with bridge.training_mode():
        delta = {k: torch.zeros_like(weights[k], requires_grad=True) for k in trained}
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            loss = den(x_t, torch.tensor([500]), cond, delta).square().mean()
        assert all(g.abs().sum() > 0 for g in torch.autograd.grad(loss, list(delta.values())))
    as_weights = [t for t in saved if t.untyped_storage().data_ptr() in storages]
    copies = [tuple(t.shape) for t in saved if tuple(t.shape) in shapes
              and t.untyped_storage().data_ptr() not in storages]
    assert as_weights and not copies, copies[:3]


def test_a_dynamic_model_on_a_comfyui_that_cannot_turn_it_off_is_refused(pack, errors):
    """ComfyUI 0.12's dynamic VRAM (asked for with --fast dynamic_vram) has no per-model way
    back to plain loading (its clone takes no `disable_dynamic`): the message names that
    version's flag. Newer versions train dynamic MODELs (test_dynamic_vram.py)."""
    from advanchor_pack.nodes.bridge.loading import training_clone

    class Version012Patcher:  # the two methods of ComfyUI 0.12's ModelPatcherDynamic read here
        def is_dynamic(self):
            return True

        def clone(self):
            raise AssertionError("a dynamic MODEL must not be cloned as it is")

    with pytest.raises(errors.AdvAnchorError, match="without 'dynamic_vram' in --fast"):
        training_clone(Version012Patcher())


DEFAULT_VIEW = {"unlearn": {"model", "clip", "concept", "anchor", "layers", "latent", "method",
                            "iterations", "parameters", "seed"},
                "anchor": {"model", "clip", "concept", "latent", "draws", "seed"}}


def test_expert_settings_are_marked_advanced(n, pack):
    """What a user decides stays in view; the rest is sent as advanced where ComfyUI's schema
    has the field (≥ 0.12; the browser test sees the newest frontend fold them)."""
    import inspect

    from advanchor_pack.nodes.attack import AttackErasureNode
    from comfy_api.latest import io

    nodes = {"unlearn": n["unlearn"], "anchor": n["anchor"], "attack": AttackErasureNode}
    view = DEFAULT_VIEW | {"attack": {"erased_model", "original_model", "clip", "concept", "latent",
                                      "steps", "seed"}}
    sent = "advanced" in inspect.signature(io.Int.Input.__init__).parameters
    for name, cls in nodes.items():
        inputs = cls.GET_SCHEMA().inputs
        assert {i.id for i in inputs if not getattr(i, "advanced", False)} == view[name], name
        if sent:
            info = cls.GET_NODE_INFO_V1()["input"]
            flags = {k: bool(spec[1].get("advanced")) for section in ("required", "optional")
                     for k, spec in info.get(section, {}).items() if len(spec) > 1}
            assert {k for k, on in flags.items() if on} == {i.id for i in inputs} - view[name], name
