"""Search Anchor node: the adversarial anchor alone, to inspect or sample before unlearning."""
from __future__ import annotations

import logging

from comfy_api.latest import io

from ..advanchor_core.unlearn import UnlearnConfig, search_anchor
from . import plumbing
from .bridge import training_mode
from .bridge.progress import Progress, reported, run_cancellable, should_cancel
from .sockets import CATEGORY, Anchor, Concept


class SearchAnchorNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="AdvAnchorSearchAnchor",
            display_name="Search Anchor (AdvAnchor)",
            category=CATEGORY,
            description="Finds the adversarial anchor: the concept's own text embedding, perturbed "
                        "on the concept's tokens until the frozen model's prediction points away "
                        "from the concept. Outputs it as CONDITIONING to preview with a KSampler. "
                        "Logs its effect size r: how far it moved the concept's prediction, in "
                        "units of the concept's distance to its superclass (the same on every "
                        "model).",
            inputs=[
                io.Model.Input("model", tooltip="The model to erase from (not modified)."),
                io.Clip.Input("clip", tooltip="The text encoder that belongs to the model."),
                Concept.Input("concept", tooltip="From a Concept (AdvAnchor) node."),
                *plumbing.latent_inputs(),
                io.Int.Input("draws", default=8, min=1, max=1000,
                             tooltip="Training draws (noised latent, timestep) the anchor is "
                                     "refined on, one after another."),
                *plumbing.anchor_inputs(prefix=""),
                plumbing.seed_input(),
                plumbing.sample_guidance_input(),
            ],
            outputs=[
                Anchor.Output(display_name="ANCHOR",
                              tooltip="The anchor perturbation; connect to Unlearn to start from it."),
                io.Conditioning.Output(display_name="CONDITIONING",
                                       tooltip="The anchor as conditioning, e.g. as a KSampler's positive."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, clip, concept, latent_source, sample_size, sample_count, sample_steps,
                draws, steps, lr, loss, bound, seed, latent=None,
                sample_guidance=plumbing.SAMPLE_GUIDANCE) -> io.NodeOutput:
        config = UnlearnConfig(
            anchor=plumbing.anchor_config(steps, lr, loss, bound),
            latents=plumbing.latent_config(latent, latent_source, sample_count, sample_steps, sample_guidance),
            seed=seed)
        with training_mode(), reported("Search Anchor"):
            run = plumbing.prepare(model, clip, concept, latent, sample_size)
            config = plumbing.fit_to_model(config, run.denoiser.family)
            state, _history = run_cancellable(lambda: search_anchor(
                run.denoiser, run.cc, config, draws=draws, on_step=Progress(cls.hidden.unique_id),
                should_cancel=should_cancel, **run.latents))
            cond = state.conditioning().detach().float().cpu()
        logging.info(f"AdvAnchor Search Anchor: effect size r = {state.effect:.3f} (the anchor "
                     "moved the concept's prediction r times its distance to the superclass's)")
        return io.NodeOutput(state, run.encoder.conditioning(cond, run.cc.concept.anchor_text))
