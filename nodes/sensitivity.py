"""Concept Sensitivity node: before erasing, see which anchors, layers and tokens carry a concept.

The analyses live in `advanchor_core.sensitivity`, the figures in `advanchor_core.plots`; this
module only translates ComfyUI inputs (MODEL, CLIP, CONCEPT, ANCHOR, LATENT) and outputs
(IMAGE batch, JSON STRING, a layer selection the Unlearn node accepts).
"""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..advanchor_core import plots
from ..advanchor_core.anchors import rebase_anchor
from ..advanchor_core.concept import ConceptConditioning
from ..advanchor_core.errors import AdvAnchorError
from ..advanchor_core.sensitivity import ProbeConfig, analyse, make_probes
from . import plumbing
from .bridge import training_mode
from .sockets import CATEGORY, Anchor, Concept, Layers

WEIGHT_CHOICES = ("all", "kv")
MAX_CANDIDATES = 16
PROBES = ProbeConfig()


def anchor_conditioning(anchor, cc: ConceptConditioning) -> torch.Tensor | None:
    """The ANCHOR's conditioning, rebuilt on this concept's encoding (as Unlearn does)."""
    return None if anchor is None else rebase_anchor(cc, anchor).conditioning().detach()


class ConceptSensitivityNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="AdvAnchorConceptSensitivity",
            display_name="Concept Sensitivity (AdvAnchor)",
            category=CATEGORY,
            description="Inspects a concept before erasing it: an anchor map (how close each "
                        "candidate anchor is to the concept against how much of the concept it "
                        "still carries), how strongly each cross-attention layer reads the "
                        "concept, and which prompt tokens carry it. Outputs the three plots, the "
                        "full report as JSON and the most sensitive layers for Unlearn. The "
                        "model is not changed.",
            inputs=[
                io.Model.Input("model", tooltip="The model to inspect (not modified)."),
                io.Clip.Input("clip", tooltip="The text encoder that belongs to the model."),
                Concept.Input("concept", tooltip="From a Concept (AdvAnchor) node."),
                Anchor.Input("anchor", optional=True,
                             tooltip="Optional adversarial anchor from Search Anchor: shown on the "
                                     "map and used to rank the layers (else the superclass is)."),
                io.String.Input("candidate_prompts", default="", multiline=True,
                                tooltip="More anchors to compare, one text prompt per line (e.g. "
                                        "'Monet painting', 'a painting'). The superclass and the "
                                        "empty prompt are always shown."),
                io.Latent.Input("latent", optional=True,
                                tooltip="Optional latents of images to probe with (e.g. a "
                                        "KSampler's output for the concept prompt); without it, "
                                        "Gaussian latents of sample_size are used."),
                io.Int.Input("sample_size", default=512, min=8, max=2048, step=8,
                             tooltip="Image size (pixels) of the probe latents when no LATENT is connected."),
                io.Int.Input("probe_latents", default=PROBES.latents, min=1, max=16,
                             tooltip="Latents each measurement averages over, at 3 noise levels "
                                     "(20%, 50%, 80% of the schedule)."),
                io.Int.Input("top_k", default=4, min=0, max=64,
                             tooltip="Layers to keep for Unlearn: the k most sensitive (0 = use "
                                     "the threshold alone)."),
                io.Float.Input("threshold", default=0.0, min=0.0, max=1.0, step=0.05,
                               tooltip="Also keep only layers scoring at least this fraction of "
                                       "the best layer's score (0 = off)."),
                io.Combo.Input("weights", options=list(WEIGHT_CHOICES), default="all",
                               tooltip="Which weights of the selected layers Unlearn trains: all "
                                       "(to_q/to_k/to_v/to_out, like xattn) or kv (to_k/to_v)."),
                plumbing.seed_input("Seed of the probe noise: the same seed gives the same report."),
            ],
            outputs=[
                io.Image.Output(display_name="plots",
                                tooltip="Anchor map, layer heatmap and token bars (a batch of 3)."),
                io.String.Output(display_name="report", tooltip="Every number, as JSON."),
                Layers.Output(display_name="LAYERS",
                              tooltip="The selected layers; connect to Unlearn's 'layers' input "
                                      "to train only them."),
            ],
        )

    @classmethod
    def execute(cls, model, clip, concept, candidate_prompts, sample_size, probe_latents, top_k,
                threshold, weights, seed, anchor=None, latent=None) -> io.NodeOutput:
        concept = plumbing.require_concept(concept)
        if top_k == 0 and threshold <= 0:
            raise AdvAnchorError("top_k is 0 and threshold is 0: set top_k (e.g. 4) or a "
                                 "threshold (e.g. 0.5) to choose layers")
        if weights not in WEIGHT_CHOICES:
            raise AdvAnchorError(f"weights {weights!r} is unknown: use 'all' or 'kv'")
        prompts = plumbing.prompt_lines(candidate_prompts, MAX_CANDIDATES,
                                        "candidate anchor prompts")
        with training_mode():
            run = plumbing.prepare(model, clip, concept, latent, sample_size)
            cc, encoder = run.cc, run.encoder
            probes = make_probes(run.denoiser, ProbeConfig(latents=probe_latents, seed=seed % 2**63),
                                 **run.latents)
            encoded = dict(zip(prompts, encoder.encode(prompts).split(1))) if prompts else {}
            labels, shown = encoder.token_labels(concept.prompt)
            try:
                positions = encoder.token_positions(concept.prompt, concept.text.strip())
            except AdvAnchorError:  # a prompt template without the concept: nothing to mark
                positions = []
            report = analyse(run.denoiser, cc, probes, anchor=anchor_conditioning(anchor, cc),
                             prompts=encoded, token_labels=labels, shown_tokens=shown,
                             concept_positions=positions, top_k=top_k or None,
                             threshold=threshold if threshold > 0 else None, weights=weights)
            figures = plots.sensitivity_figures(report.anchor_map, report.layers, report.tokens,
                                                report.selection, concept.text)
            image = torch.from_numpy(figures).float()
        return io.NodeOutput(image, report.to_json(), report.selection)

