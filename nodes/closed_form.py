"""Erase (closed form) node: several concepts erased in one linear solve, no training loop."""
from __future__ import annotations

from comfy_api.latest import io

from ..advanchor_core.closed_form import (VARIANTS, ClosedFormConfig, closed_form_erasure, edit_rows,
                                          targets_from_lines, text_weights)
from .bridge.denoiser import ComfyDenoiser
from .bridge.erasure import with_erasure
from .bridge.progress import Progress, reported, run_cancellable, should_cancel
from .bridge.text import text_encoder
from .plumbing import prompt_lines
from .sockets import CATEGORY, Erasure, advanced

DEFAULTS = ClosedFormConfig()


class EraseClosedFormNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="AdvAnchorEraseClosedForm",
            display_name="Erase (closed form) (AdvAnchor)",
            category=CATEGORY,
            description="Erases every concept in the list at once by solving for new "
                        "cross-attention keys and values (UCE), so the concepts' words are read "
                        "as their targets: seconds, no training, no sampling. The input MODEL is "
                        "not changed: the output is a clone carrying the erasure as patches. "
                        "SD1.x, SD2.x and SDXL; the transformers (Flux, SD3, Chroma, Z-Image, "
                        "Qwen-Image, Flux.2) are refused (use Unlearn).",
            inputs=[
                io.Model.Input("model", tooltip="The model to erase from (not modified)."),
                io.Clip.Input("clip", tooltip="The text encoder that belongs to the model."),
                io.String.Input("concepts", default="Van Gogh\nPicasso\nnudity", multiline=True,
                                tooltip="One concept per line; 'concept -> target' reads it as "
                                        "that target instead of the default target."),
                io.String.Input("default_target", default="",
                                tooltip="What a concept without its own target is read as "
                                        "(empty: the empty prompt, as UCE erases)."),
                io.String.Input("preserve", default="", multiline=True,
                                tooltip="Prompts whose meaning must not change, one per line: the "
                                        "neighbours of the concepts (other artists, other "
                                        "objects). The empty prompt and every target are always "
                                        "kept."),
                io.Combo.Input("variant", options=list(VARIANTS), default=DEFAULTS.variant,
                               tooltip="uce (default, measured best in the lab): UCE as published, "
                                       "preservation weighed against erasure; null-space: the edit "
                                       "never touches what the preserve prompts read (it cannot "
                                       "erase what the concepts share with them)."),
                *advanced(
                    io.Float.Input("erase_scale", default=DEFAULTS.erase_scale, min=0.0, max=100.0,
                                   step=0.1, tooltip="Weight of the concepts reaching their targets."),
                    io.Float.Input("preserve_scale", default=DEFAULTS.preserve_scale, min=0.0,
                                   max=100.0, step=0.1,
                                   tooltip="uce only: weight of the preserve prompts staying."),
                    io.Float.Input("regularization", default=DEFAULTS.regularization, min=1e-6,
                                   max=100.0, step=0.01,
                                   tooltip="Weight of staying close to the original weights."),
                ),
            ],
            outputs=[
                io.Model.Output(display_name="MODEL", tooltip="The erased model (a patched clone)."),
                Erasure.Output(display_name="ERASURE", tooltip="The weight change, for Save Erasure."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, clip, concepts, default_target, preserve, variant,
                erase_scale=DEFAULTS.erase_scale, preserve_scale=DEFAULTS.preserve_scale,
                regularization=DEFAULTS.regularization) -> io.NodeOutput:
        config = ClosedFormConfig(variant=variant, erase_scale=erase_scale,
                                  preserve_scale=preserve_scale, regularization=regularization)
        targets = targets_from_lines(concepts, default_target)
        kept = prompt_lines(preserve, 1000, "preserve prompts")
        with reported("Erase (closed form)"):
            denoiser = ComfyDenoiser(model)
            text_weights(denoiser)  # refuses Flux/SD3 and 8-bit weights before any work
            rows = edit_rows(text_encoder(denoiser, clip), denoiser, targets, kept)
            erasure = run_cancellable(lambda: closed_form_erasure(
                denoiser.prepare(), rows, config, on_step=Progress(cls.hidden.unique_id),
                should_cancel=should_cancel))
        return io.NodeOutput(with_erasure(model, erasure), erasure)
