"""Tiny, seeded, real ComfyUI models: an SD1.5-layout UNet, a 2-layer CLIP-L, a TAESD VAE.

Built exactly as ComfyUI builds loaded models (supported_models.SD15 → BaseModel →
ModelPatcher, comfy.sd.CLIP, comfy.sd.VAE) and, like CheckpointLoaderSimple's, created under
inference mode, so the pack meets the same inference tensors it meets in a real graph.
ComfyUI's layers start as torch.empty: every weight is initialised here from a seed.
"""
from __future__ import annotations

import torch

UNET_SMALL = dict(
    in_channels=4, out_channels=4, model_channels=32, num_res_blocks=[1], channel_mult=[1],
    transformer_depth=[1], transformer_depth_output=[1, 1], transformer_depth_middle=1,
    use_linear_in_transformer=False, context_dim=768, adm_in_channels=None,
    use_temporal_attention=False, image_size=32, use_spatial_transformer=True, legacy=False,
    num_heads=8, num_head_channels=-1,
)
CLIP_SMALL = {"num_hidden_layers": 2, "intermediate_size": 256}


@torch.inference_mode()
def init_weights(module: torch.nn.Module, seed: int) -> None:
    """Fan-in scaled normal matrices, unit norm scales, small biases; zero-init-free so every
    parameter (including ComfyUI's zero-initialised output convs) carries signal."""
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        if p.dim() >= 2:
            p.copy_(torch.randn(p.shape, generator=g) / max(1, p[0].numel()) ** 0.5)
        elif name.endswith("weight") or name.endswith("scale"):
            p.copy_(1.0 + 0.05 * torch.randn(p.shape, generator=g))
        elif p.numel() == 1:
            continue
        else:
            p.copy_(0.02 * torch.randn(p.shape, generator=g))


def seeded_patcher(base, seed: int):
    """A ModelPatcher around `base` with seeded weights, on ComfyUI's devices, as a loader makes it."""
    import comfy.model_management as mm
    import comfy.model_patcher

    init_weights(base.diffusion_model, seed)
    base.eval()
    return comfy.model_patcher.ModelPatcher(base, load_device=mm.get_torch_device(),
                                            offload_device=mm.unet_offload_device())


def sd15_config(unet_config: dict | None = None):
    import comfy.supported_models

    return comfy.supported_models.SD15(dict(unet_config or UNET_SMALL))


@torch.inference_mode()
def tiny_model(seed: int = 0, unet_config: dict | None = None):
    """A ModelPatcher around a seeded SD1.5-layout BaseModel (ε-prediction, 1000 steps)."""
    return seeded_patcher(sd15_config(unet_config).get_model({}), seed)


@torch.inference_mode()
def tiny_clip(seed: int = 1, model_config: dict | None = None):
    """ComfyUI's SD1.5 CLIP with a reduced CLIP-L (ComfyUI's real tokenizer)."""
    import comfy.sd

    target = sd15_config().clip_target({})
    clip = comfy.sd.CLIP(target, model_options={"clip_l_model_config": dict(model_config or CLIP_SMALL)})
    init_weights(clip.cond_stage_model, seed)
    return clip


@torch.inference_mode()
def tiny_vae(seed: int = 2, latent_channels: int = 4):
    """A TAESD VAE with `latent_channels` (4: SD1.x/SD2/SDXL; 16: Flux/SD3; 128: Flux.2, whose
    channel count ComfyUI reads from the file's metadata), seeded."""
    import comfy.sd
    import comfy.taesd.taesd

    taesd = comfy.taesd.taesd.TAESD(latent_channels=latent_channels)
    init_weights(taesd, seed)
    sd = {k: v.clone() for k, v in taesd.state_dict().items()}
    if latent_channels == 128:
        return comfy.sd.VAE(sd=sd, metadata={"tae_latent_channels": latent_channels})
    return comfy.sd.VAE(sd=sd)


# --- SDXL and SD2.x layouts ---------------------------------------------------------------
# Heads of 64 channels are forced by the SDXL/SD2 configs (unet_extra_config), so 64 channels
# is the smallest width. Text encoders keep their real widths (the UNet's context is their
# concatenation: 768 + 1280 = 2048 for SDXL, 1024 for SD2) with 3 layers, the fewest for which
# ComfyUI's penultimate-layer option is valid.
UNET_SDXL_SMALL = dict(UNET_SMALL, model_channels=64, use_linear_in_transformer=True,
                       context_dim=2048, adm_in_channels=2816, num_classes="sequential")
UNET_SD2_SMALL = dict(UNET_SMALL, model_channels=64, use_linear_in_transformer=True,
                      context_dim=1024)
CLIP_LAYERS3 = {"num_hidden_layers": 3, "intermediate_size": 256}


def family_config(family: str, unet_config: dict | None = None):
    """The `comfy.supported_models` config of `family` ("sd15", "sd2", "sdxl")."""
    import comfy.supported_models as sm

    cls, default = {"sd15": (sm.SD15, UNET_SMALL), "sd2": (sm.SD20, UNET_SD2_SMALL),
                    "sdxl": (sm.SDXL, UNET_SDXL_SMALL)}[family]
    return cls(dict(unet_config or default))


@torch.inference_mode()
def tiny_family_model(family: str, seed: int = 0, prediction: str = "eps",
                      unet_config: dict | None = None):
    """A ModelPatcher around a seeded UNet of `family`; `prediction` "eps" or "v" (SD2.x's
    768-px models are v-prediction; ComfyUI guesses that from weights, so it is set here)."""
    import comfy.model_base

    config = family_config(family, unet_config)
    if prediction == "v":
        base = comfy.model_base.BaseModel(config, model_type=comfy.model_base.ModelType.V_PREDICTION)
    else:
        base = config.get_model({})
    return seeded_patcher(base, seed)


@torch.inference_mode()
def tiny_family_clip(family: str, seed: int = 1):
    """ComfyUI's CLIP of `family` with 3-layer encoders (real tokenizers, real widths)."""
    import comfy.sd

    names = {"sd15": ["clip_l"], "sd2": ["clip_h"], "sdxl": ["clip_l", "clip_g"]}[family]
    options = {f"{n}_model_config": dict(CLIP_LAYERS3) for n in names}
    clip = comfy.sd.CLIP(family_config(family).clip_target({}), model_options=options)
    init_weights(clip.cond_stage_model, seed)
    return clip
