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
from . import families
from .checkpointing import checkpointed_blocks

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
            "UNet models with a discrete noise schedule (SD1.x, SD2.x, SDXL): load one of those")
    if isinstance(sampling, comfy.model_sampling.V_PREDICTION):
        prediction = "v"
    elif isinstance(sampling, (comfy.model_sampling.X0, comfy.model_sampling.CONST)) or \
            not isinstance(sampling, comfy.model_sampling.EPS):
        raise AdvAnchorError("this MODEL does not predict noise (ε) or v: AdvAnchor supports "
                             "ε- and v-prediction UNets (SD1.x, SD2.x, SDXL)")
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

    SDXL-style models (`family.pooled`) also take a vector `y`: the conditioning then carries
    one extra trailing row holding the pooled text vector (see `ComfyTextEncoder`), which is
    split off here and turned into `y` with the model's own `encode_adm` for the image size
    of `x_t` (latent size × 8, as ComfyUI's samplers do). The core never sees the difference.

    `checkpointing` recomputes each UNet block's activations in the backward pass instead of
    keeping them (torch.utils.checkpoint), trading ~30% more compute for much less memory.
    """

    def __init__(self, patcher, checkpointing: bool = False):
        self.patcher = patcher
        self.model = patcher.model
        self.unet = self.model.diffusion_model
        self.family = families.detect(patcher)
        self.schedule, self.prediction = model_schedule(patcher)
        self.dtype = self.model.manual_cast_dtype or self.model.get_dtype()
        self.device = patcher.load_device
        self.checkpointing = checkpointing
        self._adm_size: dict[tuple[int, int], Tensor] = {}

    def prepare(self) -> "ComfyDenoiser":
        comfy.model_management.load_models_gpu([self.patcher], force_full_load=True)
        return self

    def named_weights(self) -> dict[str, Tensor]:
        return dict(self.unet.named_parameters())

    @property
    def pooled_rows(self) -> int:
        """Trailing conditioning rows that are not tokens (1 for SDXL-style models)."""
        return 1 if self.family.pooled else 0

    def context_of(self, cond: Tensor) -> Tensor:
        """The token rows of a conditioning: what cross-attention reads."""
        return cond[:, :cond.shape[1] - self.pooled_rows]

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

    def _size_embedding(self, height: int, width: int) -> Tensor:
        """The non-text part of `y` for this image size: `encode_adm` with an empty pooled
        vector leaves exactly the size/crop (or aesthetic score) embedding."""
        key = (height, width)
        if key not in self._adm_size:
            with torch.inference_mode(False), torch.no_grad():
                empty = torch.zeros((1, 0))
                emb = self.model.encode_adm(pooled_output=empty, width=width, height=height,
                                            target_width=width, target_height=height,
                                            crop_w=0, crop_h=0, device=self.device)
            self._adm_size[key] = emb.detach().clone().float()
        return self._adm_size[key]

    def _y(self, cond: Tensor, x: Tensor) -> Tensor:
        down = getattr(self.model.latent_format, "spacial_downscale_ratio", 8)
        size = self._size_embedding(x.shape[-2] * down, x.shape[-1] * down).to(x.device)
        width = self.model.adm_channels - size.shape[-1]
        pooled = cond[:, -1, :width]
        return torch.cat([pooled, size.to(pooled.dtype).expand(cond.shape[0], -1)], dim=-1)

    def __call__(self, x_t: Tensor, t: Tensor, cond: Tensor,
                 delta: Mapping[str, Tensor] | None = None) -> Tensor:
        x = x_t.to(self.device, self.dtype)
        c = cond.to(self.device, self.dtype)
        steps = t.to(self.device).float()
        kwargs = {"context": self.context_of(c)}
        if self.family.pooled:
            kwargs["y"] = self._y(c, x)
        train = bool(delta) or torch.is_grad_enabled()
        if train and self.checkpointing:
            with checkpointed_blocks(self.unet):
                out = functional_call(self.unet, self._weights(delta), (x, steps), kwargs, strict=False)
        elif train:
            out = functional_call(self.unet, self._weights(delta), (x, steps), kwargs, strict=False)
        else:
            out = self.unet(x, steps, **kwargs)
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
    """The core's `TextEncoder` over a ComfyUI CLIP (one 77-token window per prompt).

    `pooled_rows=1` (SDXL-style models) appends one row per prompt holding the pooled text
    vector, zero-padded to the context width: the core then carries it through batching,
    `repeat_interleave` and anchors as part of the conditioning, and `ComfyDenoiser` splits
    it off into `y`. Anchors only perturb the concept's token rows, so the row is never
    changed. Token positions are those of the first token stream ("l" for SDXL); they are
    checked to agree across every stream the CLIP tokenizes (SDXL's "l" and "g").
    """

    max_tokens = 77

    def __init__(self, clip, pooled_rows: int = 0):
        if pooled_rows not in (0, 1):
            raise ValueError("pooled_rows must be 0 or 1")
        self.clip = clip
        self.pooled_rows = pooled_rows

    def _tokens(self, prompt: str) -> dict:
        tokens = self.clip.tokenize(prompt)
        for key, windows in tokens.items():
            if len(windows) != 1:
                raise AdvAnchorError(f"the prompt {prompt[:60]!r}... is longer than one "
                                     f"{self.max_tokens}-token window: shorten it")
        return tokens

    def _stream_ids(self, prompt: str) -> dict[str, list[int]]:
        return {key: [int(tok[0]) for tok in windows[0]] for key, windows in self._tokens(prompt).items()}

    def _ids(self, prompt: str) -> list[int]:
        streams = self._stream_ids(prompt)
        return streams["l"] if "l" in streams else streams[next(iter(streams))]

    def encode_one(self, prompt: str, pooled: bool = False):
        return self.clip.encode_from_tokens(self._tokens(prompt), return_pooled=pooled)

    def _with_pooled(self, cond: Tensor, pooled: Tensor | None) -> Tensor:
        if pooled is None:
            raise AdvAnchorError("this CLIP gives no pooled output, and the MODEL (SDXL-style) "
                                 "needs one: connect the CLIP from the same checkpoint")
        width = cond.shape[-1]
        pooled = pooled.reshape(cond.shape[0], -1).to(cond)
        if pooled.shape[-1] > width:
            raise AdvAnchorError(f"the pooled text vector ({pooled.shape[-1]}-d) is wider than the "
                                 f"conditioning ({width}-d): this CLIP does not fit the MODEL")
        row = torch.nn.functional.pad(pooled, (0, width - pooled.shape[-1]))
        return torch.cat([cond, row[:, None]], dim=1)

    def encode(self, prompts: Sequence[str]) -> Tensor:
        outs = []
        for p in prompts:
            if self.pooled_rows:
                cond, pooled = self.encode_one(p, pooled=True)
                outs.append((cond, pooled))
            else:
                outs.append((self.encode_one(p), None))
        with torch.inference_mode(False):
            rows = [c.detach().clone().float().cpu() for c, _ in outs]
            if self.pooled_rows:
                rows = [self._with_pooled(c, pl.detach().clone().float().cpu()) for c, (_, pl) in zip(rows, outs)]
            return torch.cat(rows)

    def conditioning(self, cond: Tensor, prompt: str) -> list:
        """A ComfyUI CONDITIONING from a conditioning tensor of this encoder (e.g. an anchor
        built on `prompt`): the pooled row, when there is one, becomes `pooled_output`;
        otherwise `prompt`'s pooled output is attached, as CLIPTextEncode would."""
        cond = cond.detach().float().cpu()
        _, pooled = self.encode_one(prompt, pooled=True)
        if self.pooled_rows:
            width = pooled.shape[-1]
            pooled, cond = cond[:, -1, :width].clone(), cond[:, :-1].clone()
        return [[cond, {"pooled_output": pooled}]]

    def token_positions(self, prompt: str, phrase: str) -> list[int]:
        found = {}
        empty, alone = self._stream_ids(""), self._stream_ids(phrase)
        for key, ids in self._stream_ids(prompt).items():
            end = empty[key][1]
            phrase_ids = alone[key][1:]
            phrase_ids = phrase_ids[:phrase_ids.index(end)] if end in phrase_ids else phrase_ids
            found[key] = check_phrase_in(prompt, phrase, subsequence_positions(ids, phrase_ids))
        positions = list(found.values())
        if any(p != positions[0] for p in positions):
            raise AdvAnchorError(f"the tokenizers of this CLIP ({', '.join(found)}) place "
                                 f"{phrase!r} at different positions in {prompt!r}: AdvAnchor "
                                 "cannot perturb one set of rows for all of them")
        return positions[0]


def text_encoder(denoiser: ComfyDenoiser, clip) -> ComfyTextEncoder:
    """The encoder that fits `denoiser`'s model, after checking the CLIP does fit it."""
    if clip is None:
        raise AdvAnchorError("no CLIP is connected (the checkpoint has no text encoder): load "
                             "one with a CLIP loader of the model's family")
    encoder = ComfyTextEncoder(clip, pooled_rows=denoiser.pooled_rows)
    width = encoder.encode_one("").shape[-1]
    if width != denoiser.family.context_dim:
        raise AdvAnchorError(f"this CLIP gives {width}-d conditioning, but the MODEL "
                             f"({denoiser.family.name}) reads {denoiser.family.context_dim}-d: "
                             "connect the CLIP that belongs to the model")
    return encoder


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
