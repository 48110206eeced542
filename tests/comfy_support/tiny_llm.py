"""Tiny, seeded, real ComfyUI transformers whose text comes from an LLM: Z-Image (Lumina2's
NextDiT, Qwen3-4B), Qwen-Image (its MMDiT, Qwen2.5-VL) and Flux.2 Klein (Flux blocks, Qwen3-4B),
built from ComfyUI's own classes at small widths, with ComfyUI's real tokenizers and chat
templates.

Widths are what the layouts force: Z-Image's timestep modulation is 256 wide, so its hidden
width is at least 256 (head width = the sum of its rotary axes); Qwen-Image's head width is the
sum of its rotary axes too. The encoders keep their vocabularies (151,936 tokens) and ComfyUI's
fixed 128-channel attention heads; what shrinks is the hidden width (64) and the layer count —
except where a family reads a deep layer: Z-Image reads the penultimate layer (3 layers at
least), Flux.2 Klein stacks the inputs of layers 9, 18 and 27 (28 layers), so its context is
3 × 64 wide. Qwen2.5-VL's vision tower is fixed at full size and text prompts never reach it:
it is dropped before seeding.
"""
from __future__ import annotations

import torch

from .tiny import init_weights
from .tiny_dit import _patcher

LLM_HIDDEN = 64
QWEN_SMALL = {"hidden_size": LLM_HIDDEN, "intermediate_size": 128, "num_hidden_layers": 3,
              "num_attention_heads": 2, "num_key_value_heads": 1}
ZIMAGE_SMALL = {"image_model": "lumina2", "patch_size": 2, "in_channels": 16, "dim": 256,
                "cap_feat_dim": LLM_HIDDEN, "n_layers": 1, "n_refiner_layers": 1, "n_heads": 2,
                "n_kv_heads": 2, "axes_dims": [32, 48, 48], "axes_lens": [1536, 512, 512],
                "rope_theta": 256.0, "ffn_dim_multiplier": 8.0 / 3.0, "qk_norm": True,
                "z_image_modulation": True, "time_scale": 1000.0, "pad_tokens_multiple": 32}
QWEN_IMAGE_SMALL = {"image_model": "qwen_image", "patch_size": 2, "in_channels": 64,
                    "out_channels": 16, "num_layers": 2, "attention_head_dim": 32,
                    "num_attention_heads": 2, "joint_attention_dim": LLM_HIDDEN,
                    "axes_dims_rope": [8, 12, 12]}
# Flux.2's fixed settings as ComfyUI's detection sets them (global modulation, gated MLP, no
# biases, four rotary axes with the text's positions on the last, 128-channel latents, patch 1)
FLUX2_SMALL = {"image_model": "flux2", "in_channels": 128, "out_channels": 128, "vec_in_dim": None,
               "context_in_dim": 3 * LLM_HIDDEN, "hidden_size": 64, "mlp_ratio": 3.0, "num_heads": 2,
               "depth": 1, "depth_single_blocks": 1, "axes_dim": [8, 8, 8, 8], "theta": 2000,
               "patch_size": 1, "qkv_bias": False, "guidance_embed": False, "txt_ids_dims": [3],
               "global_modulation": True, "mlp_silu_act": True, "ops_bias": False,
               "default_ref_method": "index", "ref_index_scale": 10.0}


@torch.inference_mode()
def _model(config_class: str, layout: dict, seed: int, storage: torch.dtype = torch.float32):
    """`storage` other than float32: weights stored so, computed in float32 (ComfyUI's manual
    cast), as the diffusion-model loader sets a model up for its weight_dtype."""
    import comfy.supported_models as sm

    config = getattr(sm, config_class)(dict(layout))
    config.set_inference_dtype(storage, None if storage == torch.float32 else torch.float32)
    return _patcher(config, seed)


@torch.inference_mode()
def _clip(config_class: str, layout: dict, name: str, llm: dict, seed: int):
    import comfy.sd
    import comfy.supported_models as sm

    target = getattr(sm, config_class)(dict(layout)).clip_target({})
    clip = comfy.sd.CLIP(target, model_options={f"{name}_model_config": dict(llm), "dtype": torch.float32})
    transformer = getattr(clip.cond_stage_model, name).transformer
    if getattr(transformer, "visual", None) is not None:
        transformer.visual = None
    init_weights(clip.cond_stage_model, seed)
    return clip


def tiny_zimage(seed: int = 60, storage: torch.dtype = torch.float32):
    return _model("ZImage", ZIMAGE_SMALL, seed, storage)


def tiny_zimage_clip(seed: int = 61):
    """Qwen3-4B's layout as Z-Image reads it: the penultimate layer, the chat template kept."""
    return _clip("ZImage", ZIMAGE_SMALL, "qwen3_4b", QWEN_SMALL, seed)


def tiny_qwen_image(seed: int = 70, storage: torch.dtype = torch.float32):
    return _model("QwenImage", QWEN_IMAGE_SMALL, seed, storage)


def tiny_qwen_image_clip(seed: int = 71):
    """Qwen2.5-VL's language model: the last layer, the system template's rows dropped."""
    return _clip("QwenImage", QWEN_IMAGE_SMALL, "qwen25_7b", dict(QWEN_SMALL, num_hidden_layers=2), seed)


def tiny_flux2(seed: int = 80, storage: torch.dtype = torch.float32):
    return _model("Flux2", FLUX2_SMALL, seed, storage)


@torch.inference_mode()
def tiny_flux2_clip(seed: int = 81):
    """Flux.2 Klein's Qwen3-4B: three stacked layers, every prompt padded to 512 tokens."""
    import comfy.sd
    import comfy.supported_models_base
    import comfy.text_encoders.flux as flux

    target = comfy.supported_models_base.ClipTarget(flux.KleinTokenizer, flux.klein_te(model_type="qwen3_4b"))
    options = {"qwen3_4b_model_config": dict(QWEN_SMALL, num_hidden_layers=28), "dtype": torch.float32}
    clip = comfy.sd.CLIP(target, model_options=options)
    init_weights(clip.cond_stage_model, seed)
    return clip


FLUX2_DEV_SMALL = dict(FLUX2_SMALL, guidance_embed=True, context_in_dim=3 * LLM_HIDDEN)
# Flux.2 dev's Mistral-3 stacks the inputs of layers 10, 20 and 30: 31 layers at least
MISTRAL_SMALL = dict(QWEN_SMALL, num_hidden_layers=31)
CONTROL = {1: "<s>", 2: "</s>", 3: "[INST]", 4: "[/INST]", 11: "<pad>", 17: "[SYSTEM_PROMPT]",
           18: "[/SYSTEM_PROMPT]"}


def byte_tekken(specials: int = 1000) -> torch.Tensor:
    """A Mistral "tekken" tokenizer file as ComfyUI reads it from Flux.2 dev's text-encoder
    file: control tokens, then one token per byte and no merges (the real vocabulary ships
    only inside that file). Prompts tokenize to their bytes."""
    import base64
    import json

    blob = {"config": {"pattern": "", "num_vocab_tokens": 256, "default_vocab_size": specials + 256,
                       "default_num_special_tokens": specials, "version": "v7"},
            "vocab": [{"rank": b, "token_bytes": base64.b64encode(bytes([b])).decode(), "token_str": None}
                      for b in range(256)],
            "special_tokens": [{"rank": i, "token_str": CONTROL.get(i, f"<SPECIAL_{i}>"), "is_control": True}
                               for i in range(specials)]}
    return torch.frombuffer(bytearray(json.dumps(blob).encode()), dtype=torch.uint8)


def tiny_flux2_dev(seed: int = 82, storage: torch.dtype = torch.float32):
    return _model("Flux2", FLUX2_DEV_SMALL, seed, storage)


@torch.inference_mode()
def tiny_flux2_dev_clip(seed: int = 83):
    """Flux.2 dev's Mistral-3: three stacked layers, each prompt at its own length (ComfyUI's
    model pads it to 512 rows), with a byte-level stand-in for its tokenizer file."""
    import comfy.sd
    import comfy.supported_models_base
    import comfy.text_encoders.flux as flux

    target = comfy.supported_models_base.ClipTarget(flux.Flux2Tokenizer, flux.flux2_te())
    options = {"mistral3_24b_model_config": dict(MISTRAL_SMALL), "dtype": torch.float32}
    clip = comfy.sd.CLIP(target, model_options=options, tokenizer_data={"tekken_model": byte_tekken()})
    init_weights(clip.cond_stage_model, seed)
    return clip
