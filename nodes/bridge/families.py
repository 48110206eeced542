"""Which model family a MODEL is, and whether the pack can erase from it.

Why a separate check: an unsupported MODEL would otherwise reach the training loop and fail deep
inside a forward pass with a shape error that says nothing useful. The family comes from the
model config ComfyUI's loader picked (`model.model_config`, a `comfy.supported_models` class):
its class name is the family ComfyUI itself reports, so the error names what the user loaded.

Supported:
- SD-style UNets (`openaimodel.UNetModel`, kind "unet") with cross-attention on text and a
  discrete ε or v schedule — SD1.x, SD2.x and SDXL (base, refiner and distilled variants such
  as SSD-1B, Vega, KOALA). SDXL-style models are also conditioned on a vector `y` (pooled text
  plus image size), which the bridge builds with the model's own `encode_adm`.
- Rectified-flow transformers: Flux.1 dev and schnell (kind "flux": T5 context, pooled CLIP-L
  vector, dev's guidance input) and SD3/SD3.5 (kind "mmdit": CLIP-L+G and T5 context, pooled
  CLIP-L+G vector). Their `y` is the pooled text vector itself.
- Transformers whose text has each prompt's own length (`ragged`: no pooled vector, no padding
  to a fixed window), called with the inputs their own `extra_conds` builds from the text rows:
  Chroma (kind "chroma": Flux.1's blocks, T5 alone, a guidance input held at 0), Z-Image (kind
  "lumina": Lumina2's single-stream NextDiT, Qwen3-4B's penultimate layer in its chat template),
  Qwen-Image (kind "qwen": an MMDiT, Qwen2.5-VL's last layer after its system template) and
  Flux.2 (kind "flux2": Flux blocks, three stacked layers of Qwen3 for Klein or Mistral-3 for
  dev).
"""
from __future__ import annotations

from dataclasses import dataclass

from ...advanchor_core.errors import AdvAnchorError

# comfy.supported_models class name → family label the pack reports
SUPPORTED = {
    "SD15": "SD1.x", "SD20": "SD2.x",
    "SDXL": "SDXL", "SSD1B": "SDXL", "Segmind_Vega": "SDXL", "KOALA_700M": "SDXL",
    "KOALA_1B": "SDXL", "SDXLRefiner": "SDXL refiner",
    "Flux": "Flux.1 dev", "FluxSchnell": "Flux.1 schnell", "SD3": "SD3", "Chroma": "Chroma",
    "ZImage": "Z-Image", "QwenImage": "Qwen-Image", "Flux2": "Flux.2",
}
SUPPORTED_TEXT = ("SD1.x, SD2.x, SDXL, Flux.1 dev/schnell, SD3/SD3.5, Chroma, Z-Image, Qwen-Image, "
                  "Flux.2")
# families that need extra inputs the method has no meaning for (image/concat conditioning)
NEEDS_IMAGE = ("instructpix2pix", "Unclip", "SVD", "SV3D", "Zero123", "X4Upscaler", "Lotus")
# pooled-text conditioning the bridge knows how to build, by model class (model_base)
ADM_MODELS = ("SDXL", "SDXLRefiner")
# rectified-flow transformers: supported_models class → (kind, transformer class name)
TRANSFORMERS = {"Flux": ("flux", "Flux"), "FluxSchnell": ("flux", "Flux"),
                "SD3": ("mmdit", "OpenAISignatureMMDITWrapper"), "Chroma": ("chroma", "Chroma"),
                "ZImage": ("lumina", "NextDiT"), "QwenImage": ("qwen", "QwenImageTransformer2DModel"),
                "Flux2": ("flux2", "Flux")}
# ragged kinds: the unet_config key of their text input's width
TEXT_WIDTH = {"chroma": "context_in_dim", "lumina": "cap_feat_dim", "qwen": "joint_attention_dim",
              "flux2": "context_in_dim"}


@dataclass(frozen=True)
class Family:
    name: str              # e.g. "SDXL"
    config: str            # the supported_models class name, e.g. "Segmind_Vega"
    context_dim: int       # width of the text context the model reads (768 … 4096)
    pooled: bool           # conditioned on a y vector built from pooled text
    kind: str = "unet"     # "unet", "flux", "mmdit" or a ragged kind (TEXT_WIDTH): how it is called
    vector_width: int = 0  # transformers: width of y, the pooled text vector itself
    guidance: bool = False  # guidance-distilled (Flux.1 dev): a guidance-strength input
    ragged: bool = False   # each prompt's conditioning has its own length (no fixed window)


def config_name(model) -> str:
    cfg = getattr(model, "model_config", None)
    return type(cfg).__name__ if cfg is not None else type(model).__name__


def detect(patcher) -> Family:
    """The family of a ModelPatcher's model, or an AdvAnchorError naming the unsupported one."""
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    model = patcher.model
    name = config_name(model)
    unet = getattr(model, "diffusion_model", None)
    if name in TRANSFORMERS and type(unet).__name__ == TRANSFORMERS[name][1]:
        return _transformer(model, name)
    if not isinstance(unet, UNetModel):
        raise AdvAnchorError(
            f"this MODEL is {name} ({type(unet).__name__}), which AdvAnchor does not support; "
            f"it erases from {SUPPORTED_TEXT}: load one of those")
    if any(tag.lower() in name.lower() for tag in NEEDS_IMAGE):
        raise AdvAnchorError(
            f"this MODEL is {name}, which is conditioned on an input image as well as text; "
            f"AdvAnchor supports text-to-image models ({SUPPORTED_TEXT}): load one of those")
    adm = int(getattr(model, "adm_channels", 0) or 0)
    if adm and type(model).__name__ not in ADM_MODELS:
        raise AdvAnchorError(
            f"this MODEL is {name} ({type(model).__name__}) and takes a {adm}-d extra "
            "conditioning vector AdvAnchor does not know how to build; supported: "
            f"{SUPPORTED_TEXT}")
    context = model.model_config.unet_config.get("context_dim")
    if not context:
        raise AdvAnchorError(f"this MODEL ({name}) has no text cross-attention: there is no "
                             "prompt to erase a concept from")
    label = SUPPORTED.get(name, f"{name} (SD-style UNet)")
    return Family(label, name, int(_scalar(context)), bool(adm))


def _transformer(model, name: str) -> Family:
    """Flux or SD3: context and pooled widths from the config ComfyUI detected."""
    kind = TRANSFORMERS[name][0]
    unet_config = model.model_config.unet_config
    if kind in TEXT_WIDTH:
        return Family(SUPPORTED[name], name, int(unet_config[TEXT_WIDTH[kind]]), False, kind,
                      guidance=bool(unet_config.get("guidance_embed")), ragged=True)
    if kind == "flux":
        if unet_config.get("in_channels", 16) != unet_config.get("out_channels", 16):
            raise AdvAnchorError(f"this MODEL is a {name} variant conditioned on an input image "
                                 "(fill/depth/canny): AdvAnchor erases from the text-to-image Flux.1")
        context, vector = unet_config["context_in_dim"], unet_config.get("vec_in_dim") or 0
        guidance = bool(unet_config.get("guidance_embed"))
    else:
        embedder = unet_config.get("context_embedder_config") or {}
        context = embedder.get("params", {}).get("in_features", 4096)
        vector, guidance = int(unet_config.get("adm_in_channels") or 0), False
    return Family(SUPPORTED[name], name, int(context), bool(vector), kind, int(vector), guidance)


def _scalar(context) -> int:
    return context[0] if isinstance(context, (list, tuple)) else context
