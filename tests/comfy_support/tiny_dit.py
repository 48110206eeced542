"""Tiny, seeded, real ComfyUI rectified-flow transformers and their text encoders: Flux.1 (dev:
guidance embedding, ComfyUI's Flux sampling; schnell: none, discrete flow) and SD3 (MMDiT),
built from ComfyUI's own model classes (`comfy.supported_models.Flux/FluxSchnell/SD3`) at small
widths, with ComfyUI's real tokenizers.

Widths are what the layouts force: Flux's head width is the sum of its rotary axes (here
4 + 6 + 6 = 16, two heads); SD3's hidden width is 64 × depth; SD3's text context is 4096 wide
(ComfyUI pads CLIP-L+G to 4096 and joins T5 rows to it), so its T5 keeps d_model 4096 (one
layer; its token embedding is most of the 0.5 GB it takes); Flux's T5 is 768 wide, as wide as
the pooled CLIP-L vector its conditioning row carries. Neither Flux model reloads through
ComfyUI's detection, which fixes 24 heads of 128 channels (3072 wide): see the tests.
"""
from __future__ import annotations

import dataclasses

import torch

from .tiny import CLIP_LAYERS3, CLIP_SMALL, init_weights, seeded_patcher, tiny_vae

FLUX_SMALL = dict(image_model="flux", in_channels=16, out_channels=16, vec_in_dim=768,
                  context_in_dim=768, hidden_size=32, mlp_ratio=2.0, num_heads=2, depth=2,
                  depth_single_blocks=1, axes_dim=[4, 6, 6], theta=10000, patch_size=2,
                  qkv_bias=True)
SD3_SMALL = dict(in_channels=16, out_channels=16, pos_embed_scaling_factor=None, patch_size=2,
                 depth=2, adm_in_channels=2048, num_patches=64, pos_embed_max_size=8,
                 context_embedder_config={"target": "torch.nn.Linear",
                                          "params": {"in_features": 4096, "out_features": 128}})
# The smallest Flux.1 dev ComfyUI 0.12.1's detection loads from a file: heads of 128 channels
# (its rotary axes 16 + 56 + 56), their number read from the width; 0.3.75 fixes 24 heads.
FLUX_LOADABLE = dict(FLUX_SMALL, hidden_size=128, num_heads=1, mlp_ratio=4.0, depth=1,
                     axes_dim=[16, 56, 56])
T5_FLUX = {"d_model": 768, "d_ff": 32, "d_kv": 16, "num_heads": 2, "num_layers": 1}
T5_SD3 = {"d_model": 4096, "d_ff": 16, "d_kv": 8, "num_heads": 1, "num_layers": 1}


def flux_config(schnell: bool = False, layout: dict = FLUX_SMALL):
    import comfy.ldm.flux.model
    import comfy.supported_models as sm

    config = dict(layout, guidance_embed=not schnell)
    # newer ComfyUI (0.12.1) requires txt_ids_dims; Flux.1 checkpoints are detected with []
    if "txt_ids_dims" in {f.name for f in dataclasses.fields(comfy.ldm.flux.model.FluxParams)}:
        config["txt_ids_dims"] = []
    return (sm.FluxSchnell if schnell else sm.Flux)(config)


def sd3_config(sd35: bool = False):
    """SD3; `sd35`: SD3.5 medium's MMDiT-X layout (q/k RMSNorm, an image-only self-attention
    `x_block.attn2` in the first block)."""
    import comfy.supported_models as sm

    extra = dict(qk_norm="rms", x_block_self_attn_layers=[0]) if sd35 else {}
    return sm.SD3(dict(SD3_SMALL, **extra))


@torch.inference_mode()
def init_buffers(module: torch.nn.Module, seed: int) -> None:
    """Seeded values for float buffers a checkpoint would fill (SD3's `pos_embed` is made with
    torch.empty: left alone, it holds whatever memory it got, NaN included)."""
    g = torch.Generator().manual_seed(seed + 1)
    for buf in module.buffers():
        if buf.is_floating_point():
            buf.copy_(0.02 * torch.randn(buf.shape, generator=g))


def _patcher(config, seed: int):
    base = config.get_model({})
    init_buffers(base.diffusion_model, seed)  # its own generator: independent of the weights'
    return seeded_patcher(base, seed)


@torch.inference_mode()
def tiny_flux(seed: int = 30, schnell: bool = False):
    """A ModelPatcher around a seeded tiny Flux.1 dev (or schnell) transformer."""
    return _patcher(flux_config(schnell), seed)


@torch.inference_mode()
def loadable_flux(seed: int = 32):
    """A ModelPatcher around a seeded Flux.1 dev of `FLUX_LOADABLE`'s layout (1.6M parameters)."""
    return _patcher(flux_config(layout=FLUX_LOADABLE), seed)


@torch.inference_mode()
def tiny_sd3(seed: int = 40, sd35: bool = False):
    """A ModelPatcher around a seeded tiny SD3 (or SD3.5 medium) MMDiT: two joint blocks, the
    last pre-only."""
    return _patcher(sd3_config(sd35), seed)


@torch.inference_mode()
def tiny_flux_clip(seed: int = 31):
    """ComfyUI's Flux text encoder (CLIP-L for the pooled vector, T5 for the context), small."""
    import comfy.sd

    options = {"clip_l_model_config": dict(CLIP_SMALL), "t5xxl_model_config": dict(T5_FLUX)}
    clip = comfy.sd.CLIP(flux_config().clip_target({}), model_options=options)
    init_weights(clip.cond_stage_model, seed)
    return clip


@torch.inference_mode()
def tiny_sd3_clip(seed: int = 41, t5: bool = True):
    """ComfyUI's SD3 text encoder: CLIP-L and CLIP-G (real widths, 3 layers) and, with `t5`,
    a one-layer 4096-wide T5."""
    import comfy.sd
    import comfy.supported_models_base
    import comfy.text_encoders.sd3_clip as sd3

    target = comfy.supported_models_base.ClipTarget(sd3.SD3Tokenizer, sd3.sd3_clip(t5=t5))
    options = {"clip_l_model_config": dict(CLIP_LAYERS3), "clip_g_model_config": dict(CLIP_LAYERS3),
               "t5xxl_model_config": dict(T5_SD3)}
    clip = comfy.sd.CLIP(target, model_options=options)
    init_weights(clip.cond_stage_model, seed)
    return clip


def tiny_vae16(seed: int = 42):
    """A TAESD with 16 latent channels (the Flux/SD3 latent width), seeded."""
    return tiny_vae(seed, latent_channels=16)


# Chroma: Flux.1's blocks without the pooled vector, modulated by one "approximator" network
# whose output width is the hidden width; in_channels counts a 2×2 patch of 16 channels.
CHROMA_SMALL = dict(image_model="chroma", in_channels=64, out_channels=64, context_in_dim=768,
                    hidden_size=32, mlp_ratio=2.0, num_heads=2, depth=2, depth_single_blocks=1,
                    axes_dim=[4, 6, 6], theta=10000, patch_size=2, qkv_bias=True, in_dim=64,
                    out_dim=32, hidden_dim=32, n_layers=1, txt_ids_dims=[], vec_in_dim=None)


@torch.inference_mode()
def tiny_chroma(seed: int = 50):
    """A ModelPatcher around a seeded tiny Chroma (Flux-derived, T5 only)."""
    import comfy.supported_models as sm

    return _patcher(sm.Chroma(dict(CHROMA_SMALL)), seed)


@torch.inference_mode()
def tiny_chroma_clip(seed: int = 51):
    """ComfyUI's Chroma text encoder: T5 alone, unpadded (each prompt's own length), small."""
    import comfy.sd
    import comfy.supported_models as sm

    target = sm.Chroma(dict(CHROMA_SMALL)).clip_target({})
    clip = comfy.sd.CLIP(target, model_options={"t5xxl_model_config": dict(T5_FLUX)})
    init_weights(clip.cond_stage_model, seed)
    return clip
