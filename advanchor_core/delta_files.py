"""Erasure files: safetensors with JSON metadata, and the LoRA extraction ComfyUI loads.

Why safetensors only: a pickle can run code; an erasure file is shared between users.
Why LoRA keys `diffusion_model.<module>.lora_up/lora_down/alpha`: ComfyUI's LoraLoader maps
that generic form onto any UNet it loads, so the file drops into existing graphs.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Mapping

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from .erasure import Erasure
from .errors import AdvAnchorError

LORA_PREFIX = "diffusion_model."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary name beside `path`, renamed onto it only if the block succeeds.

    Why: a reader (ComfyUI's loaders, a user's file browser) never sees a half-written file,
    and a cancelled or failed write leaves nothing behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_save(tensors: Mapping[str, Tensor], path: str | os.PathLike, metadata: Mapping[str, str]) -> Path:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), dict(metadata))
    return Path(path)


def save_erasure(path: str | os.PathLike, erasure: Erasure) -> Path:
    """Write `erasure` as a float32 weight-diff file, whatever the model's dtype.

    Why float32: a delta is a small change; stored in an fp16/bf16/float8 model's own dtype
    its smallest entries (fp16: below 6e-8; float8: below ~2e-3) would round to zero. The
    loader adds it to the weights in float32, so nothing else changes.
    """
    return atomic_save({k: v.float() for k, v in erasure.tensors.items()}, path, erasure.metadata)


def load_erasure(path: str | os.PathLike) -> Erasure:
    path = Path(path)
    if path.suffix != ".safetensors":
        raise AdvAnchorError(f"{path.name} is not a .safetensors file: only safetensors erasures "
                             "are read (pickled files can run code)")
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        metadata = dict(f.metadata() or {})
    return Erasure(tensors, metadata)


def check_compatible(tensors: Mapping[str, Tensor], weights: Mapping[str, Tensor]) -> None:
    """Raise, naming the first problems, unless every delta matches a weight's name and shape."""
    missing = [k for k in tensors if k not in weights]
    wrong = [k for k in tensors if k in weights and tensors[k].shape != weights[k].shape]
    if missing or wrong:
        detail = (f"{len(missing)} keys not in the model (first: {missing[0]!r})" if missing else
                  f"{len(wrong)} shapes differ (first: {wrong[0]!r} {tuple(tensors[wrong[0]].shape)} "
                  f"vs {tuple(weights[wrong[0]].shape)})")
        raise AdvAnchorError(f"this erasure does not fit this model: {detail}; apply it to the "
                             "model family it was made on")


def extract_lora(tensors: Mapping[str, Tensor], rank: int, prefix: str = LORA_PREFIX) -> dict[str, Tensor]:
    """Rank-`rank` SVD of each matrix/conv delta; 1-D deltas (biases, norms) kept exactly.

    alpha = rank, so ComfyUI's scale alpha/rank is 1 and up @ down is the delta itself.
    """
    if rank < 1:
        raise AdvAnchorError(f"LoRA rank is {rank}: give at least 1")
    lora: dict[str, Tensor] = {}
    for name, d in tensors.items():
        module, kind = name.rsplit(".", 1)
        key = prefix + module
        if d.dim() == 1:
            lora[f"{key}.diff_b" if kind == "bias" else f"{key}.diff"] = d.float()
            continue
        mat = d.float().flatten(1)
        u, s, vh = torch.linalg.svd(mat, full_matrices=False)
        r = min(rank, s.shape[0])
        root = s[:r].sqrt()
        up = (u[:, :r] * root).reshape(d.shape[0], r, *([1] * (d.dim() - 2)))
        down = (root[:, None] * vh[:r]).reshape(r, *d.shape[1:])
        lora.update({f"{key}.lora_up.weight": up.contiguous(),
                     f"{key}.lora_down.weight": down.contiguous(),
                     f"{key}.alpha": torch.tensor(float(r))})
    return lora


def lora_to_delta(lora: Mapping[str, Tensor], prefix: str = LORA_PREFIX) -> dict[str, Tensor]:
    """Inverse of `extract_lora` (up to the truncation): for checks and for applying a LoRA."""
    out: dict[str, Tensor] = {}
    for key, v in lora.items():
        module = key[len(prefix):] if key.startswith(prefix) else key
        if key.endswith(".lora_up.weight"):
            base = key[:-len(".lora_up.weight")]
            down = lora[f"{base}.lora_down.weight"]
            r = down.shape[0]
            scale = lora[f"{base}.alpha"].item() / r if f"{base}.alpha" in lora else 1.0
            w = (v.flatten(1) @ down.flatten(1)) * scale
            out[module[:-len(".lora_up.weight")] + ".weight"] = w.reshape(v.shape[0], *down.shape[1:])
        elif key.endswith(".diff_b"):
            out[module[:-len(".diff_b")] + ".bias"] = v
        elif key.endswith(".diff"):
            out[module[:-len(".diff")] + ".weight"] = v
    return out
