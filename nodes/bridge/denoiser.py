"""MODEL → the core's `Denoiser`: ε through ComfyUI's own weight path, the erasure δ in float32,
for UNets (ε or v) and rectified-flow transformers (Flux, SD3).

Why ComfyUI's weight path: ComfyUI forms every layer's weight inside `comfy.ops` — the stored
weight (fp32, fp16, bf16, fp8 or quantized) cast to the compute dtype, then the patcher's weight
functions. The erasure joins there as one more weight function, on a private clone of the MODEL:
w + δ is formed in float32 from the cast weight and rounded once to the compute dtype, as ComfyUI
applies a LoRA. So an fp8-stored model trains, no update is rounded away (δ and its Adam state
stay float32), and only the trained layers get a function: every other weight is used where it
lies — one copy of the weights, none made per forward pass. "Frozen" is δ off: the function then
returns the weight unchanged.

How the MODEL is cloned and loaded for training (dynamic VRAM, inference tensors): `loading.py`.
"""
from __future__ import annotations

import contextlib
import uuid
from typing import Iterator, Mapping

import torch
from torch import Tensor, nn

import comfy.model_sampling

from ...advanchor_core.errors import AdvAnchorError
from ...advanchor_core.schedule import NoiseSchedule
from . import families, ragged
from .blocks import block_text_effects
from .checkpointing import checkpointed_blocks
from .inplace import grad_context
from .loading import Twins, load_for_training, training_clone

DIFFUSION_PREFIX = "diffusion_model."
FLUX_GUIDANCE = 3.5  # Flux.1 dev's guidance input: ComfyUI's default without a FluxGuidance node
# (Chroma's guidance input is 0 unless a FluxGuidance node sets it, as ComfyUI's Chroma has it)
Delta = Mapping[str, Tensor]


def model_schedule(patcher) -> tuple[NoiseSchedule, str]:
    """The schedule and what the network predicts ("eps", "v" or "flow"), from the MODEL's own
    `model_sampling` (as a graph's model-sampling nodes left it)."""
    sampling = patcher.get_model_object("model_sampling")
    sigmas = sampling.sigmas.detach().to("cpu", torch.float64)
    if isinstance(sampling, comfy.model_sampling.CONST) and isinstance(
            sampling, (comfy.model_sampling.ModelSamplingDiscreteFlow, comfy.model_sampling.ModelSamplingFlux)):
        with torch.inference_mode(False):
            return NoiseSchedule.rectified_flow(sigmas.clone()), "flow"
    if not isinstance(sampling, comfy.model_sampling.ModelSamplingDiscrete) or \
            isinstance(sampling, comfy.model_sampling.StableCascadeSampling):
        raise AdvAnchorError(
            f"this MODEL samples with {type(sampling).__bases__[0].__name__}; AdvAnchor supports "
            "a discrete noise schedule (SD1.x, SD2.x, SDXL) or rectified flow (Flux, SD3): "
            "remove the model-sampling node that set it, or load one of those")
    if isinstance(sampling, comfy.model_sampling.V_PREDICTION):
        prediction = "v"
    elif isinstance(sampling, (comfy.model_sampling.X0, comfy.model_sampling.CONST)) or \
            not isinstance(sampling, comfy.model_sampling.EPS):
        raise AdvAnchorError("this MODEL does not predict noise (ε), v or a flow velocity: "
                             "AdvAnchor supports SD1.x, SD2.x, SDXL, Flux and SD3")
    else:
        prediction = "eps"
    with torch.inference_mode(False):
        return NoiseSchedule((1.0 / (1.0 + sigmas.clone() ** 2)).float()), prediction


class DeltaSwitch:
    """The δ the weight functions add right now: set only for the duration of a call."""

    def __init__(self) -> None:
        self.active: Delta | None = None

    @contextlib.contextmanager
    def on(self, delta: Delta | None) -> Iterator[None]:
        previous, self.active = self.active, delta
        try:
            yield
        finally:
            self.active = previous


class WeightDelta:
    """One weight's δ as a ComfyUI weight function: w ↦ w + δ while the switch holds a δ for it."""

    def __init__(self, switch: DeltaSwitch, name: str):
        self.switch, self.name = switch, name

    def __call__(self, weight: Tensor) -> Tensor:
        d = self.switch.active.get(self.name) if self.switch.active else None
        if d is None:
            return weight
        return (weight.float() + d.to(weight.device)).to(weight.dtype)


def _routed(unet: nn.Module, name: str) -> bool:
    """Whether ComfyUI forms weight `name` through a weight-function list (comfy.ops layers)."""
    module_name, _, kind = name.rpartition(".")
    return isinstance(getattr(unet.get_submodule(module_name), f"{kind}_function", None), list)


class ComfyDenoiser:
    """The core's `Denoiser` over a ModelPatcher's UNet.

    Call `prepare()` first: it loads the model on ComfyUI's device through its model management
    (which applies the MODEL's own patches, e.g. LoRAs, as sampling would). Outputs are ε as
    float32; inputs are cast to the model's compute dtype.

    SDXL-style models and the transformers (`family.pooled`) also take a vector `y`: the
    conditioning then carries one extra trailing row holding the pooled text vector (see
    `ComfyTextEncoder`), which is split off here. SDXL turns it into `y` with the model's own
    `encode_adm` for the image size of `x_t` (latent size × 8, as ComfyUI's samplers do); Flux
    and SD3 read it as `y` itself. Flux.1 dev's guidance input is `FLUX_GUIDANCE` for every
    prompt: it is a sampling setting, not text. The core never sees the difference.

    Rectified-flow models (prediction "flow") get the core's x_t as the flow sample
    (1 − σ)·x0 + σ·ε at ComfyUI's σ of that step, and ComfyUI's timestep for σ
    (`model_sampling.timestep`); their velocity is turned into ε by the core's schedule.

    `checkpointing` recomputes each UNet or transformer block's activations in the backward
    pass instead of keeping them (torch.utils.checkpoint), trading ~30% more compute for much
    less memory. `twins` is shared by the denoisers of one node run whose MODELs share weights
    (`loading.training_clone`).
    """

    def __init__(self, patcher, checkpointing: bool = False, twins: Twins | None = None):
        self.family = families.detect(patcher)  # before any clone: refusals come first
        self.patcher = training_clone(patcher, twins)  # carries the δ weight functions
        self.model = self.patcher.model
        self.unet = self.model.diffusion_model
        self.schedule, self.prediction = model_schedule(self.patcher)
        # the compute dtype: ComfyUI's manual cast (fp8/half weights computed wider), else storage
        self.dtype = self.patcher.get_model_object("manual_cast_dtype") or self.model.get_dtype()
        self.device = self.patcher.load_device
        self.checkpointing = checkpointing
        self.frames = getattr(self.model.latent_format, "latent_dimensions", 2) == 3
        self.switch = DeltaSwitch()
        self._functions: dict[str, WeightDelta] = {}
        self._adm_size: dict[tuple[int, int], Tensor] = {}
        self._block_patches: dict = {}

    # --- loading ---------------------------------------------------------------------------
    def prepare(self) -> "ComfyDenoiser":
        load_for_training(self.patcher)
        return self

    def _train(self, names) -> None:
        """Give each weight in `names` its δ function, then reload so ComfyUI installs them."""
        new = [n for n in names if n not in self._functions]
        if not new:
            return
        for name in new:
            self._functions[name] = WeightDelta(self.switch, name)
            self.patcher.add_weight_wrapper(DIFFUSION_PREFIX + name, self._functions[name])
        # the loaded weights lack these functions: a new uuid makes ComfyUI load this clone afresh
        self.patcher.patches_uuid = uuid.uuid4()
        self.prepare()
        unrouted = [n for n in names if not self._installed(n)]
        if unrouted:
            raise AdvAnchorError(f"{len(unrouted)} selected weights (first: {unrouted[0]!r}) do not "
                                 "pass through ComfyUI's weight functions, so they cannot be "
                                 "trained: choose a parameter preset or pattern without them")

    def _installed(self, name: str) -> bool:
        module_name, _, kind = name.rpartition(".")
        module = self.unet.get_submodule(module_name)
        return self._functions[name] in getattr(module, f"{kind}_function", ())

    # --- the Denoiser protocol --------------------------------------------------------------
    def named_weights(self) -> dict[str, Tensor]:
        """The weights ComfyUI forms through its weight functions: the only ones an erasure can
        train (Flux's q/k RMSNorm scales, for one, are read directly and are left out)."""
        return {n: w for n, w in self.unet.named_parameters() if _routed(self.unet, n)}

    def network(self) -> nn.Module:
        return self.unet

    @property
    def pooled_rows(self) -> int:
        """Trailing conditioning rows that are not tokens: the pooled vector (SDXL, Flux.1, SD3)
        or the row count of a family whose prompts have their own lengths (`ragged.py`)."""
        return 1 if self.family.pooled or self.family.ragged else 0

    def context_of(self, cond: Tensor) -> Tensor:
        """The token rows of a conditioning: what cross-attention reads (a ragged family's
        rows zero-padded to one length)."""
        return cond[:, :cond.shape[1] - self.pooled_rows]

    def __call__(self, x_t: Tensor, t: Tensor, cond: Tensor, delta: Delta | None = None) -> Tensor:
        if delta:
            self._train(delta.keys())
        if not self.family.ragged:
            vector = cond[:, -1] if self.family.pooled else None
            return self._predict(x_t, t, self.context_of(cond), vector, delta)
        return ragged.joined([(index, self._predict(x_t[index], t[index], rows, None, delta))
                              for index, rows in ragged.split(cond)])

    def _predict(self, x_t: Tensor, t: Tensor, context: Tensor, vector: Tensor | None,
                 delta: Delta | None) -> Tensor:
        x, timestep = self._model_input(x_t, t)
        kwargs = self._conditioning(context.to(self.device, self.dtype), vector, x)
        with self.switch.on(delta or None), self._checkpointing(), grad_context(self.unet):
            out = self.unet(x, timestep, **kwargs).float()
        if self.frames:
            out = out.squeeze(2)
        x_t, t = x_t.to(out.device).float(), t.to(out.device)
        if self.prediction == "v":
            return self.schedule.eps_from_v(x_t, t, out)
        if self.prediction == "flow":
            return self.schedule.eps_from_flow(x_t, t, out)
        return out

    def _model_input(self, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """The network's input and timestep for the core's (x_t, t)."""
        if self.prediction != "flow":
            return x_t.to(self.device, self.dtype), t.to(self.device).float()
        sampling = self.patcher.get_model_object("model_sampling")
        sigma = sampling.sigmas.detach()[t.long().cpu()].to(self.device)
        x = sampling.calculate_input(sigma, self.schedule.flow_input(x_t.float(), t.cpu()).to(self.device))
        if self.frames:   # a video-shaped latent format (Qwen-Image): the image is one frame
            x = x.unsqueeze(2)
        return x.to(self.dtype), sampling.timestep(sigma).float()

    def _conditioning(self, context: Tensor, vector: Tensor | None, x: Tensor) -> dict:
        """The keyword inputs of one network call: context, and y / guidance where read (the
        ragged families: whatever their own `extra_conds` gives)."""
        if self.family.kind == "unet":
            kwargs = {"context": context}
            if self.family.pooled:
                kwargs["y"] = self._y(vector.to(self.device, self.dtype), x)
            return kwargs
        kwargs = self._model_conds(context, x) if self.family.ragged else {"context": context}
        if self.family.vector_width:
            kwargs["y"] = vector[:, :self.family.vector_width].to(self.device, self.dtype)
        if self.family.guidance and not self.family.ragged:
            kwargs["guidance"] = torch.full((x.shape[0],), FLUX_GUIDANCE, device=x.device, dtype=x.dtype)
        kwargs["transformer_options"] = {"patches_replace": {"dit": dict(self._block_patches)}} \
            if self._block_patches else {}
        return kwargs

    def _model_conds(self, context: Tensor, x: Tensor) -> dict:
        """The inputs ComfyUI's samplers give a ragged family's model for these text rows: its
        own `extra_conds` (Chroma's guidance 0, Z-Image's token count, Flux.2's padding to 512
        rows and its guidance 3.5), batched and cast as `apply_model` casts them."""
        conds = self.model.extra_conds(cross_attn=context, noise=x, device=x.device)
        kwargs = {}
        for key, cond in conds.items():
            value = cond.process_cond(batch_size=x.shape[0], area=None).cond
            if isinstance(value, Tensor) and value.is_floating_point():
                value = value.to(x.device, self.dtype)
            kwargs["context" if key == "c_crossattn" else key] = value
        return kwargs

    @contextlib.contextmanager
    def block_patches(self, patches: dict) -> Iterator[None]:
        """Within the block, calls run with these ComfyUI block-replace patches (`blocks.py`)."""
        previous, self._block_patches = self._block_patches, patches
        try:
            yield
        finally:
            self._block_patches = previous

    def text_block_effects(self, cond: Tensor, references, x_t: Tensor, t: Tensor):
        """Transformers: what each dual-stream block reads from the text (`blocks.py`);
        None for UNets, whose cross-attention layers the core measures itself."""
        if self.family.kind == "unet":
            return None
        return block_text_effects(self, cond, references, x_t, t)

    def _checkpointing(self):
        if not self.checkpointing:
            return contextlib.nullcontext()
        return checkpointed_blocks(self.unet, lambda: self._recomputing(self.switch.active))

    @contextlib.contextmanager
    def _recomputing(self, delta: Delta | None) -> Iterator[None]:
        """How a checkpointed block is recomputed in the backward pass: with the δ of its
        forward call, and (transformers) with the same copies of the norms' inputs."""
        with self.switch.on(delta), grad_context(self.unet):
            yield

    # --- SDXL's y ---------------------------------------------------------------------------
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

    def _y(self, vector: Tensor, x: Tensor) -> Tensor:
        down = getattr(self.model.latent_format, "spacial_downscale_ratio", 8)
        size = self._size_embedding(x.shape[-2] * down, x.shape[-1] * down).to(x.device)
        width = self.model.adm_channels - size.shape[-1]
        pooled = vector[:, :width]
        return torch.cat([pooled, size.to(pooled.dtype).expand(vector.shape[0], -1)], dim=-1)
