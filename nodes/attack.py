"""Attack Erasure node: try to break an erasure with a soft prefix, as safety evaluations do.

The attack lives in `advanchor_core.attack`; this module translates the two MODELs, CLIP, CONCEPT
and LATENT, and returns the attack as CONDITIONING (sample it to see what an attacker gets back)
plus a JSON report. ComfyUI's CLIP runs without gradients, so here the prefix is k free rows of
the encoded prompt (the attack's "conditioning" space; see the core module for what that means).
"""
from __future__ import annotations

import json
from dataclasses import replace

from comfy_api.latest import io

from ..advanchor_core.attack import AttackConfig, attack_erasure
from ..advanchor_core.errors import AdvAnchorError
from . import training
from .bridge import training_mode
from .bridge.denoiser import ComfyDenoiser
from .bridge.latents import clean_latents, latent_shape
from .bridge.progress import Progress, reported, run_cancellable, should_cancel
from .bridge.switching import LoadedOnUse, LoadGroup
from .bridge.text import text_encoder
from .sockets import CATEGORY, Concept, advanced


def attack_inputs() -> list:
    return [
        *advanced(
            io.Int.Input("tokens", default=5, min=1, max=32,
                         tooltip="Soft prefix tokens put before the concept prompt (UnlearnDiffAtk: 5)."),
        ),
        io.Int.Input("steps", default=40, min=1, max=1000,
                     tooltip="Adam updates of the prefix, one training draw each (UnlearnDiffAtk: 40)."),
        *advanced(
            io.Float.Input("lr", default=0.01, min=1e-6, max=10.0, step=0.001, round=1e-6,
                           tooltip="Adam learning rate of the prefix (UnlearnDiffAtk: 0.01). Raise "
                                   "it (e.g. 0.05) for a stronger attack in the same steps."),
        ),
    ]


def two_models(erased_model, original_model) -> tuple[ComfyDenoiser, ComfyDenoiser]:
    """Denoisers over both MODELs (one training copy of the weights they share, where a
    dynamic MODEL needs one), refusing a pair that cannot be compared."""
    twins = {}
    original = ComfyDenoiser(original_model, twins=twins)
    erased = ComfyDenoiser(erased_model, twins=twins)
    shapes = lambda d: {k: tuple(v.shape) for k, v in d.named_weights().items()}  # noqa: E731
    if erased.family.context_dim != original.family.context_dim or shapes(erased) != shapes(original):
        raise AdvAnchorError(f"the erased MODEL ({erased.family.name}) and the original MODEL "
                             f"({original.family.name}) are not the same architecture: connect "
                             "the model the erasure was made from as original_model")
    return erased, original


def fit_to_model(config: AttackConfig, original: ComfyDenoiser) -> AttackConfig:
    """Guidance-distilled models (Flux.1 dev) sample their training images without
    classifier-free guidance, as Unlearn does (`training.fit_to_model`)."""
    if getattr(original.family, "guidance", False) and config.latents.source == "sampled":
        return replace(config, latents=replace(config.latents, sample_guidance=1.0))
    return config


class AttackErasureNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="AdvAnchorAttackErasure",
            display_name="Attack Erasure (AdvAnchor)",
            category=CATEGORY,
            description="Tries to bring an erased concept back: optimises a few soft prefix tokens "
                        "so that the erased model's prediction for [prefix + concept prompt] "
                        "matches the original model's for the concept prompt (a prefix attack, "
                        "as UnlearnDiffAtk). ComfyUI's CLIP gives no gradient to its input, so the "
                        "prefix is the rows of k placeholder tokens in the encoded prompt, "
                        "optimised directly (the space the UNet reads). Outputs the attack as CONDITIONING and a JSON "
                        "report; neither model is changed.",
            inputs=[
                io.Model.Input("erased_model", tooltip="The erased model to attack (not modified)."),
                io.Model.Input("original_model",
                               tooltip="The model before the erasure: what the attack tries to get back."),
                io.Clip.Input("clip", tooltip="The text encoder that belongs to the models."),
                Concept.Input("concept", tooltip="The erased concept, from a Concept (AdvAnchor) "
                                                 "node; its prompt is attacked."),
                *training.latent_inputs(),
                *attack_inputs(),
                training.seed_input("Seed of every random draw (training latents, timesteps, the "
                                    "prefix's start): the same seed gives the same attack."),
            ],
            outputs=[
                io.Conditioning.Output(display_name="CONDITIONING",
                                       tooltip="The attack: the concept prompt with the prefix; "
                                               "use as a KSampler's positive on the erased model."),
                io.String.Output(display_name="report",
                                 tooltip="Settings, loss curve and the held-out prediction gap "
                                         "before/after the attack, as JSON."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, erased_model, original_model, clip, concept, latent_source, sample_size,
                sample_count, sample_steps, tokens, steps, lr, seed, latent=None) -> io.NodeOutput:
        concept = training.require_concept(concept)
        config = AttackConfig(
            tokens=tokens, steps=steps, lr=lr, seed=seed % 2**63,
            latents=training.latent_config(latent, latent_source, sample_count, sample_steps))
        with training_mode(), reported("Attack Erasure"):
            erased, original = two_models(erased_model, original_model)
            config = fit_to_model(config, original)
            encoder = text_encoder(original, clip)
            latents = clean_latents(original_model, latent)
            shape = tuple(latents.shape[1:]) if latents is not None else \
                latent_shape(original_model, sample_size)
            group = LoadGroup()
            first, second = LoadedOnUse(original, group), LoadedOnUse(erased, group)
            first.ensure_loaded()
            result = run_cancellable(lambda: attack_erasure(
                second, first, encoder, concept, config, latents=latents, latent_shape=shape,
                on_step=Progress(cls.hidden.unique_id), should_cancel=should_cancel))
            cond = result.conditioning().float().cpu()
        report = dict(result.report, family=original.family.name)
        return io.NodeOutput(encoder.conditioning(cond, result.prefixed_prompt),
                             json.dumps(report, indent=1, default=str))
