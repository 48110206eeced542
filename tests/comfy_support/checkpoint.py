"""Generate a thin SD1.5 checkpoint that ComfyUI's CheckpointLoaderSimple detects as SD1.5.

Detection only looks at context_dim 768, model_channels 320, no ADM, no linear transformer
projections, no temporal attention: a one-level UNet with 320 channels passes, with a
full-shape CLIP-L (a CLIP with fewer layers does not reload) and a TAESD VAE. Seeded random
weights, ~290 MB, ~10 s. Generated per test session into a temporary folder, never committed.

    python checkpoint.py OUT.safetensors [SEED]
"""
from __future__ import annotations

import sys
from pathlib import Path

THIN_UNET = dict(
    in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[1], channel_mult=[1],
    transformer_depth=[1], transformer_depth_output=[1, 1], transformer_depth_middle=1,
    use_linear_in_transformer=False, context_dim=768, adm_in_channels=None,
    use_temporal_attention=False, image_size=32, use_spatial_transformer=True, legacy=False,
    num_heads=8, num_head_channels=-1,
)


def write_thin_checkpoint(path: str, seed: int = 0) -> None:
    import torch

    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.sd
    import tiny

    with torch.inference_mode():
        config = tiny.sd15_config(THIN_UNET)
        base = config.get_model({})
        tiny.init_weights(base.diffusion_model, seed)
        # a random UNet's output explodes through 1000-step schedules; keep it modest
        for name, p in base.diffusion_model.named_parameters():
            if name.startswith("out.2."):
                p.mul_(0.1)
        model = comfy.model_patcher.ModelPatcher(base, mm.get_torch_device(), mm.unet_offload_device())
        clip = comfy.sd.CLIP(config.clip_target({}), model_options={"dtype": torch.float16})
        tiny.init_weights(clip.cond_stage_model, seed + 1)
        vae = tiny.tiny_vae(seed + 2)
        comfy.sd.save_checkpoint(path, model, clip, vae, metadata={"advanchor.test": "thin-sd15"})


def main() -> None:
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    import runtime

    runtime.bootstrap()
    write_thin_checkpoint(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)


if __name__ == "__main__":
    main()
