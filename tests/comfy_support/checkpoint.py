"""Generate thin checkpoints that ComfyUI's CheckpointLoaderSimple detects as SD1.5, SDXL, SD2.x.

Detection only looks at context_dim 768, model_channels 320, no ADM, no linear transformer
projections, no temporal attention: a one-level UNet with 320 channels passes, with a
full-shape CLIP-L (a CLIP with fewer layers does not reload) and a TAESD VAE. Seeded random
weights, ~290 MB, ~10 s. Generated per test session into a temporary folder, never committed.

SDXL (comfy/model_detection.py + supported_models): context 2048, ADM 2816, linear
projections, 320 channels and a per-input-block transformer depth that is one of the SDXL
family's lists; the smallest is Segmind Vega's [0, 0, 1, 1, 2, 2] (three levels of two res
blocks). Channels stay 320 at every level and the output/middle blocks carry no transformer,
which detection does not look at. It loads as an SDXL-family model (model_base.SDXL). SD2.x:
context 1024 and linear projections (read from the first input transformer), no ADM; v-prediction is guessed from the spread of
`output_blocks.11.1.transformer_blocks.0.norm1.bias`, so the v checkpoint has twelve output
blocks with a transformer in the last and that bias spread wide. The text encoders must be
full-shape (ComfyUI builds them from fixed configs): CLIP-L + OpenCLIP-bigG for SDXL
(~1.6 GB fp16), OpenCLIP-H for SD2 (~0.7 GB).

Full-size SD1.5 and SDXL ("sd15-full", "sdxl-full": ~2 GB and ~7 GB in fp16, a minute or two)
are for the GPU check (`benchmarks/gpu_graphs.py`), not the tests.

    python -m tests.comfy_support.checkpoint OUT.safetensors [SEED] [sd15|sdxl|sd2|sd15-full|sdxl-full]
"""
from __future__ import annotations

import sys

from .tiny import UNET_SMALL

THIN_UNET = dict(UNET_SMALL, model_channels=320)  # the width detection reads as SD1.5


THIN_SDXL_UNET = dict(
    in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2],
    channel_mult=[1, 1, 1], transformer_depth=[0, 0, 1, 1, 2, 2],
    transformer_depth_output=[0] * 9, transformer_depth_middle=0,
    use_linear_in_transformer=True, context_dim=2048, adm_in_channels=2816,
    num_classes="sequential", use_temporal_attention=False, image_size=32,
    use_spatial_transformer=True, legacy=False,
)
THIN_SD2_UNET = dict(
    in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2, 2],
    channel_mult=[1, 1, 1, 1], transformer_depth=[1] + [0] * 7,
    transformer_depth_output=[1] + [0] * 11, transformer_depth_middle=0,  # popped from the end
    use_linear_in_transformer=True, context_dim=1024, adm_in_channels=None,
    use_temporal_attention=False, image_size=32, use_spatial_transformer=True, legacy=False,
)
V_PRED_PROBE = "output_blocks.11.1.transformer_blocks.0.norm1.bias"
THIN_UNETS = {"sd15": THIN_UNET, "sdxl": THIN_SDXL_UNET, "sd2": THIN_SD2_UNET}

# the real SD1.5 and SDXL UNets (ComfyUI's detected configs of the released checkpoints)
FULL_UNETS = {
    "sd15": dict(in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2, 2],
                 channel_mult=[1, 2, 4, 4], transformer_depth=[1, 1, 1, 1, 1, 1, 0, 0],
                 transformer_depth_output=[1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
                 transformer_depth_middle=1, use_linear_in_transformer=False, context_dim=768,
                 adm_in_channels=None, use_temporal_attention=False, image_size=32,
                 use_spatial_transformer=True, legacy=False),
    "sdxl": dict(in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2],
                 channel_mult=[1, 2, 4], transformer_depth=[0, 0, 2, 2, 10, 10],
                 transformer_depth_output=[0, 0, 0, 2, 2, 2, 10, 10, 10], transformer_depth_middle=10,
                 use_linear_in_transformer=True, context_dim=2048, adm_in_channels=2816,
                 num_classes="sequential", use_temporal_attention=False, image_size=32,
                 use_spatial_transformer=True, legacy=False),
}


def save_checkpoint(path: str, model, clip, vae, metadata: dict) -> None:
    """comfy.sd.save_checkpoint with the CLIP and VAE parts also passed as extra keys: ComfyUI
    0.12.1 drops them (ModelPatcher.state_dict_for_saving; fixed upstream after the release)."""
    import comfy.sd

    config = model.model.model_config
    clip.load_model()
    extra = dict(config.process_clip_state_dict_for_saving(clip.get_sd()))
    extra.update(config.process_vae_state_dict_for_saving(vae.get_sd()))
    comfy.sd.save_checkpoint(path, model, clip, vae, metadata=metadata, extra_keys=extra)


def write_checkpoint(path: str, kind: str, seed: int = 0) -> None:
    """A checkpoint of `kind`: "sd15", "sdxl", "sd2" (thin; SD2.x as v-prediction) or
    "sd15-full", "sdxl-full" (the real UNets stored fp16), with full-shape text encoders and a
    TAESD VAE, seeded random weights."""
    import torch

    import comfy.model_base
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.sd

    from . import tiny

    family = kind.removesuffix("-full")
    unet = FULL_UNETS[family] if kind.endswith("-full") else THIN_UNETS[family]
    with torch.inference_mode():
        config = tiny.family_config(family, unet)
        if kind.endswith("-full"):
            config.set_inference_dtype(torch.float16, None)
        if family == "sd2":
            base = comfy.model_base.BaseModel(config, model_type=comfy.model_base.ModelType.V_PREDICTION)
        else:
            base = config.get_model({})
        tiny.init_weights(base.diffusion_model, seed)
        for name, p in base.diffusion_model.named_parameters():
            if name.startswith("out.2."):  # a random UNet's output explodes through 1000 steps
                p.mul_(0.1)
            if name == V_PRED_PROBE and family == "sd2":
                p.mul_(0).add_(torch.linspace(-0.5, 0.5, p.numel()))   # std ≈ 0.29 > 0.09: v
        model = comfy.model_patcher.ModelPatcher(base, mm.get_torch_device(), mm.unet_offload_device())
        clip = comfy.sd.CLIP(config.clip_target({}), model_options={"dtype": torch.float16})
        tiny.init_weights(clip.cond_stage_model, seed + 1)
        vae = tiny.tiny_vae(seed + 2)
        save_checkpoint(path, model, clip, vae, metadata={"advanchor.test": kind})


def main() -> None:
    from . import runtime

    runtime.bootstrap()
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    write_checkpoint(sys.argv[1], sys.argv[3] if len(sys.argv) > 3 else "sd15", seed)


if __name__ == "__main__":
    main()
