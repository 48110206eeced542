"""The nodes on rectified-flow transformers: tiny Flux.1 dev, Flux.1 schnell and SD3 models built
from ComfyUI's own classes (tests/comfy_support/tiny_dit.py), with ComfyUI's tokenizers.

The bridge's prediction equals ComfyUI's `apply_model`; the concept's token rows are found in
T5 (Flux) and in CLIP and T5 (SD3); an erasure moves the concept's prediction more than the
superclass's, changes only its preset's weights and leaves the input MODEL untouched; the
erasure reloads through ComfyUI's LoRA loader (all three) and the erased SD3 through ComfyUI's
checkpoint loader. A tiny Flux cannot be reloaded as a model: ComfyUI's detection fixes 24
heads of 128 channels (a 3072-wide, ~2 GB transformer at one block each).
"""
from __future__ import annotations

import json
import os

import pytest
import torch
from tests.comfy_support.inprocess import effective_unet_state, run_node, unet_state

FAST = dict(method="adversarial", iterations=4, anchor_steps=2, latent_source="noise", sample_size=64, lr=1e-4, seed=3)
FAMILIES = ("flux-dev", "flux-schnell", "sd3", "sd3.5")
PRESET = {"flux-dev": "xattn-kv", "flux-schnell": "xattn", "sd3": "xattn", "sd3.5": "xattn"}


@pytest.fixture(scope="module")
def dit(comfy):
    from tests.comfy_support import tiny_dit as t

    flux_clip, sd3_clip = t.tiny_flux_clip(), t.tiny_sd3_clip(41)
    return {"flux-dev": {"model": t.tiny_flux(30), "clip": flux_clip},
            "flux-schnell": {"model": t.tiny_flux(32, schnell=True), "clip": flux_clip},
            "sd3": {"model": t.tiny_sd3(40), "clip": sd3_clip},
            "sd3.5": {"model": t.tiny_sd3(43, sd35=True), "clip": sd3_clip}}


@pytest.fixture(scope="module")
def erased(n, dit, concept):
    """One Unlearn run per family with its preset, and the input's weights before it."""
    out = {}
    for fam, parts in dit.items():
        before = unet_state(parts["model"])
        model, erasure, _ = run_node(n["unlearn"], model=parts["model"], clip=parts["clip"],
                                     concept=concept, parameters=PRESET[fam], **FAST)
        out[fam] = dict(before=before, model=model, erasure=erasure)
    return out


def draw(model, seed: int, batch: int):
    """A clean latent, noise and steps spread over the model's schedule."""
    g = torch.Generator().manual_seed(seed)
    steps = model.get_model_object("model_sampling").sigmas.shape[0] - 1
    t = torch.linspace(0.05 * steps, 0.9 * steps, batch).long()
    return torch.randn((batch, 16, 8, 8), generator=g), torch.randn((batch, 16, 8, 8), generator=g), t


def eps(bridge, model, clip, prompts, seed=0):
    """ε of each prompt at one shared draw, [P, B, ...]."""
    den = bridge.ComfyDenoiser(model).prepare()
    cond = bridge.text_encoder(den, clip).encode(prompts)
    z0, noise, t = draw(model, seed, 2)
    x_t = den.schedule.q_sample(z0, t, noise)
    with torch.inference_mode():
        return torch.stack([den(x_t, t, c[None].expand(2, -1, -1)) for c in cond])


# --- the bridge --------------------------------------------------------------------------------
def test_flux_and_sd3_are_detected_with_their_conditioning(bridge, dit):
    dev, schnell, sd3 = (bridge.ComfyDenoiser(dit[f]["model"]) for f in FAMILIES[:3])
    assert (dev.family.name, dev.family.kind, dev.family.guidance) == ("Flux.1 dev", "flux", True)
    assert (schnell.family.name, schnell.family.guidance) == ("Flux.1 schnell", False)
    assert (sd3.family.name, sd3.family.kind, sd3.family.vector_width) == ("SD3", "mmdit", 2048)
    assert all(d.prediction == "flow" and d.pooled_rows == 1 for d in (dev, schnell, sd3))
    # Flux dev samples 10,000 steps, schnell and SD3 1,000; σ = 1 is left out of each
    assert [d.schedule.num_timesteps for d in (dev, schnell, sd3)] == [9999, 999, 999]


@pytest.mark.parametrize("fam", FAMILIES)
def test_bridge_prediction_equals_comfyui_apply_model(bridge, dit, fam):
    """x0 from the bridge's ε equals ComfyUI's own denoised output at the same σ, with the
    conditioning its samplers build (extra_conds: y from the pooled output, Flux's guidance)."""
    model, clip = dit[fam]["model"], dit[fam]["clip"]
    den = bridge.ComfyDenoiser(model).prepare()
    enc = bridge.text_encoder(den, clip)
    cond = enc.encode(["Van Gogh painting", "a photo", "painting"])
    z0, noise, t = draw(model, 1, 3)
    base, sampling = model.model, model.get_model_object("model_sampling")
    sigma = sampling.sigmas[t]
    x_t = den.schedule.q_sample(z0, t, noise)
    with torch.inference_mode():
        x0_core = den.schedule.x0_from_eps(x_t, t, den(x_t, t, cond))
        context, extra = enc.conditioning(cond, "unused")[0]
        conds = base.extra_conds(pooled_output=extra["pooled_output"], cross_attn=context,
                                 noise=noise, device=noise.device)
        kwargs = {k: v.cond for k, v in conds.items() if k not in ("c_crossattn",)}
        if "guidance" in kwargs:
            kwargs["guidance"] = kwargs["guidance"].expand(3)
        x_c = sampling.noise_scaling(sigma, noise, z0)
        x0_comfy = base.apply_model(x_c, sigma, c_crossattn=context, **kwargs)
    assert kwargs["y"].shape[-1] == den.family.vector_width   # (schnell ignores its guidance)
    assert torch.allclose(x0_core, x0_comfy, atol=2e-4, rtol=1e-3)
    with torch.inference_mode():   # the pooled row is read: y is not a constant
        other = cond.clone()
        other[:, -1] = cond[[1, 2, 0], -1]
        assert (den(x_t, t, other) - den(x_t, t, cond)).abs().max() > 1e-5


@pytest.mark.parametrize("fam", ["flux-dev", "sd3"])
def test_a_model_sampling_shift_set_in_the_graph_is_followed(bridge, dit, fam):
    """A ModelSamplingFlux/SD3 node replaces the MODEL's model_sampling (an object patch): the
    bridge's steps are then that sampling's σ, and its x0 is ComfyUI's at those σ."""
    import comfy.model_sampling as ms

    model, clip = dit[fam]["model"], dit[fam]["clip"]
    kind = ms.ModelSamplingFlux if fam == "flux-dev" else ms.ModelSamplingDiscreteFlow
    sampling = type("Shifted", (kind, ms.CONST), {})(model.model.model_config)
    sampling.set_parameters(shift=2.0 if fam == "flux-dev" else 6.0)
    shifted = model.clone()
    shifted.add_object_patch("model_sampling", sampling)
    den, plain = bridge.ComfyDenoiser(shifted).prepare(), bridge.ComfyDenoiser(model)
    assert not torch.allclose(den.schedule.alphas_cumprod, plain.schedule.alphas_cumprod)
    cond = bridge.text_encoder(den, clip).encode(["Van Gogh painting"]).expand(3, -1, -1)
    z0, noise, t = draw(model, 2, 3)
    x_t = den.schedule.q_sample(z0, t, noise)
    sigma = sampling.sigmas[t]
    with torch.inference_mode():
        x0_core = den.schedule.x0_from_eps(x_t, t, den(x_t, t, cond))
        context, extra = bridge.text_encoder(den, clip).conditioning(cond, "unused")[0]
        kwargs = {"y": extra["pooled_output"]}
        if fam == "flux-dev":
            kwargs["guidance"] = torch.full((3,), 3.5)
        x0_comfy = model.model.apply_model(sampling.noise_scaling(sigma, noise, z0), sigma,
                                           c_crossattn=context, **kwargs)
    assert torch.allclose(x0_core, x0_comfy, atol=2e-4, rtol=1e-3)


def test_flux_context_is_t5_rows_and_the_concept_is_found_with_t5(bridge, dit):
    den = bridge.ComfyDenoiser(dit["flux-dev"]["model"])
    enc = bridge.text_encoder(den, dit["flux-dev"]["clip"])
    prompt = "Van Gogh's painting"
    t5 = enc._stream_ids(prompt)["t5xxl"]
    alone = [i for i in enc._stream_ids("Van Gogh")["t5xxl"] if i > 1]   # 0 pad, 1 end
    positions = enc.token_positions(prompt, "Van Gogh")
    assert positions == list(range(len(alone))) and [t5[p] for p in positions] == alone
    cond = enc.encode([prompt])
    assert cond.shape == (1, 256 + 1, 768)       # 256 T5 rows + the pooled CLIP-L row
    assert enc.max_tokens == 256


def test_sd3_concept_rows_are_found_in_clip_and_in_t5(bridge, dit):
    den = bridge.ComfyDenoiser(dit["sd3"]["model"])
    enc = bridge.text_encoder(den, dit["sd3"]["clip"])
    assert enc.segments == (("l", "g"), ("t5xxl",))
    prompt = "Van Gogh's painting"
    positions = enc.token_positions(prompt, "Van Gogh")
    t5 = enc._stream_ids(prompt)["t5xxl"]
    t5_rows = [p - 77 for p in positions if p >= 77]
    assert [p for p in positions if p < 77] == [1, 2]          # CLIP: after the start token
    assert t5_rows == list(range(len(t5_rows))) and len(t5_rows) >= 2 and t5[t5_rows[-1] + 1] != 1
    assert enc.encode([prompt]).shape == (1, 77 + 77 + 1, 4096) and enc.max_tokens == 154


@pytest.mark.parametrize("fam", ["flux-dev", "sd3"])
def test_search_anchor_moves_only_the_concept_rows(n, bridge, dit, concept, fam):
    anchor, conditioning = run_node(n["anchor"], model=dit[fam]["model"], clip=dit[fam]["clip"],
                                    concept=concept, draws=1, steps=2, lr=1e-2,
                                    latent_source="noise", sample_size=64)
    enc = bridge.text_encoder(bridge.ComfyDenoiser(dit[fam]["model"]), dit[fam]["clip"])
    (cond, extra), = conditioning
    base = enc.encode([concept.anchor_text])
    moved = (cond - base[:, :-1]).abs().amax(-1)[0].nonzero().flatten().tolist()
    assert moved == anchor.positions == enc.token_positions(concept.anchor_text, "Van Gogh")
    if fam == "sd3":
        assert min(moved) < 77 <= max(moved)                        # CLIP and T5 rows
    width = extra["pooled_output"].shape[-1]
    assert width == {"flux-dev": 768, "sd3": 2048}[fam]
    assert torch.equal(extra["pooled_output"][0], base[0, -1, :width])  # the pooled row untouched


# --- erasure -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fam", FAMILIES)
def test_erasure_changes_only_the_preset_and_leaves_the_input(bridge, dit, erased, fam):
    from advanchor_pack.advanchor_core.presets import select_parameters

    model, run = dit[fam]["model"], erased[fam]
    assert not model.patches       # the input MODEL carries no patch and samples as before
    assert all(torch.equal(run["before"][k], v) for k, v in effective_unet_state(model).items())
    names = bridge.ComfyDenoiser(model).named_weights()
    assert set(run["erasure"].tensors) == set(select_parameters(names, PRESET[fam]))
    assert all(v.dtype == torch.float32 and v.abs().sum() > 0 for v in run["erasure"].tensors.values())
    after, original = effective_unet_state(run["model"]), effective_unet_state(model)
    changed = {k for k in after if not torch.equal(after[k], original[k])}
    assert changed == set(run["erasure"].tensors)


@pytest.mark.parametrize("fam", FAMILIES)
def test_erasure_moves_the_concept_more_than_the_superclass(bridge, dit, erased, concept, fam):
    prompts = [concept.prompt, concept.superclass]
    move = (eps(bridge, erased[fam]["model"], dit[fam]["clip"], prompts) -
            eps(bridge, dit[fam]["model"], dit[fam]["clip"], prompts)).flatten(1).norm(dim=1)
    assert move[0] > 1.5 * move[1] and move[0] > 1e-3


@pytest.mark.parametrize("fam,guidance", [("flux-dev", 1.0), ("sd3", 7.5)])
def test_training_images_sampled_from_a_flow_model(n, dit, concept, fam, guidance):
    """The core's DDIM sampler over the flow schedule draws the training latents; the
    guidance-distilled Flux dev samples them without classifier-free guidance."""
    _, erasure, _ = run_node(n["unlearn"], model=dit[fam]["model"], clip=dit[fam]["clip"],
                             concept=concept, **dict(FAST, latent_source="sampled", iterations=1),
                             sample_count=1, sample_steps=3)
    settings = json.loads(erasure.metadata["settings"])["config"]["latents"]
    assert settings["source"] == "sampled" and settings["sample_guidance"] == guidance
    assert all(torch.isfinite(v).all() and v.abs().sum() > 0 for v in erasure.tensors.values())


def test_presets_mean_the_same_parts_in_flux_and_sd3(bridge, dit):
    from advanchor_pack.advanchor_core.presets import PRESETS, select_parameters

    flux = bridge.ComfyDenoiser(dit["flux-dev"]["model"]).named_weights()
    sd3 = bridge.ComfyDenoiser(dit["sd3"]["model"]).named_weights()
    pick = {p: (set(select_parameters(flux, p)), set(select_parameters(sd3, p))) for p in PRESETS}
    assert {k.rsplit(".", 2)[0] for k in pick["xattn-kv"][0]} == {"double_blocks.0.txt_attn", "double_blocks.1.txt_attn"}
    assert {k.split(".")[2] for k in pick["xattn-kv"][1]} == {"context_block"}
    for f, names in ((0, flux), (1, sd3)):
        kv, xattn, text, image = (pick[p][f] for p in ("xattn-kv", "xattn", "text-stream", "image-stream"))
        assert kv < xattn and kv < text and not text & image
        assert xattn | pick["noxattn"][f] == pick["full"][f] == set(names)
        assert {0: "txt_in.weight", 1: "context_embedder.weight"}[f] in text   # reads the context
        pooled = {0: "vector_in.in_layer.weight", 1: "y_embedder.mlp.0.weight"}[f]
        assert pooled in names and pooled not in text | image            # shared conditioning
    assert not any("single_blocks" in k for k in pick["text-stream"][0] | pick["image-stream"][0])
    assert not any(k.endswith("norm.query_norm.scale") for k in flux)   # not on ComfyUI's weight path


def test_sd35_image_self_attention_is_not_read_as_cross_attention(bridge, dit):
    """SD3.5 medium's `x_block.attn2` attends over image tokens only: outside xattn, inside the
    image stream; its q/k RMSNorm weights are read outside ComfyUI's weight path."""
    from advanchor_pack.advanchor_core.presets import select_parameters

    names = bridge.ComfyDenoiser(dit["sd3.5"]["model"]).named_weights()
    attn2 = {k for k in names if ".x_block.attn2." in k}
    assert attn2 and not attn2 & set(select_parameters(names, "xattn"))
    assert attn2 <= set(select_parameters(names, "image-stream"))
    assert not any(".ln_q." in k or ".ln_k." in k for k in names)


# --- save and reload through ComfyUI's loaders ---------------------------------------------------
@pytest.mark.parametrize("fam", FAMILIES)
def test_erasure_reloads_as_lora_and_as_weight_diff(n, bridge, dit, erased, concept, fam):
    import nodes as comfy_nodes

    (path,) = run_node(n["save"], erasure=erased[fam]["erasure"], format="LoRA", rank=4096,
                       filename_prefix=f"dit/{fam}")
    with torch.inference_mode():
        (lora_model,) = comfy_nodes.LoraLoaderModelOnly().load_lora_model_only(
            dit[fam]["model"], os.path.relpath(path, "loras"), 1.0)
    want, got = effective_unet_state(erased[fam]["model"]), effective_unet_state(lora_model)
    assert all(torch.allclose(want[k], got[k], atol=1e-5) for k in want)
    a = eps(bridge, erased[fam]["model"], dit[fam]["clip"], [concept.prompt])
    assert torch.allclose(a, eps(bridge, lora_model, dit[fam]["clip"], [concept.prompt]), atol=1e-4)
    (diff,) = run_node(n["save"], erasure=erased[fam]["erasure"], filename_prefix=f"dit/{fam}")
    applied = run_node(n["apply"], model=dit[fam]["model"], erasure_file=os.path.relpath(diff, "erasures"))[0]
    got = effective_unet_state(applied)
    assert all(torch.equal(want[k], got[k]) for k in want)     # the weight diff is exact


def test_erased_sd3_checkpoint_reloads_with_comfyui_checkpoint_loader(n, bridge, dit, erased,
                                                                      concept, output_dir):
    import comfy.sd
    from tests.comfy_support import tiny_dit as t

    clip = t.tiny_sd3_clip(41, t5=False)   # CLIP-L/G rows only: the file stays small
    (path,) = run_node(n["ckpt"], model=erased["sd3"]["model"], clip=clip, vae=t.tiny_vae16(),
                       filename_prefix="dit/sd3")
    with torch.inference_mode():
        reloaded = comfy.sd.load_checkpoint_guess_config(os.path.join(output_dir, path),
                                                         output_vae=False, output_clip=False)[0]
    assert type(reloaded.model.model_config).__name__ == "SD3"
    want, got = effective_unet_state(erased["sd3"]["model"]), effective_unet_state(reloaded)
    assert all(torch.equal(want[k], got[k]) for k in want)
    a = eps(bridge, erased["sd3"]["model"], clip, [concept.prompt])
    assert torch.allclose(a, eps(bridge, reloaded, clip, [concept.prompt]), atol=1e-5)


def test_erased_flux_checkpoint_holds_the_erased_weights_and_its_text_encoders(n, dit, erased,
                                                                            output_dir):
    """A tiny Flux does not reload (see the module docstring), so the file is read directly:
    the erased transformer, and the text encoders and VAE under Flux's own key prefixes."""
    from safetensors import safe_open
    from tests.comfy_support import tiny_dit as t

    (path,) = run_node(n["ckpt"], model=erased["flux-dev"]["model"], clip=dit["flux-dev"]["clip"],
                       vae=t.tiny_vae16(), filename_prefix="dit/flux")
    want = effective_unet_state(erased["flux-dev"]["model"])
    with safe_open(os.path.join(output_dir, path), "pt") as f:
        keys = set(f.keys())
        assert all(torch.equal(f.get_tensor("model.diffusion_model." + k), v) for k, v in want.items())
    assert any(k.startswith("text_encoders.t5xxl.") for k in keys)
    assert any(k.startswith("text_encoders.clip_l.") for k in keys)
    assert any(k.startswith("vae.") for k in keys)


# --- memory options and errors ------------------------------------------------------------------
def test_flux_gradients_are_right_with_and_without_checkpointing(bridge, dit):
    """Flux's blocks add residuals in place: the plain gradient matches finite differences, and
    the checkpointed one (recomputed in the backward pass) matches the plain one."""
    from advanchor_pack.advanchor_core.presets import select_parameters

    model = dit["flux-dev"]["model"]
    z0, noise, t = draw(model, 4, 2)
    g = torch.Generator().manual_seed(5)

    def loss_and_grads(checkpointing: bool, step: float = 0.0, direction=None):
        den = bridge.ComfyDenoiser(model, checkpointing=checkpointing).prepare()
        cond = bridge.text_encoder(den, dit["flux-dev"]["clip"]).encode(["Van Gogh painting", "painting"])
        names = select_parameters(den.named_weights(), "full")
        with bridge.training_mode():
            delta = {k: torch.full_like(den.named_weights()[k], 1e-3, dtype=torch.float32)
                     + (step * direction[k] if direction else 0) for k in names}
            delta = {k: v.requires_grad_(True) for k, v in delta.items()}
            loss = den(den.schedule.q_sample(z0, t, noise), t, cond, delta).pow(2).mean()
            return loss.item(), dict(zip(names, torch.autograd.grad(loss, list(delta.values()))))

    _, plain = loss_and_grads(False)
    _, ckpt = loss_and_grads(True)
    assert all(v.abs().sum() > 0 for v in plain.values())
    assert all(torch.allclose(plain[k], ckpt[k], rtol=1e-5, atol=1e-8) for k in plain)
    direction = {k: torch.randn(v.shape, generator=g) for k, v in plain.items()}
    h = 3e-5
    finite = (loss_and_grads(False, h, direction)[0] - loss_and_grads(False, -h, direction)[0]) / (2 * h)
    analytic = sum((plain[k] * direction[k]).sum() for k in plain).item()
    assert abs(finite - analytic) < 2e-3 * abs(analytic)


def test_unlearn_memory_options_on_flux_and_sd3(n, dit, erased, concept):
    """Gradient checkpointing gives the plain run's erasure; bf16 autocast a finite one."""
    for fam in ("flux-dev", "sd3"):
        parts = dict(model=dit[fam]["model"], clip=dit[fam]["clip"], concept=concept,
                     parameters=PRESET[fam], **FAST)
        plain = erased[fam]["erasure"].tensors
        ckpt = run_node(n["unlearn"], gradient_checkpointing=True, **parts)[1].tensors
        bf16 = run_node(n["unlearn"], autocast="bf16", gradient_checkpointing=True, **parts)[1].tensors
        assert plain.keys() == ckpt.keys() == bf16.keys()
        for k, v in plain.items():
            assert torch.allclose(v, ckpt[k], rtol=1e-4, atol=1e-7), (fam, k)
            assert torch.isfinite(bf16[k]).all() and bf16[k].abs().sum() > 0


def test_a_flux_variant_with_image_input_is_refused(n, errors, dit, concept):
    import comfy.model_patcher
    import comfy.supported_models as sm
    from tests.comfy_support import tiny_dit as t

    config = sm.FluxInpaint(dict(t.flux_config().unet_config, in_channels=96))
    with torch.inference_mode():
        model = comfy.model_patcher.ModelPatcher(config.get_model({}), "cpu", "cpu")
    with pytest.raises(errors.AdvAnchorError, match=r"this MODEL is FluxInpaint .*Flux\.1 dev/schnell"):
        run_node(n["unlearn"], model=model, clip=dit["flux-dev"]["clip"], concept=concept, **FAST)


def test_a_clip_of_another_family_is_refused_on_flux(n, errors, dit, tiny, concept):
    with pytest.raises(errors.AdvAnchorError, match=r"not the text encoder of Flux.1 dev"):
        run_node(n["unlearn"], model=dit["flux-dev"]["model"], clip=tiny["clip"], concept=concept, **FAST)


@pytest.mark.parametrize("fam", ["flux-dev", "sd3"])
def test_block_sensitivity_measures_what_each_block_reads_from_the_text(pack, bridge, dit, fam):
    """Per joint-attention block (dual- and, in Flux, single-stream), with its inputs held: the
    concept's own text moves nothing, another prompt's text moves the block's image output."""
    from advanchor_pack.advanchor_core.latents import Draw
    from advanchor_pack.advanchor_core.sensitivity import layer_sensitivity

    den = bridge.ComfyDenoiser(dit[fam]["model"]).prepare()
    cond, other = bridge.text_encoder(den, dit[fam]["clip"]).encode(["Van Gogh painting", "a photo"]).split(1)
    z0, noise, t = draw(dit[fam]["model"], 6, 2)
    sens = layer_sensitivity(den, cond, {"self": cond, "other": other},
                             Draw(den.schedule.q_sample(z0, t, noise), t), primary="other")
    blocks = {"flux-dev": ["double_blocks.0", "double_blocks.1", "single_blocks.0"],
              "sd3": ["joint_blocks.0", "joint_blocks.1"]}[fam]
    assert sens.layers == blocks
    assert all(row[0] < 1e-6 < row[1] for row in sens.relative)


@pytest.mark.parametrize("fam", ["flux-dev", "sd3"])
def test_concept_sensitivity_ranks_blocks_and_unlearn_trains_their_text_weights(n, dit, concept, fam):
    image, report, layers = run_node(n["sens"], model=dit[fam]["model"], clip=dit[fam]["clip"],
                                     concept=concept, sample_size=64, probe_latents=1, top_k=1,
                                     weights="kv")
    top = json.loads(report)["selection"]["layers"]
    assert image.shape[0] == 3 and len(top) == 1
    assert all(p.startswith(top[0] + ".") for p in layers.parameters)
    text_weights = ("linear1.",) if top[0].startswith("single_blocks") else ("txt_attn.qkv.", "context_block.attn.qkv.")
    assert all(p.split(".", 2)[2].startswith(text_weights) for p in layers.parameters), layers.parameters
    _, erasure, _ = run_node(n["unlearn"], model=dit[fam]["model"], clip=dit[fam]["clip"],
                             concept=concept, layers=layers, **FAST)
    assert set(erasure.tensors) == set(layers.parameters)


def test_an_fp8_sd3_from_unet_loader_erases_as_its_fp32_twin(n, dit, concept, tmp_path):
    """Load Diffusion Model's fp8_e4m3fn: the transformer trains through ComfyUI's cast of each
    fp8 weight; the float32 erasure matches the one of an fp32 model holding the same values."""
    import comfy.utils
    import folder_paths
    import nodes as comfy_nodes

    with torch.inference_mode():
        sd = {k: v.contiguous() for k, v in dit["sd3"]["model"].model.diffusion_model.state_dict().items()}
    comfy.utils.save_torch_file(sd, str(tmp_path / "thin_sd3.safetensors"))
    folder_paths.add_model_folder_path("diffusion_models", str(tmp_path))
    with torch.inference_mode():
        fp8 = comfy_nodes.UNETLoader().load_unet("thin_sd3.safetensors", "fp8_e4m3fn")[0]
        twin = comfy_nodes.UNETLoader().load_unet("thin_sd3.safetensors", "default")[0]
        for p in twin.model.diffusion_model.parameters():
            p.copy_(p.to(torch.float8_e4m3fn).float())
    assert next(fp8.model.diffusion_model.parameters()).dtype == torch.float8_e4m3fn
    erasures = [run_node(n["unlearn"], model=m, clip=dit["sd3"]["clip"], concept=concept,
                         parameters="xattn-kv", **FAST)[1].tensors for m in (fp8, twin)]
    assert erasures[0].keys() == erasures[1].keys()
    for k, v in erasures[0].items():
        assert v.dtype == torch.float32 and v.abs().sum() > 0
        assert torch.nn.functional.cosine_similarity(v.flatten(), erasures[1][k].flatten(), dim=0) > 0.99, k
