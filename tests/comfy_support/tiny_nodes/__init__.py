"""Test-only ComfyUI nodes: a tiny Flux.1 dev, its text encoder and a 16-channel VAE, seeded.

Why: ComfyUI builds Flux's T5-XXL from a fixed config (4.7B parameters), so no thin file loads
through DualCLIPLoader; ComfyUI 0.3.75 also fixes Flux's transformer at 24 heads of 128
channels (0.12.1 loads a thin one, `checkpoint_dit.py`). The workflow tests put these nodes
where the Flux workflow's loaders cannot take a thin file and run everything after them as a
user would. Linked into the test server's custom_nodes only.
"""
import importlib
import importlib.util
import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parents[1]
PACKAGE = "advanchor_test_support"


def tiny_dit():
    """`tests/comfy_support/tiny_dit.py`, imported from its package's location: the server runs
    in ComfyUI's tree, whose own `tests` package shadows this repository's."""
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACKAGE, SUPPORT / "__init__.py",
                                                      submodule_search_locations=[str(SUPPORT)])
        sys.modules[PACKAGE] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return importlib.import_module(f"{PACKAGE}.tiny_dit")


class _Tiny:
    CATEGORY = "advanchor tests"
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}


class TinyFluxModel(_Tiny):
    RETURN_TYPES = ("MODEL",)

    def load(self):
        return (tiny_dit().tiny_flux(),)


class TinyFluxClip(_Tiny):
    RETURN_TYPES = ("CLIP",)

    def load(self):
        return (tiny_dit().tiny_flux_clip(),)


class TinyVAE16(_Tiny):
    RETURN_TYPES = ("VAE",)

    def load(self):
        return (tiny_dit().tiny_vae16(),)


NODE_CLASS_MAPPINGS = {"AdvAnchorTestTinyFlux": TinyFluxModel,
                       "AdvAnchorTestTinyFluxClip": TinyFluxClip,
                       "AdvAnchorTestTinyVAE16": TinyVAE16}
