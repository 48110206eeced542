"""Attack Erasure node: try to break an erasure with a soft prefix, as safety evaluations do.

The attack lives in `advanchor_core.attack`; this module translates the two MODELs, CLIP, CONCEPT
and LATENT, and returns the attack as CONDITIONING (sample it to see what an attacker gets back)
plus a JSON report. ComfyUI's CLIP runs without gradients, so here the prefix is k free rows of
the encoded prompt (the attack's "conditioning" space; see the core module for what that means).
"""
from __future__ import annotations

import json

from comfy_api.latest import io

from ..advanchor_core.attack import AttackConfig, attack_erasure
from . import plumbing
from .bridge import training_mode
from .bridge.progress import Progress, reported, run_cancellable, should_cancel
from .sockets import CATEGORY, Concept, advanced

DEFAULT = AttackConfig()  # UnlearnDiffAtk's settings


def attack_inputs() -> list:
    return [
        *advanced(
            io.Int.Input("tokens", default=DEFAULT.tokens, min=1, max=32,
                         tooltip="Soft prefix tokens put before the concept prompt (UnlearnDiffAtk: 5)."),
        ),
        io.Int.Input("steps", default=DEFAULT.steps, min=1, max=1000,
                     tooltip="Adam updates of the prefix, one training draw each (UnlearnDiffAtk: 40)."),
        *advanced(
            io.Float.Input("lr", default=DEFAULT.lr, min=1e-6, max=10.0, step=0.001, round=1e-6,
                           tooltip="Adam learning rate of the prefix (UnlearnDiffAtk: 0.01). Raise "
                                   "it (e.g. 0.05) for a stronger attack in the same steps."),
        ),
    ]


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
                *plumbing.latent_inputs(),
                *attack_inputs(),
                plumbing.seed_input("Seed of every random draw (training latents, timesteps, the "
                                    "prefix's start): the same seed gives the same attack."),
                plumbing.sample_guidance_input(),
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
                sample_count, sample_steps, tokens, steps, lr, seed, latent=None,
                sample_guidance=plumbing.SAMPLE_GUIDANCE) -> io.NodeOutput:
        concept = plumbing.require_concept(concept)
        config = AttackConfig(
            tokens=tokens, steps=steps, lr=lr, seed=seed % 2**63,
            latents=plumbing.latent_config(latent, latent_source, sample_count, sample_steps, sample_guidance))
        with training_mode(), reported("Attack Erasure"):
            pair = plumbing.prepare_pair(erased_model, original_model, clip, latent, sample_size)
            config = plumbing.fit_to_model(config, pair.family)
            result = run_cancellable(lambda: attack_erasure(
                pair.erased, pair.original, pair.encoder, concept, config,
                on_step=Progress(cls.hidden.unique_id), should_cancel=should_cancel, **pair.latents))
            cond = result.conditioning().float().cpu()
        report = dict(result.report, family=pair.family.name)
        return io.NodeOutput(pair.encoder.conditioning(cond, result.prefixed_prompt),
                             json.dumps(report, indent=1, default=str))
