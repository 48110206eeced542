"""Shared by Search Anchor and Unlearn: node inputs → core configs, and the run itself.

One place converts widgets into the core's frozen dataclasses, so both nodes agree on
meanings and defaults (what measured best in the lab; the tooltips give the reference's
values).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from comfy_api.latest import io

from ..advanchor_core.anchors import LOSSES, AnchorConfig
from ..advanchor_core.concept import Concept, ConceptConditioning, encode_concept
from ..advanchor_core.errors import AdvAnchorError
from ..advanchor_core.latents import LatentConfig
from ..advanchor_core.robust import PrefixAdversary, RobustConfig
from ..advanchor_core.unlearn import UnlearnConfig
from .bridge.denoiser import ComfyDenoiser
from .bridge.latents import clean_latents, latent_shape
from .bridge.text import ComfyTextEncoder, text_encoder
from .sockets import advanced

LATENT_SOURCES = ("sampled", "noise")


def latent_inputs() -> list:
    return [
        io.Latent.Input("latent", optional=True,
                        tooltip="Optional clean latents of images showing the concept (e.g. a "
                                "KSampler's output for the concept prompt). If not connected, "
                                "'latent_source' decides."),
        *advanced(
            io.Combo.Input("latent_source", options=list(LATENT_SOURCES), default="sampled",
                           tooltip="Without a LATENT: 'sampled' draws training images from the "
                                   "original model with the concept prompt first (the "
                                   "reference); 'noise' trains on pure noise (fast, weaker)."),
            io.Int.Input("sample_size", default=512, min=8, max=2048, step=8,
                         tooltip="Image size (pixels) of the sampled training latents."),
            io.Int.Input("sample_count", default=4, min=1, max=64,
                         tooltip="How many training images to sample from the original model."),
            io.Int.Input("sample_steps", default=25, min=1, max=200,
                         tooltip="DDIM steps (guidance 7.5) for each sampled training image.")),
    ]


def anchor_inputs(prefix: str = "anchor_") -> list:
    return advanced(
        io.Int.Input(f"{prefix}steps", default=5, min=1, max=1000,
                     tooltip="Anchor (δ) updates per training draw; the search stops early once "
                             "the anchor loss reaches its target (default 5, as measured in the "
                             "lab with the keep loss; the reference's adv1: 20)."),
        io.Float.Input(f"{prefix}lr", default=0.05, min=1e-8, max=1.0, step=1e-5, round=1e-8,
                       tooltip="Adam learning rate of the anchor perturbation. Default 0.05: the "
                               "lab's step relative to a token's size (0.02 on MiniLM) at CLIP-L's "
                               "scale; the reference's adv1 uses 1e-4."),
        io.Combo.Input(f"{prefix}loss", options=list(LOSSES), default="keep",
                       tooltip="keep (default, measured best in the lab: benchmarks/RESULTS.md): "
                               "push the concept's share below zero while keeping what the "
                               "superclass adds over the empty prompt (the object); adv1: "
                               "anti-align the anchor's prediction with the concept's (the "
                               "reference); adv2: the same measured relative to the superclass; "
                               "orth: remove the concept's share only (to zero, not below). In the "
                               "lab adv1/adv2 erased the object with the concept."),
        io.Float.Input(f"{prefix}bound", default=0.0, min=0.0, max=100.0, step=0.01,
                       tooltip="Largest perturbation per concept token as a fraction of that "
                               "token's norm (e.g. 0.5); 0 = unbounded, as in the reference."),
    )


TRAINING_SEED = ("Seed of every random draw (timesteps, noise, anchor start): the same seed "
                 "gives the same result; change it to train again.")


def seed_input(tooltip: str = TRAINING_SEED) -> io.Int.Input:
    return io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF,
                        control_after_generate=False,  # a new seed would recompute on every queue
                        tooltip=tooltip)


def anchor_config(steps: int, lr: float, loss: str, bound: float) -> AnchorConfig:
    return AnchorConfig(loss=loss, steps=steps, lr=lr, bound=bound if bound > 0 else None)


def latent_config(latent, latent_source: str, sample_count: int, sample_steps: int) -> LatentConfig:
    if latent is not None:
        return LatentConfig(source="supplied")
    if latent_source not in LATENT_SOURCES:
        raise AdvAnchorError(f"latent_source {latent_source!r} is unknown: use one of {LATENT_SOURCES}")
    return LatentConfig(source=latent_source, sample_count=sample_count, sample_steps=sample_steps)


def require_concept(concept) -> Concept:
    if not isinstance(concept, Concept):
        raise AdvAnchorError("the CONCEPT input does not come from a Concept (AdvAnchor) node: "
                             "connect one")
    return concept


@dataclass
class Prepared:
    """What a core run needs, made from the node's MODEL, CLIP, CONCEPT and LATENT."""

    denoiser: ComfyDenoiser        # loaded on ComfyUI's device
    encoder: ComfyTextEncoder
    cc: ConceptConditioning
    latents: dict                  # `latents` / `latent_shape` keyword arguments of the core


def prepare(model, clip, concept, latent, sample_size: int, checkpointing: bool = False) -> Prepared:
    """Translate the node inputs once; the denoiser is loaded last, after the text is encoded."""
    concept = require_concept(concept)
    denoiser = ComfyDenoiser(model, checkpointing=checkpointing)
    encoder = text_encoder(denoiser, clip)
    cc = encode_concept(encoder, concept)
    latents = clean_latents(model, latent)
    shape = tuple(latents.shape[1:]) if latents is not None else latent_shape(model, sample_size)
    denoiser.prepare()
    return Prepared(denoiser, encoder, cc, {"latents": latents, "latent_shape": shape})


def fit_to_model(config: UnlearnConfig, denoiser: ComfyDenoiser) -> UnlearnConfig:
    """`config` as this model samples: Flux.1 dev is guidance-distilled (its guidance input
    carries the strength), so its training images are sampled without classifier-free
    guidance, which it was never trained for."""
    if denoiser.family.guidance and config.latents.source == "sampled":
        return replace(config, latents=replace(config.latents, sample_guidance=1.0))
    return config


def adversary(run: Prepared, every: int, steps: int, seed: int) -> PrefixAdversary | None:
    """Robust unlearning's attacker for this run (None for every = 0). ComfyUI's CLIP gives no
    input gradient, so its prefix is free rows of the encoded prompt (`attack`'s "conditioning")."""
    if every == 0:
        return None
    device = next(iter(run.denoiser.named_weights().values())).device
    return PrefixAdversary.start(run.encoder, run.cc.concept.prompt,
                                 RobustConfig(every=every, steps=steps, seed=seed),
                                 run.cc.erase.to(device))
