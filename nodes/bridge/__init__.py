"""ComfyUI objects ↔ the core's interfaces: the only code of the pack that knows both sides.

One idea a file, data flowing one way (ComfyUI object in, core interface out):
- `denoiser`: MODEL → a `Denoiser` that trains through ComfyUI's own weight path;
- `erasure`: a trained weight change → patches on a clone of the MODEL;
- `text`: CLIP → a `TextEncoder` (conditioning tensors, token positions);
- `latents`: LATENT → clean latents in the UNet's space;
- `progress`: the core's step reports → ComfyUI's progress bar; Cancel → the core's cancel;
- `paths`: filename prefixes → files inside ComfyUI's output folder;
- `families`, `checkpointing`: which models the pack supports (SD UNets, Flux, SD3), and
  memory-saving recomputation;
- `inplace`, `rope`: training through Flux/SD3 blocks written for inference (in-place residual
  adds, a RoPE kernel without a backward);
- `blocks`: which Flux/SD3 blocks read the text (Concept Sensitivity's ranking).

ComfyUI runs every node under `torch.inference_mode()`; tensors made there are inference
tensors that autograd refuses to save, so training runs inside `training_mode()`.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def training_mode() -> Iterator[None]:
    """Leave ComfyUI's inference mode so autograd works (grad on by default inside)."""
    with torch.inference_mode(False), torch.enable_grad():
        yield
