"""Test-only ComfyUI nodes: tiny Flux.1 dev, Chroma, Z-Image, Qwen-Image and Flux.2 Klein
models, their text encoders and TAESD VAEs (16 and 128 latent channels), seeded.

Why: ComfyUI builds T5-XXL and the LLM encoders from fixed configs (billions of parameters),
so no thin file loads through DualCLIPLoader or CLIPLoader; its detection also fixes these
transformers' full-size widths (0.12.1 loads a thin Flux.1, `checkpoint_dit.py`). The workflow
tests put these nodes where a workflow's loaders cannot take a thin file and run everything
after them as a user would. Linked into the test server's custom_nodes only.
"""
import importlib
import importlib.util
import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parents[1]
PACKAGE = "advanchor_test_support"


def support(name: str = "tiny_dit"):
    """A module of `tests/comfy_support/`, imported from its package's location: the server
    runs in ComfyUI's tree, whose own `tests` package shadows this repository's."""
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACKAGE, SUPPORT / "__init__.py",
                                                      submodule_search_locations=[str(SUPPORT)])
        sys.modules[PACKAGE] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return importlib.import_module(f"{PACKAGE}.{name}")


class _Tiny:
    CATEGORY = "advanchor tests"
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}


def _loader(kind: str, module: str, builder: str):
    """A node class returning `module.builder()` as a `kind` (MODEL, CLIP or VAE)."""
    return type(builder, (_Tiny,), {"RETURN_TYPES": (kind,),
                                    "load": lambda self: (getattr(support(module), builder)(),)})


class TinyVAE128(_Tiny):
    RETURN_TYPES = ("VAE",)

    def load(self):
        return (support("tiny").tiny_vae(5, latent_channels=128),)


NODE_CLASS_MAPPINGS = {
    "AdvAnchorTestTinyFlux": _loader("MODEL", "tiny_dit", "tiny_flux"),
    "AdvAnchorTestTinyFluxClip": _loader("CLIP", "tiny_dit", "tiny_flux_clip"),
    "AdvAnchorTestTinyVAE16": _loader("VAE", "tiny_dit", "tiny_vae16"),
    "AdvAnchorTestTinyVAE128": TinyVAE128,
    "AdvAnchorTestTinyChroma": _loader("MODEL", "tiny_dit", "tiny_chroma"),
    "AdvAnchorTestTinyChromaClip": _loader("CLIP", "tiny_dit", "tiny_chroma_clip"),
    "AdvAnchorTestTinyZImage": _loader("MODEL", "tiny_llm", "tiny_zimage"),
    "AdvAnchorTestTinyZImageClip": _loader("CLIP", "tiny_llm", "tiny_zimage_clip"),
    "AdvAnchorTestTinyQwenImage": _loader("MODEL", "tiny_llm", "tiny_qwen_image"),
    "AdvAnchorTestTinyQwenImageClip": _loader("CLIP", "tiny_llm", "tiny_qwen_image_clip"),
    "AdvAnchorTestTinyFlux2": _loader("MODEL", "tiny_llm", "tiny_flux2"),
    "AdvAnchorTestTinyFlux2Clip": _loader("CLIP", "tiny_llm", "tiny_flux2_clip"),
}
