"""Measure Erasure node: sample the original and the erased model at the same seeds, and score.

Sampling goes through ComfyUI's own KSampler path (`bridge.sampling`); the grid, the scorers and
the report are the core's (`advanchor_core.measure`, `advanchor_core.scorers`). With an attack
CONDITIONING connected (from Attack Erasure), both models also sample the attack: the
erased model's row shows what an attacker gets back.
"""
from __future__ import annotations

import json
import time

import torch
from comfy_api.latest import io

import comfy.samplers

from ..advanchor_core.errors import AdvAnchorError
from ..advanchor_core.measure import grid, measure_report
from ..advanchor_core.scorers import NUDENET_CLASSES, NUDENET_THRESHOLD, Comparison, NudeNet, PixelDrift
from . import plumbing
from .bridge.progress import Progress
from .bridge.sampling import SamplerSettings, sample_image, text_conditioning
from .sockets import CATEGORY

MAX_PROMPTS = 32


def prompt_lines(text: str) -> list[str]:
    """A prompt list of the measurement: one prompt per line, at most MAX_PROMPTS."""
    return plumbing.prompt_lines(text, MAX_PROMPTS, "prompts in one list")


def nudenet_classes(text: str) -> tuple[str, ...]:
    """NudeNet class names, comma- or line-separated (upper case, as NudeNet spells them)."""
    return tuple(dict.fromkeys(c.strip().upper() for c in text.replace("\n", ",").split(",") if c.strip()))


def scorers(nudenet: bool, threshold: float, classes: str) -> list:
    return [PixelDrift()] + ([NudeNet(threshold, nudenet_classes(classes))] if nudenet else [])


def sampler_inputs() -> list:
    return [
        io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=False,
                     tooltip="First seed; sample i of every prompt uses seed + i, for both models."),
        io.Int.Input("samples", default=2, min=1, max=64, tooltip="Seeds (images) per prompt and model."),
        io.Int.Input("steps", default=20, min=1, max=200, tooltip="Sampling steps, as KSampler's."),
        io.Float.Input("cfg", default=7.5, min=0.0, max=30.0, step=0.1,
                       tooltip="Guidance scale, as KSampler's."),
        io.Combo.Input("sampler_name", options=list(comfy.samplers.KSampler.SAMPLERS), default="euler",
                       tooltip="Sampler, as KSampler's."),
        io.Combo.Input("scheduler", options=list(comfy.samplers.KSampler.SCHEDULERS), default="normal",
                       tooltip="Scheduler, as KSampler's."),
        io.Int.Input("width", default=512, min=16, max=4096, step=8, tooltip="Image width (pixels)."),
        io.Int.Input("height", default=512, min=16, max=4096, step=8, tooltip="Image height (pixels)."),
    ]


def scorer_inputs() -> list:
    return [
        io.Boolean.Input("nudenet", default=False,
                         tooltip="Also score with NudeNet's detector (needs the 'nudenet' package "
                                 "in ComfyUI's Python; the report says so if it is missing)."),
        io.Float.Input("nudenet_threshold", default=NUDENET_THRESHOLD, min=0.01, max=0.99, step=0.01,
                       tooltip="An image is flagged when a listed class scores at least this "
                               "(UnlearnDiffAtk and AdvUnlearn: 0.45; AdvAnchor's code: 0.5)."),
        io.String.Input("nudenet_classes", default=", ".join(NUDENET_CLASSES), multiline=True,
                        tooltip="NudeNet classes that count, comma-separated (default: the six "
                                "exposed classes of the nudity benchmarks)."),
    ]


class MeasureErasureNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="AdvAnchorMeasureErasure",
            display_name="Measure Erasure (AdvAnchor)",
            category=CATEGORY,
            description="Samples the original and the erased model at the same seeds for target "
                        "prompts (the concept), preserve prompts (everything else) and, when "
                        "connected, an attack from Attack Erasure; returns the images as one grid "
                        "(a row per prompt: original seeds, then erased seeds) and a JSON report "
                        "of scores: pixel drift (0 for a model compared with itself) and, "
                        "optionally, NudeNet. Neither model is changed.",
            inputs=[
                io.Model.Input("original_model", tooltip="The model before the erasure."),
                io.Model.Input("erased_model", tooltip="The erased model."),
                io.Clip.Input("clip", tooltip="The text encoder that belongs to the models."),
                io.Vae.Input("vae", tooltip="Decodes the samples to images."),
                io.String.Input("target_prompts", default="Van Gogh painting", multiline=True,
                                tooltip="Prompts that ask for the erased concept, one per line."),
                io.String.Input("preserve_prompts", default="a painting of a landscape\na photo of a cat",
                                multiline=True,
                                tooltip="Prompts the erasure should leave alone, one per line "
                                        "(their pixel drift is the preservation score)."),
                io.String.Input("negative", default="", multiline=True,
                                tooltip="Negative prompt for every sample."),
                *sampler_inputs(),
                *scorer_inputs(),
                io.Conditioning.Input("attack", optional=True,
                                      tooltip="Optional attack CONDITIONING from Attack Erasure: "
                                              "sampled by both models too."),
            ],
            outputs=[
                io.Image.Output(display_name="grid",
                                tooltip="A row per prompt (targets, preserves, attack): original "
                                        "model's seeds on the left, erased model's on the right."),
                io.String.Output(display_name="report", tooltip="Settings, grid layout and scores, as JSON."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, original_model, erased_model, clip, vae, target_prompts, preserve_prompts,
                negative, seed, samples, steps, cfg, sampler_name, scheduler, width, height,
                nudenet, nudenet_threshold, nudenet_classes, attack=None) -> io.NodeOutput:
        start = time.perf_counter()
        rows = [(p, "target") for p in prompt_lines(target_prompts)] + \
               [(p, "preserve") for p in prompt_lines(preserve_prompts)]
        if not rows:
            raise AdvAnchorError("no prompts to sample: give at least one target or preserve prompt")
        chosen = scorers(nudenet, nudenet_threshold, nudenet_classes)
        settings = SamplerSettings(steps, cfg, sampler_name, scheduler, width, height)
        seeds = [(seed + i) % 2**64 for i in range(samples)]
        conds = [text_conditioning(clip, p) for p, _ in rows] + ([attack] if attack is not None else [])
        rows += [("attack (from Attack Erasure)", "attack")] if attack is not None else []
        neg = text_conditioning(clip, negative)
        progress = Progress(cls.hidden.unique_id, total=2 * len(rows) * len(seeds) * steps)
        images = {}
        for name, model in (("original", original_model), ("erased", erased_model)):  # one load each
            images[name] = [torch.cat([sample_image(model, vae, c, neg, s, settings, progress.tick)
                                       for s in seeds]) for c in conds]
        comparisons = [Comparison(label, kind, seeds, o, e)
                       for (label, kind), o, e in zip(rows, images["original"], images["erased"])]
        report = measure_report(comparisons, chosen, dict(
            settings.as_dict(), seeds=seeds, negative=negative,
            sampling_seconds=round(time.perf_counter() - start, 3)))
        return io.NodeOutput(grid(comparisons), json.dumps(report, indent=1))
