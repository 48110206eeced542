"""ComfyUI objects ↔ the core's interfaces. The only module of the pack that knows both sides.

What it translates:
- MODEL (a ModelPatcher) → a `Denoiser` over `model.model.diffusion_model`, ε in DDPM space,
  the noise schedule from ComfyUI's `model_sampling`. The weights are never written: a delta
  is applied with `torch.func.functional_call`, so the input MODEL stays bit-identical.
- CLIP → a `TextEncoder` (per-token conditioning, token positions from ComfyUI's tokenizer).
- LATENT → clean latents in the model's space (`process_latent_in`, as KSampler does).
- An erasure (weight delta) → ModelPatcher patches on a clone.

ComfyUI runs every node under `torch.inference_mode()`; weights and conditioning made there are
inference tensors that autograd refuses to save. Training therefore runs inside
`training_mode()`, and a grad-enabled forward hands the UNet detached copies of inference
weights (freed after the backward pass).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Callable, Iterator, Mapping, Sequence

import torch
from torch import Tensor
from torch.func import functional_call

import comfy.model_management
import comfy.model_sampling
import comfy.utils

from ..advanchor_core.delta_files import check_compatible
from ..advanchor_core.errors import AdvAnchorError, Cancelled
from ..advanchor_core.schedule import NoiseSchedule
from ..advanchor_core.text import check_phrase_in, subsequence_positions

DIFFUSION_PREFIX = "diffusion_model."


@contextlib.contextmanager
def training_mode() -> Iterator[None]:
    """Leave ComfyUI's inference mode so autograd works (grad on by default inside)."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def normal_tensor(t: Tensor) -> Tensor:
    """A copy that is not an inference tensor (call inside `training_mode`)."""
    with torch.inference_mode(False):
        return t.detach().clone()


# --- MODEL -------------------------------------------------------------------------------
def model_schedule(patcher) -> tuple[NoiseSchedule, str]:
    """The discrete DDPM schedule and what the UNet predicts ("eps" or "v")."""
    sampling = patcher.get_model_object("model_sampling")
    if not isinstance(sampling, comfy.model_sampling.ModelSamplingDiscrete) or \
            isinstance(sampling, comfy.model_sampling.StableCascadeSampling):
        raise AdvAnchorError(
            f"this MODEL samples with {type(sampling).__bases__[0].__name__}; AdvAnchor supports "
            "UNet models with a discrete noise schedule (SD1.x, SD2.x): load one of those")
    if isinstance(sampling, comfy.model_sampling.V_PREDICTION):
        prediction = "v"
    elif isinstance(sampling, (comfy.model_sampling.X0, comfy.model_sampling.CONST)) or \
            not isinstance(sampling, comfy.model_sampling.EPS):
        raise AdvAnchorError("this MODEL does not predict noise (ε) or v: AdvAnchor supports "
                             "ε- and v-prediction UNets (SD1.x, SD2.x)")
    else:
        prediction = "eps"
    sigmas = sampling.sigmas.detach().to("cpu", torch.float64)
    with torch.inference_mode(False):
        return NoiseSchedule((1.0 / (1.0 + sigmas.clone() ** 2)).float()), prediction


class ComfyDenoiser:
    """The core's `Denoiser` over a ModelPatcher's UNet.

    Call `prepare()` first: it loads the model on ComfyUI's device through its model
    management (which applies the MODEL's own patches, e.g. LoRAs, as sampling would).
    Outputs are ε as float32; inputs are cast to the model's compute dtype.
    """

    def __init__(self, patcher):
        self.patcher = patcher
        self.model = patcher.model
        self.unet = self.model.diffusion_model
        if getattr(self.model, "adm_channels", 0):
            raise AdvAnchorError("this MODEL is also conditioned on pooled text and image size "
                                 "(SDXL-style); AdvAnchor erases from SD1.x/SD2.x UNets for now: "
                                 "load one of those")
        self.schedule, self.prediction = model_schedule(patcher)
        self.dtype = self.model.manual_cast_dtype or self.model.get_dtype()
        self.device = patcher.load_device

    def prepare(self) -> "ComfyDenoiser":
        comfy.model_management.load_models_gpu([self.patcher], force_full_load=True)
        return self

    def named_weights(self) -> dict[str, Tensor]:
        return dict(self.unet.named_parameters())

    def _weights(self, delta: Mapping[str, Tensor] | None) -> dict[str, Tensor]:
        grad = torch.is_grad_enabled()
        out = {}
        for name, w in self.unet.named_parameters():
            d = delta.get(name) if delta else None
            if d is not None:
                out[name] = (w.detach().to(d.dtype) + d).to(w.dtype)
            elif grad and w.is_inference():
                out[name] = w.detach().clone()   # autograd cannot save inference tensors
            else:
                out[name] = w.detach()
        return out

    def __call__(self, x_t: Tensor, t: Tensor, cond: Tensor,
                 delta: Mapping[str, Tensor] | None = None) -> Tensor:
        x = x_t.to(self.device, self.dtype)
        c = cond.to(self.device, self.dtype)
        steps = t.to(self.device).float()
        if delta or torch.is_grad_enabled():
            out = functional_call(self.unet, self._weights(delta), (x, steps), {"context": c},
                                  strict=False)
        else:
            out = self.unet(x, steps, context=c)
        out = out.float()
        if self.prediction == "v":
            return self.schedule.eps_from_v(x_t.to(out.device).float(), t.to(out.device), out)
        return out


def patch_keys(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {DIFFUSION_PREFIX + k: v for k, v in tensors.items()}


def with_erasure(patcher, tensors: Mapping[str, Tensor], strength: float = 1.0):
    """A clone of `patcher` carrying `tensors` (UNet-relative names) as additive patches."""
    out = patcher.clone()
    offload = patcher.offload_device
    patches = {k: (v.detach().to(offload),) for k, v in patch_keys(tensors).items()}
    added = out.add_patches(patches, strength)
    if len(added) != len(patches):
        missing = sorted(set(patches) - set(added))
        raise AdvAnchorError(f"{len(missing)} erasure tensors do not exist in this MODEL "
                             f"(first: {missing[0]!r}): apply the erasure to the model it was "
                             "made from")
    return out


def check_erasure_fits(patcher, tensors: Mapping[str, Tensor]) -> None:
    """Raise, saying what to change, unless every tensor matches a UNet weight's name and shape."""
    check_compatible(tensors, dict(patcher.model.diffusion_model.named_parameters()))


# --- LATENT ------------------------------------------------------------------------------
def clean_latents(patcher, latent: dict | None) -> Tensor | None:
    """LATENT samples in the UNet's space (scaled as KSampler scales them), float32 CPU."""
    if latent is None:
        return None
    samples = latent["samples"]
    if samples.dim() != 4:
        raise AdvAnchorError(f"the LATENT has shape {tuple(samples.shape)}; connect image "
                             "latents [batch, channels, height, width]")
    with torch.inference_mode(False):
        z = patcher.model.process_latent_in(samples.detach().clone().float())
        return z.detach().clone().cpu()


def latent_shape(patcher, size: int) -> tuple[int, int, int]:
    """(C, H, W) of the latent of a `size`×`size` image for this model."""
    fmt = patcher.model.latent_format
    down = getattr(fmt, "spacial_downscale_ratio", 8)
    return fmt.latent_channels, max(1, size // down), max(1, size // down)


# --- CLIP --------------------------------------------------------------------------------
class ComfyTextEncoder:
    """The core's `TextEncoder` over a ComfyUI CLIP (one 77-token window per prompt)."""

    max_tokens = 77

    def __init__(self, clip):
        self.clip = clip

    def _tokens(self, prompt: str) -> dict:
        tokens = self.clip.tokenize(prompt)
        for key, windows in tokens.items():
            if len(windows) != 1:
                raise AdvAnchorError(f"the prompt {prompt[:60]!r}... is longer than one "
                                     f"{self.max_tokens}-token window: shorten it")
        return tokens

    def _ids(self, prompt: str) -> list[int]:
        tokens = self._tokens(prompt)
        window = tokens[next(iter(tokens))][0]
        return [int(tok[0]) for tok in window]

    def encode_one(self, prompt: str, pooled: bool = False):
        return self.clip.encode_from_tokens(self._tokens(prompt), return_pooled=pooled)

    def encode(self, prompts: Sequence[str]) -> Tensor:
        outs = [self.encode_one(p) for p in prompts]
        with torch.inference_mode(False):
            return torch.cat([o.detach().clone().float().cpu() for o in outs])

    def token_positions(self, prompt: str, phrase: str) -> list[int]:
        ids = self._ids(prompt)
        empty = self._ids("")
        end = empty[1]
        phrase_ids = self._ids(phrase)[1:]
        phrase_ids = phrase_ids[:phrase_ids.index(end)] if end in phrase_ids else phrase_ids
        return check_phrase_in(prompt, phrase, subsequence_positions(ids, phrase_ids))


# --- progress, cancel, files ---------------------------------------------------------------
class Progress:
    """A ComfyUI progress bar fed by the core's step reports, one tick per update."""

    def __init__(self, total: int, node_id: str | None):
        self.total = max(1, total)
        self.bar = comfy.utils.ProgressBar(self.total, node_id=node_id)
        self.done = 0

    def __call__(self, report) -> None:
        self.done += 1
        self.bar.update_absolute(min(self.done, self.total), self.total)


def should_cancel() -> bool:
    return comfy.model_management.processing_interrupted()


def run_cancellable(fn: Callable[[], object]):
    """Run a core call; a cancel from ComfyUI becomes ComfyUI's own interruption. The
    device's cached memory from the run is released whatever the outcome."""
    try:
        return fn()
    except Cancelled:
        comfy.model_management.throw_exception_if_processing_interrupted()
        raise comfy.model_management.InterruptProcessingException()
    finally:
        comfy.model_management.soft_empty_cache()


def safe_prefix(filename_prefix: str) -> str:
    """Reject prefixes that would leave the output folder, with a message saying what to do."""
    prefix = (filename_prefix or "").strip()
    if not prefix:
        raise AdvAnchorError("filename_prefix is empty: give a name such as 'erased/van_gogh'")
    parts = prefix.replace("\\", "/").split("/")
    if os.path.isabs(prefix) or prefix.startswith(("/", "\\")) or ".." in parts or \
            (len(prefix) > 1 and prefix[1] == ":"):
        raise AdvAnchorError(f"filename_prefix {filename_prefix!r} points outside the output "
                             "folder: use a relative name without '..', such as 'erased/van_gogh'")
    return prefix


def output_path(filename_prefix: str, root: str) -> str:
    """The next free `<root>/<prefix>_NNNNN_.safetensors`, `root` inside the output folder."""
    import folder_paths

    prefix = safe_prefix(filename_prefix)
    os.makedirs(root, exist_ok=True)
    folder, name, counter, _, _ = folder_paths.get_save_image_path(prefix, root)
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{name}_{counter:05}_.safetensors")


@contextlib.contextmanager
def atomic_target(path: str) -> Iterator[str]:
    """Yield a temporary name beside `path`; rename onto `path` only if the block succeeds."""
    fd, tmp = tempfile.mkstemp(prefix=".advanchor-", suffix=".tmp", dir=os.path.dirname(path))
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
