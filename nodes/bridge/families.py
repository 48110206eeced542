"""Which model family a MODEL is, and whether the pack can erase from it.

Why a separate check: a Flux or SD3 MODEL would otherwise reach the training loop and fail deep
inside a forward pass with a shape error that says nothing useful. The family comes from the
model config ComfyUI's loader picked (`model.model_config`, a `comfy.supported_models` class):
its class name is the family ComfyUI itself reports, so the error names what the user loaded.

Supported: SD-style UNets (`openaimodel.UNetModel`) with cross-attention on text and a
discrete ε or v schedule — SD1.x, SD2.x and SDXL (base, refiner and distilled variants such as
SSD-1B, Vega, KOALA). SDXL-style models are also conditioned on a vector `y` (pooled text
plus image size), which the bridge builds with the model's own `encode_adm`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...advanchor_core.errors import AdvAnchorError

# comfy.supported_models class name → family label the pack reports
SUPPORTED = {
    "SD15": "SD1.x", "SD20": "SD2.x",
    "SDXL": "SDXL", "SSD1B": "SDXL", "Segmind_Vega": "SDXL", "KOALA_700M": "SDXL",
    "KOALA_1B": "SDXL", "SDXLRefiner": "SDXL refiner",
}
# families that need extra inputs the method has no meaning for (image/concat conditioning)
NEEDS_IMAGE = ("instructpix2pix", "Unclip", "SVD", "SV3D", "Zero123", "X4Upscaler", "Lotus")
# pooled-text conditioning the bridge knows how to build, by model class (model_base)
ADM_MODELS = ("SDXL", "SDXLRefiner")


@dataclass(frozen=True)
class Family:
    name: str              # e.g. "SDXL"
    config: str            # the supported_models class name, e.g. "Segmind_Vega"
    context_dim: int       # width of the cross-attention context (768, 1024, 2048, 1280)
    pooled: bool           # conditioned on a y vector built from pooled text and image size


def config_name(model) -> str:
    cfg = getattr(model, "model_config", None)
    return type(cfg).__name__ if cfg is not None else type(model).__name__


def detect(patcher) -> Family:
    """The family of a ModelPatcher's model, or an AdvAnchorError naming the unsupported one."""
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    model = patcher.model
    name = config_name(model)
    unet = getattr(model, "diffusion_model", None)
    if not isinstance(unet, UNetModel):
        raise AdvAnchorError(
            f"this MODEL is {name} ({type(unet).__name__}, a transformer/flow model); AdvAnchor "
            "erases from UNet models for now (SD1.x, SD2.x, SDXL): load one of those")
    if any(tag.lower() in name.lower() for tag in NEEDS_IMAGE):
        raise AdvAnchorError(
            f"this MODEL is {name}, which is conditioned on an input image as well as text; "
            "AdvAnchor supports text-to-image UNets (SD1.x, SD2.x, SDXL): load one of those")
    adm = int(getattr(model, "adm_channels", 0) or 0)
    if adm and type(model).__name__ not in ADM_MODELS:
        raise AdvAnchorError(
            f"this MODEL is {name} ({type(model).__name__}) and takes a {adm}-d extra "
            "conditioning vector AdvAnchor does not know how to build; supported: SD1.x, SD2.x, "
            "SDXL (base, refiner, SSD-1B, Vega, KOALA)")
    context = model.model_config.unet_config.get("context_dim")
    if not context:
        raise AdvAnchorError(f"this MODEL ({name}) has no text cross-attention: there is no "
                             "prompt to erase a concept from")
    label = SUPPORTED.get(name, f"{name} (SD-style UNet)")
    return Family(label, name, int(_scalar(context)), bool(adm))


def _scalar(context) -> int:
    return context[0] if isinstance(context, (list, tuple)) else context
