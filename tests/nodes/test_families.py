"""The nodes on every UNet family: tiny SDXL-shaped (two text encoders, pooled + size `y`) and
SD2-shaped (1024-d OpenCLIP context, v-prediction) models in process; gradient checkpointing
and autocast equivalence. Flux and SD3: test_flow_families.py."""
from __future__ import annotations

import json

import pytest
import torch
from tests.comfy_support.inprocess import assert_matches_apply_model, run_node, unet_state

FAST = dict(method="adversarial", iterations=2, anchor_steps=2, latent_source="noise", sample_size=64, lr=1e-3, seed=3)


@pytest.fixture(scope="module")
def sdxl(comfy):
    from tests.comfy_support import tiny as t

    return {"model": t.tiny_family_model("sdxl", 10), "clip": t.tiny_family_clip("sdxl", 11)}


@pytest.fixture(scope="module")
def sd2(comfy):
    from tests.comfy_support import tiny as t

    return {"model": t.tiny_family_model("sd2", 20, prediction="v"), "clip": t.tiny_family_clip("sd2", 21)}


def eps(bridge, model, clip, prompt, seed=0):
    den = bridge.ComfyDenoiser(model).prepare()
    cond = bridge.text_encoder(den, clip).encode([prompt])
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((2, 4, 8, 8), generator=g)
    with torch.inference_mode():
        return den(x, torch.tensor([300, 700]), cond.expand(2, -1, -1))


# --- families --------------------------------------------------------------------------------
def test_families_are_detected(bridge, sdxl, sd2):
    xl = bridge.ComfyDenoiser(sdxl["model"])
    assert (xl.family.name, xl.family.context_dim, xl.family.pooled, xl.pooled_rows) == ("SDXL", 2048, True, 1)
    two = bridge.ComfyDenoiser(sd2["model"])
    assert (two.family.name, two.family.context_dim, two.family.pooled) == ("SD2.x", 1024, False)
    assert two.prediction == "v" and xl.prediction == "eps"


def test_a_clip_of_another_family_is_refused(n, errors, sdxl, sd2, concept):
    with pytest.raises(errors.AdvAnchorError, match=r"1024-d conditioning.*\(SDXL\) reads 2048-d"):
        run_node(n["unlearn"], model=sdxl["model"], clip=sd2["clip"], concept=concept, **FAST)


@pytest.mark.parametrize("family,context", [("sdxl", 2048), ("sd2", 1024)])
def test_cross_attention_is_attn2_in_every_family(pack, sdxl, sd2, family, context):
    """The presets select by the `attn2` name; in SDXL/SD2 UNets those are exactly the layers
    whose keys and values read the text context."""
    from advanchor_pack.advanchor_core.presets import select_parameters

    unet = {"sdxl": sdxl, "sd2": sd2}[family]["model"].model.diffusion_model
    names = dict(unet.named_parameters())
    kv = select_parameters(names, "xattn-kv")
    assert kv and all(names[k].shape[1] == context for k in kv if k.endswith("weight"))
    reads_text = {k for k, w in names.items() if w.dim() == 2 and w.shape[1] == context}
    assert set(kv) == reads_text
    xattn = select_parameters(names, "xattn")
    assert set(kv) < set(xattn) and all(".attn2." in k for k in xattn)
    assert not set(xattn) & set(select_parameters(names, "noxattn"))


# --- SDXL conditioning -----------------------------------------------------------------------
def test_sdxl_encoder_appends_the_pooled_row_and_positions_agree_across_tokenizers(bridge, sdxl):
    enc = bridge.ComfyTextEncoder(sdxl["clip"], pooled_rows=1)
    prompt = "Van Gogh's painting"
    cond = enc.encode([prompt, ""])
    tokens = sdxl["clip"].tokenize(prompt)
    assert set(tokens) == {"l", "g"}
    want, pooled = sdxl["clip"].encode_from_tokens(tokens, return_pooled=True)
    assert cond.shape == (2, 78, 2048) and pooled.shape == (1, 1280)
    assert torch.equal(cond[0, :77], want[0].float()) and torch.equal(cond[0, 77, :1280], pooled[0].float())
    assert not cond[:, 77, 1280:].any()
    streams = enc._stream_ids(prompt)
    assert streams["l"][:6] == streams["g"][:6]       # same BPE; only the padding differs
    assert enc.token_positions(prompt, "Van Gogh") == [1, 2]


def test_sdxl_bridge_agrees_with_comfyui_own_conditioning_path(bridge, sdxl):
    """ε from the bridge (pooled row → y via the model) equals ComfyUI's apply_model with the
    `y` its samplers build through extra_conds for the same image size."""
    model = sdxl["model"]
    den = bridge.ComfyDenoiser(model).prepare()
    enc = bridge.ComfyTextEncoder(sdxl["clip"], pooled_rows=1)
    cond = enc.encode(["Van Gogh painting", "a photo", "painting"])
    g = torch.Generator().manual_seed(0)
    x_t, steps = torch.randn((3, 4, 8, 12), generator=g), torch.tensor([50, 500, 950])
    base = model.model
    with torch.inference_mode():
        x0_core = den.schedule.x0_from_eps(x_t, steps, den(x_t, steps, cond))
        conds = enc.conditioning(cond, "unused")[0]
        y = base.extra_conds(pooled_output=conds[1]["pooled_output"], width=96, height=64,
                             device=x_t.device, cross_attn=conds[0])["y"].cond
        sigma = base.model_sampling.sigma(steps.float())
        abar = den.schedule.alphas_cumprod[steps].reshape(-1, 1, 1, 1)
        x0_comfy = base.apply_model(x_t / abar.sqrt(), sigma, c_crossattn=conds[0], y=y)
    assert y.shape == (3, 2816)
    assert torch.allclose(x0_core, x0_comfy, atol=1e-3, rtol=1e-3)
    with torch.inference_mode():   # and the pooled text matters: y is not a constant
        other = cond.clone()
        other[:, -1] = cond[[1, 2, 0], -1]
        assert (den(x_t, steps, other) - den(x_t, steps, cond)).abs().max() > 1e-4


def test_sd2_v_prediction_agrees_with_comfyui(bridge, sd2):
    model = sd2["model"]
    den = bridge.ComfyDenoiser(model).prepare()
    cond = bridge.text_encoder(den, sd2["clip"]).encode(["Van Gogh painting"]).expand(2, -1, -1)
    assert cond.shape == (2, 77, 1024)
    g = torch.Generator().manual_seed(1)
    x_t, steps = torch.randn((2, 4, 8, 8), generator=g), torch.tensor([100, 800])
    base = model.model
    assert_matches_apply_model(den, base, x_t, steps, cond)


# --- nodes on SDXL / SD2 ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def erased_xl(n, sdxl, concept):
    before = unet_state(sdxl["model"])
    anchor, conditioning = run_node(n["anchor"], model=sdxl["model"], clip=sdxl["clip"],
                                    concept=concept, draws=1, steps=2, lr=1e-2,
                                    latent_source="noise", sample_size=64)
    out = run_node(n["unlearn"], model=sdxl["model"], clip=sdxl["clip"], concept=concept,
                   anchor=anchor, **FAST)
    return dict(before=before, anchor=anchor, conditioning=conditioning, out=out)


def test_search_anchor_on_sdxl_moves_only_concept_tokens(bridge, sdxl, concept, erased_xl):
    enc = bridge.ComfyTextEncoder(sdxl["clip"], pooled_rows=1)
    (cond, extra), = erased_xl["conditioning"]
    assert cond.shape == (1, 77, 2048) and extra["pooled_output"].shape == (1, 1280)
    base = enc.encode([concept.anchor_text])
    moved = (cond - base[:, :77]).abs().amax(-1)[0].nonzero().flatten().tolist()
    assert moved == [1, 2] == erased_xl["anchor"].positions
    assert torch.equal(extra["pooled_output"][0], base[0, 77, :1280])   # the pooled row untouched


def test_unlearn_on_sdxl_changes_only_cross_attention(bridge, sdxl, concept, erased_xl):
    model, erasure, curve = erased_xl["out"]
    after = unet_state(sdxl["model"])
    assert all(torch.equal(erased_xl["before"][k], after[k]) for k in after)   # input untouched
    assert erasure.tensors and all(".attn2." in k for k in erasure.tensors)
    assert all(torch.isfinite(v).all() and v.abs().sum() > 0 for v in erasure.tensors.values())
    moved = eps(bridge, model, sdxl["clip"], concept.prompt) - eps(bridge, sdxl["model"], sdxl["clip"], concept.prompt)
    assert moved.abs().max() > 1e-5


def test_unlearn_on_sd2_v_prediction(n, bridge, sd2, concept):
    before = unet_state(sd2["model"])
    model, erasure, _ = run_node(n["unlearn"], model=sd2["model"], clip=sd2["clip"],
                                 concept=concept, parameters="xattn-kv", **FAST)
    assert all(torch.equal(before[k], v) for k, v in unet_state(sd2["model"]).items())
    assert erasure.tensors and all(k.split(".")[-2] in ("to_k", "to_v") for k in erasure.tensors)
    moved = eps(bridge, model, sd2["clip"], concept.prompt) - eps(bridge, sd2["model"], sd2["clip"], concept.prompt)
    assert torch.isfinite(moved).all() and moved.abs().max() > 1e-5


def test_sensitivity_runs_on_sdxl(n, sdxl, concept, erased_xl):
    image, report, layers = run_node(n["sens"], model=sdxl["model"], clip=sdxl["clip"],
                                     concept=concept, anchor=erased_xl["anchor"],
                                     sample_size=64, probe_latents=1, top_k=1, seed=2)
    data = json.loads(report)
    assert image.shape[0] == 3 and data["layers"]["layers"]
    assert all(name.endswith("attn2") for name in data["layers"]["layers"])
    assert layers.parameters and all(".attn2." in p for p in layers.parameters)


# --- memory options ---------------------------------------------------------------------------
def test_gradient_checkpointing_gives_the_same_gradients_and_saves_less(bridge, sdxl):
    from advanchor_pack.advanchor_core.presets import select_parameters

    model = sdxl["model"]
    enc = bridge.ComfyTextEncoder(sdxl["clip"], pooled_rows=1)
    cond = enc.encode(["Van Gogh painting", "painting"])
    g = torch.Generator().manual_seed(4)
    x_t, steps = torch.randn((2, 4, 16, 16), generator=g), torch.tensor([200, 600])

    def run(checkpointing: bool):
        den = bridge.ComfyDenoiser(model, checkpointing=checkpointing).prepare()
        names = select_parameters(den.named_weights(), "xattn")
        with bridge.training_mode():
            delta = {k: torch.full_like(den.named_weights()[k], 1e-3, dtype=torch.float32,
                                        requires_grad=True) for k in names}
            saved = []
            with torch.autograd.graph.saved_tensors_hooks(
                    lambda t: saved.append(t.numel() * t.element_size()) or t, lambda t: t):
                loss = den(x_t, steps, cond, delta).pow(2).mean()
            grads = torch.autograd.grad(loss, list(delta.values()))
        return loss.detach(), grads, sum(saved)

    loss0, grads0, saved0 = run(False)
    loss1, grads1, saved1 = run(True)
    assert torch.equal(loss0, loss1)
    assert all(g.abs().sum() > 0 for g in grads0)
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-8) for a, b in zip(grads0, grads1))
    assert saved1 < 0.5 * saved0


def test_unlearn_node_memory_options_match_the_plain_run(n, sdxl, concept, erased_xl):
    plain = run_node(n["unlearn"], model=sdxl["model"], clip=sdxl["clip"], concept=concept, **FAST)[1]
    ckpt = run_node(n["unlearn"], model=sdxl["model"], clip=sdxl["clip"], concept=concept,
                    gradient_checkpointing=True, **FAST)[1]
    bf16 = run_node(n["unlearn"], model=sdxl["model"], clip=sdxl["clip"], concept=concept,
                    autocast="bf16", **FAST)[1]
    assert plain.tensors.keys() == ckpt.tensors.keys() == bf16.tensors.keys()
    for k, v in plain.tensors.items():
        assert torch.allclose(v, ckpt.tensors[k], rtol=1e-4, atol=1e-7), k
        assert torch.isfinite(bf16.tensors[k]).all() and bf16.tensors[k].abs().sum() > 0
    assert json.loads(json.dumps(bf16.metadata, default=str))  # settings recorded
    assert "bf16" in json.dumps(bf16.metadata, default=str)
