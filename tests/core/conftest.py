"""Fixtures for the core's tests: a tiny SD-named UNet and a CLIP text encoder, seeded."""
from __future__ import annotations

import pytest
import torch

from advanchor_core.concept import Concept, encode_concept
from advanchor_core.denoiser import TorchDenoiser
from advanchor_core.schedule import NoiseSchedule
from advanchor_core.text import HFTextEncoder

from .tiny_models import CONTEXT, clip_tokenizer_dir, tiny_unet

torch.set_num_threads(1)  # tiny models: threads cost more than they save


@pytest.fixture(scope="session")
def encoder() -> HFTextEncoder:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizerFast
    torch.manual_seed(0)
    model = CLIPTextModel(CLIPTextConfig(hidden_size=CONTEXT, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2,
                                         max_position_embeddings=77))
    return HFTextEncoder(model, CLIPTokenizerFast.from_pretrained(clip_tokenizer_dir()), max_length=77)


@pytest.fixture()
def denoiser() -> TorchDenoiser:
    return TorchDenoiser(tiny_unet(), NoiseSchedule.sd_linear())


@pytest.fixture(scope="session")
def concept() -> Concept:
    return Concept("Van Gogh", attributes=(("swirling brushstrokes", 0.5),))


@pytest.fixture(scope="session")
def conditioning(encoder, concept):
    return encode_concept(encoder, concept)
