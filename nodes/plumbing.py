"""What every node that runs the core shares: widgets → the core's configs, and MODEL, CLIP,
CONCEPT and LATENT → what a core run takes.

Search Anchor, Unlearn, Concept Sensitivity and Attack Erasure convert their inputs here, so
they agree on meanings and defaults; Measure Erasure reads its prompt lists here too. The
defaults are the core's (`advanchor_core.defaults.RECOMMENDED`: what measured best in the lab);
the tooltips give the reference's values.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeVar

from comfy_api.latest import io

from ..advanchor_core.anchors import LOSSES, AnchorConfig
from ..advanchor_core.attack import AttackConfig
from ..advanchor_core.concept import Concept, ConceptConditioning, encode_concept, more_like
from ..advanchor_core.defaults import RECOMMENDED
from ..advanchor_core.errors import AdvAnchorError
from ..advanchor_core.latents import LatentConfig
from ..advanchor_core.robust import PrefixAdversary, RobustConfig
from ..advanchor_core.unlearn import UnlearnConfig
from .bridge.denoiser import ComfyDenoiser
from .bridge.families import Family
from .bridge.latents import clean_latents, latent_shape
from .bridge.switching import LoadedOnUse, LoadGroup
from .bridge.text import ComfyTextEncoder, text_encoder
from .sockets import advanced

LATENT_SOURCES = ("sampled", "noise")
TRAINING_SEED = ("Seed of every random draw (timesteps, noise, anchor start): the same seed "
                 "gives the same result; change it to train again.")
WithLatents = TypeVar("WithLatents", UnlearnConfig, AttackConfig)
MAX_CONCEPTS = 16  # concepts one fine-tuning run erases


# --- widgets ------------------------------------------------------------------------------
def latent_inputs() -> list:
    latents = RECOMMENDED.latents
    return [
        io.Latent.Input("latent", optional=True,
                        tooltip="Optional clean latents of images showing the concept (e.g. a "
                                "KSampler's output for the concept prompt). If not connected, "
                                "'latent_source' decides."),
        *advanced(
            io.Combo.Input("latent_source", options=list(LATENT_SOURCES), default=latents.source,
                           tooltip="Without a LATENT: 'sampled' draws training images from the "
                                   "original model with the concept prompt first (the "
                                   "reference); 'noise' trains on pure noise (fast, weaker)."),
            io.Int.Input("sample_size", default=512, min=8, max=2048, step=8,
                         tooltip="Image size (pixels) of the sampled training latents."),
            io.Int.Input("sample_count", default=latents.sample_count, min=1, max=64,
                         tooltip="How many training images to sample from the original model."),
            io.Int.Input("sample_steps", default=latents.sample_steps, min=1, max=200,
                         tooltip="DDIM steps for each sampled training image (at sample_guidance).")),
    ]


def anchor_inputs(prefix: str = "anchor_") -> list:
    anchor = RECOMMENDED.anchor
    return advanced(
        io.Int.Input(f"{prefix}steps", default=anchor.steps, min=1, max=1000,
                     tooltip="Anchor (δ) updates per training draw; the search stops early once "
                             "the anchor loss reaches its target (default 5, as measured in the "
                             "lab with the keep loss; the reference's adv1: 20)."),
        io.Float.Input(f"{prefix}lr", default=anchor.lr, min=1e-8, max=1.0, step=1e-5, round=1e-8,
                       tooltip="Step of the anchor perturbation, relative to the concept tokens' "
                               "size: each step moves a token by about this fraction of its norm, "
                               "on every text encoder (CLIP-L, CLIP-G, T5). Default 0.05: the "
                               "lab's measured step; the reference's adv1 is about 1e-4 (its Adam "
                               "lr 1e-4 on CLIP-L). In the lab, 1e-4 to 1e-3 (the paper's "
                               "regime) erased nothing in 40 updates, and from 1e-3 up the "
                               "anchor could break the object (benchmarks/RESULTS.md)."),
        io.Combo.Input(f"{prefix}loss", options=list(LOSSES), default=anchor.loss,
                       tooltip="keep (default, measured best in the lab: benchmarks/RESULTS.md): "
                               "push the concept's share below zero while keeping what the "
                               "superclass adds over the empty prompt (the object); adv1: "
                               "anti-align the anchor's prediction with the concept's (the "
                               "reference); adv2: the same measured relative to the superclass; "
                               "orth: remove the concept's share only (to zero, not below). In the "
                               "lab adv1/adv2 erased the object with the concept."),
        io.Float.Input(f"{prefix}bound", default=anchor.bound or 0.0, min=0.0, max=100.0, step=0.01,
                       tooltip="Largest perturbation per concept token as a fraction of that "
                               "token's norm (e.g. 0.5); 0 = unbounded, as in the reference."),
    )


def seed_input(tooltip: str = TRAINING_SEED) -> io.Int.Input:
    return io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF,
                        control_after_generate=False,  # a new seed would recompute on every queue
                        tooltip=tooltip)


# --- widget values → the core's settings --------------------------------------------------
def anchor_config(steps: int, lr: float, loss: str, bound: float) -> AnchorConfig:
    """The anchor widgets as the core's settings: the lr relative to the concept rows' size,
    so one value means the same step on CLIP-L, CLIP-G and T5."""
    return AnchorConfig(loss=loss, steps=steps, lr=lr, bound=bound if bound > 0 else None,
                        lr_relative=True)


SAMPLE_GUIDANCE = RECOMMENDED.latents.sample_guidance


def sample_guidance_input():
    """The guidance of self-sampled training images: a node's last input (a widget added before
    the others would shift saved workflows' values)."""
    return advanced(
        io.Float.Input("sample_guidance", default=SAMPLE_GUIDANCE, min=0.0, max=30.0,
                       step=0.5, optional=True,
                       tooltip="Classifier-free guidance of the training images the node samples "
                               "itself (latent_source 'sampled'). Set 1 for models distilled to "
                               "sample without it: Z-Image Turbo, Flux.2 [klein], Flux.1 schnell. "
                               "Flux.1 dev and Flux.2 dev always sample at 1: their guidance "
                               "input carries the strength."))[0]


def latent_config(latent, latent_source: str, sample_count: int, sample_steps: int,
                  sample_guidance: float = SAMPLE_GUIDANCE) -> LatentConfig:
    if latent is not None:
        return LatentConfig(source="supplied")
    if latent_source not in LATENT_SOURCES:
        raise AdvAnchorError(f"latent_source {latent_source!r} is unknown: use one of {LATENT_SOURCES}")
    return LatentConfig(source=latent_source, sample_count=sample_count, sample_steps=sample_steps,
                        sample_guidance=sample_guidance)


def prompt_lines(text: str, limit: int, what: str) -> list[str]:
    """One prompt per line; blank lines and '#' comments skipped, duplicates once. More than
    `limit` is refused: every prompt costs the node a measurement or a sampling run."""
    lines = [line.strip() for line in (text or "").splitlines()]
    prompts = list(dict.fromkeys(line for line in lines if line and not line.startswith("#")))
    if len(prompts) > limit:
        raise AdvAnchorError(f"{len(prompts)} {what}: give at most {limit}, one per line")
    return prompts


def require_concept(concept) -> Concept:
    if not isinstance(concept, Concept):
        raise AdvAnchorError("the CONCEPT input does not come from a Concept (AdvAnchor) node: "
                             "connect one")
    return concept


def fit_to_model(config: WithLatents, family: Family) -> WithLatents:
    """`config` as this model samples: Flux.1 dev is guidance-distilled (its guidance input
    carries the strength), so its training images are sampled without classifier-free
    guidance, which it was never trained for."""
    if family.guidance and config.latents.source == "sampled":
        return replace(config, latents=replace(config.latents, sample_guidance=1.0))
    return config


# --- node inputs → a core run ---------------------------------------------------------------
def latent_arguments(model, latent, sample_size: int) -> dict:
    """The core's `latents` / `latent_shape` keyword arguments: the LATENT in the model's space,
    or the latent shape of a `sample_size` image for the core to draw its own."""
    latents = clean_latents(model, latent)
    shape = tuple(latents.shape[1:]) if latents is not None else latent_shape(model, sample_size)
    return {"latents": latents, "latent_shape": shape}


@dataclass
class Prepared:
    """What a core run on one MODEL needs, made from the node's MODEL, CLIP, CONCEPT and LATENT."""

    denoiser: ComfyDenoiser        # loaded on ComfyUI's device
    encoder: ComfyTextEncoder
    ccs: list[ConceptConditioning]  # the CONCEPT, then any more concepts erased with it
    latents: dict                  # `latent_arguments`

    @property
    def cc(self) -> ConceptConditioning:
        """The CONCEPT's conditioning."""
        return self.ccs[0]


def prepare(model, clip, concept, latent, sample_size: int, checkpointing: bool = False,
            more_concepts: str = "") -> Prepared:
    """Translate the node inputs once; the denoiser is loaded last, after the text is encoded.

    `more_concepts`: one per line, erased in the same run, made like the CONCEPT (`more_like`)."""
    concepts = more_like(require_concept(concept), more_concepts)
    if len(concepts) > MAX_CONCEPTS:
        raise AdvAnchorError(f"{len(concepts)} concepts to erase in one run: give at most "
                             f"{MAX_CONCEPTS} (each samples its own training images and trains its "
                             "own updates), or use Erase (closed form) for long lists")
    denoiser = ComfyDenoiser(model, checkpointing=checkpointing)
    encoder = text_encoder(denoiser, clip)
    ccs = [encode_concept(encoder, c) for c in concepts]
    latents = latent_arguments(model, latent, sample_size)
    denoiser.prepare()
    return Prepared(denoiser, encoder, ccs, latents)


@dataclass
class PreparedPair:
    """What a core run comparing an erased MODEL with its original needs. The two share one
    training copy of their weights and are loaded one at a time (`bridge.switching`): the
    original is loaded first."""

    erased: LoadedOnUse
    original: LoadedOnUse
    family: Family
    encoder: ComfyTextEncoder      # fits the original (and so the erased) MODEL
    latents: dict                  # `latent_arguments`, in the original's space


def prepare_pair(erased_model, original_model, clip, latent, sample_size: int) -> PreparedPair:
    original, erased = _comparable(erased_model, original_model)
    encoder = text_encoder(original, clip)
    latents = latent_arguments(original_model, latent, sample_size)
    group = LoadGroup()
    first, second = LoadedOnUse(original, group), LoadedOnUse(erased, group)
    first.ensure_loaded()
    return PreparedPair(second, first, original.family, encoder, latents)


def _comparable(erased_model, original_model) -> tuple[ComfyDenoiser, ComfyDenoiser]:
    """Denoisers over both MODELs (one training copy of the weights they share, where a
    dynamic MODEL needs one), original first, refusing a pair that cannot be compared."""
    twins = {}
    original = ComfyDenoiser(original_model, twins=twins)
    erased = ComfyDenoiser(erased_model, twins=twins)
    shapes = lambda d: {k: tuple(v.shape) for k, v in d.named_weights().items()}  # noqa: E731
    if erased.family.context_dim != original.family.context_dim or shapes(erased) != shapes(original):
        raise AdvAnchorError(f"the erased MODEL ({erased.family.name}) and the original MODEL "
                             f"({original.family.name}) are not the same architecture: connect "
                             "the model the erasure was made from as original_model")
    return original, erased


def adversary(run: Prepared, every: int, steps: int, seed: int) -> PrefixAdversary | None:
    """Robust unlearning's attacker for this run (None for every = 0). ComfyUI's CLIP gives no
    input gradient, so its prefix is free rows of the encoded prompt (`attack`'s "conditioning")."""
    if every == 0:
        return None
    device = next(iter(run.denoiser.named_weights().values())).device
    return PrefixAdversary.start(run.encoder, run.cc.concept.prompt,
                                 RobustConfig(every=every, steps=steps, seed=seed),
                                 run.cc.erase.to(device))
