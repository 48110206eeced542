"""The bridge on rectified-flow transformers (tiny Flux.1 dev, Flux.1 schnell, SD3 and SD3.5 built
from ComfyUI's own classes): its prediction equals ComfyUI's `apply_model`, a sampling shift set
in the graph is followed, the concept's rows are found in T5 (Flux) and in CLIP and T5 (SD3), and
Search Anchor moves only those rows."""
from __future__ import annotations


import pytest
import torch

from tests.comfy_support.inprocess import run_node
from tests.nodes.flow import FAMILIES, draw

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
    """x0 from the bridge's ε equals ComfyUI's own denoised output at the same σ, prompt by
    prompt, with the conditioning its samplers build (extra_conds: y from the pooled output,
    Flux's guidance, Flux.2's text padded to 512 rows; the newer families' prompts each at
    their own length)."""
    model, clip = dit[fam]["model"], dit[fam]["clip"]
    den = bridge.ComfyDenoiser(model).prepare()
    enc = bridge.text_encoder(den, clip)
    prompts = ["Van Gogh painting", "a photo", "painting"]
    cond = enc.encode(prompts)
    z0, noise, t = draw(model, 1, 3)
    base, sampling = model.model, model.get_model_object("model_sampling")
    sigma = sampling.sigmas[t]
    x_t = den.schedule.q_sample(z0, t, noise)
    with torch.inference_mode():
        x0_core = den.schedule.x0_from_eps(x_t, t, den(x_t, t, cond))
        for i, prompt in enumerate(prompts):
            context, extra = enc.conditioning(cond[i:i + 1], prompt)[0]
            conds = base.extra_conds(cross_attn=context, noise=noise[i:i + 1], device=noise.device, **extra)
            kwargs = {k: v.cond for k, v in conds.items() if k not in ("c_crossattn",)}
            x_c = sampling.noise_scaling(sigma[i:i + 1], noise[i:i + 1], z0[i:i + 1])
            if base.latent_format.latent_dimensions == 3:   # Qwen-Image: a one-frame video
                x_c = x_c[:, :, None]
            x0_comfy = base.apply_model(x_c, sigma[i:i + 1], c_crossattn=conds["c_crossattn"].cond,
                                        **kwargs).reshape(x_c.shape[0], -1, 8, 8)
            assert torch.allclose(x0_core[i:i + 1], x0_comfy, atol=2e-4, rtol=1e-3), prompt
    if den.family.vector_width:
        assert kwargs["y"].shape[-1] == den.family.vector_width   # (schnell ignores its guidance)
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


@pytest.mark.parametrize("fam", ["flux-dev", "sd3", "chroma", "zimage", "qwen-image", "flux2", "flux2-dev"])
def test_search_anchor_moves_only_the_concept_rows(n, bridge, dit, concept, fam):
    anchor, conditioning = run_node(n["anchor"], model=dit[fam]["model"], clip=dit[fam]["clip"],
                                    concept=concept, draws=1, steps=2, lr=1e-2,
                                    latent_source="noise", sample_size=64)
    enc = bridge.text_encoder(bridge.ComfyDenoiser(dit[fam]["model"]), dit[fam]["clip"])
    (cond, extra), = conditioning
    base = enc.encode([concept.anchor_text])
    moved = (cond - base[:, :cond.shape[1]]).abs().amax(-1)[0].nonzero().flatten().tolist()
    assert moved == anchor.positions == enc.token_positions(concept.anchor_text, "Van Gogh")
    if fam == "sd3":
        assert min(moved) < 77 <= max(moved)                        # CLIP and T5 rows
    if fam in ("chroma", "zimage", "qwen-image", "flux2", "flux2-dev"):   # its own rows, as CLIPTextEncode gives them
        assert cond.shape[1] == enc.encode_one(concept.anchor_text).shape[1] and not extra
        return
    width = extra["pooled_output"].shape[-1]
    assert width == {"flux-dev": 768, "sd3": 2048}[fam]
    assert torch.equal(extra["pooled_output"][0], base[0, -1, :width])  # the pooled row untouched




def test_chroma_prompts_keep_their_own_lengths(bridge, dit, errors):
    """Chroma's T5 is unpadded: each prompt is stored at its own row count (zeros after it, the
    count in a last row) and the model reads exactly those rows; a prompt past the padded
    length is refused with what to change."""
    den = bridge.ComfyDenoiser(dit["chroma"]["model"])
    assert (den.family.name, den.family.kind, den.family.ragged, den.family.pooled) == \
        ("Chroma", "chroma", True, False)
    enc = bridge.text_encoder(den, dit["chroma"]["clip"])
    prompts = ["Van Gogh painting", "a photo", "painting"]
    cond = enc.encode(prompts)
    rows = [enc.encode_one(p).shape[1] for p in prompts]
    assert cond.shape == (3, 512 + 1, 768) and len(set(rows)) == 3
    assert cond[:, -1, 0].tolist() == rows and not cond[:, -1, 1:].any()
    for i, n in enumerate(rows):
        assert torch.equal(cond[i, :n], enc.encode_one(prompts[i])[0].float()) and not cond[i, n:-1].any()
    with pytest.raises(errors.AdvAnchorError, match="at most 512 .*shorten it"):
        enc.encode(["a " * 600])


@pytest.mark.parametrize("fam", ["zimage", "qwen-image", "flux2", "flux2-dev"])
@pytest.mark.parametrize("prompt", ["Van Gogh's painting", "a painting by Van Gogh, at night"])
def test_llm_families_find_the_concept_rows_in_their_chat_template(bridge, dit, fam, prompt):
    """Byte-level BPE inside a chat template: the rows found hold exactly the phrase's tokens,
    counted after the rows the encoder drops (Qwen-Image drops its system template), at the
    start of the prompt and in its middle (where the first token carries a space)."""
    den = bridge.ComfyDenoiser(dit[fam]["model"])
    enc = bridge.text_encoder(den, dit[fam]["clip"])
    stream = enc.segments[0][0]
    tokenizer = getattr(dit[fam]["clip"].tokenizer, stream).tokenizer
    ids = [int(tok[0]) for tok in dit[fam]["clip"].tokenize(prompt)[stream][0]]
    rows = enc.encode_one(prompt).shape[1]
    dropped = {"zimage": 0, "qwen-image": 34, "flux2": 0, "flux2-dev": 0}[fam]
    assert len(ids) - rows == dropped and (fam != "flux2" or rows == 512)
    positions = enc.token_positions(prompt, "Van Gogh")
    assert positions == list(range(positions[0], positions[-1] + 1))
    assert tokenizer.decode([ids[dropped + p] for p in positions]).strip() == "Van Gogh"
    labels, shown = enc.token_labels(prompt)
    assert len(labels) == rows and shown <= rows
    assert "".join(labels[p] for p in positions).replace("␣", "") == "VanGogh"
