"""Thin SD3 model files that ComfyUI's own loaders detect: the transformer for UNETLoader, a
CLIP-L for CLIPLoader (type sd3), a 16-channel TAESD for VAELoader, and the transformer with
that VAE in one checkpoint for CheckpointLoaderSimple (as SD3.5's own files, without text
encoders); where this ComfyUI detects one, a thin Flux.1 dev transformer for UNETLoader.

Why these: SD3's MMDiT is detected from its weights at any width that is 64 × depth
(tests/comfy_support/tiny_dit.py), but ComfyUI builds text encoders from fixed configs, so the
CLIP-L is full-shape (12 layers, ~250 MB fp16, random); CLIP-G and T5-XXL would be 1.4 GB and
9 GB and are left out (SD3 runs on CLIP-L alone: its conditioning is then CLIP-L's rows padded
to 4096). Flux's transformer loads at 128 channels (one head) in ComfyUI 0.12.1, never in 0.3.75
(24 heads of 128 channels, 3072 wide); its T5-XXL has no thin file in either. Seeded, ~5 s,
generated per test session, never committed.

    python checkpoint_dit.py MODELS_DIR [SEED]
"""
from __future__ import annotations

import sys
from pathlib import Path

FLUX_FILE = "thin_flux.safetensors"  # diffusion_models/, where this ComfyUI detects it
FILES = {"diffusion_models": "thin_sd3.safetensors", "text_encoders": "thin_clip_l.safetensors",
         "vae": "thin_taesd16.safetensors", "checkpoints": "thin_sd3_checkpoint.safetensors"}


def write_sd3_files(models: Path, seed: int = 0) -> None:
    import torch

    import comfy.sd
    import comfy.supported_models_base
    import comfy.text_encoders.sd3_clip as sd3
    import comfy.utils
    from . import tiny, tiny_dit

    with torch.inference_mode():
        model = tiny_dit.tiny_sd3(seed)
        target = comfy.supported_models_base.ClipTarget(
            sd3.SD3Tokenizer, sd3.sd3_clip(clip_l=True, clip_g=False, t5=False))
        clip = comfy.sd.CLIP(target, model_options={"dtype": torch.float16})
        tiny.init_weights(clip.cond_stage_model, seed + 1)
        vae = tiny_dit.tiny_vae16(seed + 2)
        parts = {"diffusion_models": model.model.diffusion_model.state_dict(),
                 "text_encoders": clip.cond_stage_model.clip_l.transformer.state_dict(),
                 "vae": vae.first_stage_model.state_dict()}
        parts["checkpoints"] = {
            **{f"model.diffusion_model.{k}": v for k, v in parts["diffusion_models"].items()},
            **{f"first_stage_model.{k}": v for k, v in parts["vae"].items()}}
        for folder, sd in parts.items():
            (models / folder).mkdir(parents=True, exist_ok=True)
            comfy.utils.save_torch_file({k: v.contiguous() for k, v in sd.items()},
                                        str(models / folder / FILES[folder]))


def write_flux_file(models: Path, seed: int = 0) -> bool:
    """A thin Flux.1 dev transformer for UNETLoader, kept only if this ComfyUI loads it back
    (0.12.1 reads the head count from the width; 0.3.75 fixes 24 heads, 3072 channels)."""
    import torch

    import comfy.sd
    import comfy.utils
    from . import tiny_dit

    path = models / "diffusion_models" / FLUX_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        sd = tiny_dit.loadable_flux(seed + 3).model.diffusion_model.state_dict()
        comfy.utils.save_torch_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    try:
        loaded = comfy.sd.load_diffusion_model(str(path))
        ok = loaded.model.diffusion_model.hidden_size == tiny_dit.FLUX_LOADABLE["hidden_size"]
    except Exception:  # noqa: BLE001 — any refusal means: this ComfyUI cannot load it
        ok = False
    if not ok:
        path.unlink()
    return ok


def main() -> None:
    from . import runtime

    runtime.bootstrap()
    models, seed = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0
    write_sd3_files(models, seed)
    write_flux_file(models, seed)


if __name__ == "__main__":
    main()
