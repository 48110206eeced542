"""ComfyUI objects ↔ the core's interfaces: the only code of the pack that knows both sides.

One idea a file, data flowing one way (ComfyUI object in, core interface out):
- `denoiser`: MODEL → a `Denoiser` that trains through ComfyUI's own weight path;
- `loading`: MODEL → the private clone it trains, held whole on the device (dynamic VRAM,
  inference tensors);
- `switching`: two MODELs that share weights → two denoisers, loaded one at a time;
- `erasure`: an erasure → patches and its metadata on a clone of the MODEL;
- `text`: CLIP → a `TextEncoder` (conditioning tensors, token positions, token labels);
  `llm_text` finds a phrase's rows in an LLM encoder's chat template; `ragged` holds prompts of
  their own lengths (Chroma, Z-Image, Qwen-Image, Flux.2) in one tensor;
- `latents`: LATENT → clean latents in the UNet's space;
- `progress`: the core's step reports (or sampling steps) → ComfyUI's progress bar; Cancel →
  the core's cancel;
- `sampling`: prompts → images through ComfyUI's own KSampler path (Measure Erasure);
- `paths`: filename prefixes → files inside ComfyUI's output folder;
- `families`, `checkpointing`: which models the pack supports (SD UNets, Flux.1, SD3, Chroma,
  Z-Image, Qwen-Image, Flux.2), and memory-saving recomputation;
- `inplace`, `rope`: training through Flux/SD3 blocks written for inference (in-place residual
  adds, a RoPE kernel without a backward);
- `blocks`: which joint-attention blocks read the text (Concept Sensitivity's ranking).

ComfyUI runs every node under `torch.inference_mode()`; tensors made there are inference
tensors that autograd refuses to save, so training runs inside `training_mode()`.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def training_mode() -> Iterator[None]:
    """Leave ComfyUI's inference mode so autograd works (grad on by default inside), and tell
    ComfyUI a training run is on, as its own trainer does (`model_management.in_training`, where
    the version has it: models then take their differentiable paths, e.g. RoPE without in-place
    writes)."""
    import comfy.model_management as mm

    flag = hasattr(mm, "in_training")
    before = getattr(mm, "in_training", False)
    with torch.inference_mode(False), torch.enable_grad():
        if flag:
            mm.in_training = True
        try:
            yield
        finally:
            if flag:
                mm.in_training = before
