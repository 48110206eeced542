"""Search Anchor node: the adversarial anchor alone, to inspect or sample before unlearning."""
from __future__ import annotations

from comfy_api.latest import io

from ..advanchor_core.unlearn import UnlearnConfig, search_anchor
from . import comfy_bridge as bridge
from . import training
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
                        "from the concept. Outputs it as CONDITIONING to preview with a KSampler.",
            inputs=[
                io.Model.Input("model", tooltip="The model to erase from (not modified)."),
                io.Clip.Input("clip", tooltip="The text encoder that belongs to the model."),
                Concept.Input("concept", tooltip="From a Concept (AdvAnchor) node."),
                *training.latent_inputs(),
                io.Int.Input("draws", default=8, min=1, max=1000,
                             tooltip="Training draws (noised latent, timestep) the anchor is "
                                     "refined on, one after another."),
                *training.anchor_inputs(prefix=""),
                training.seed_input(),
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
                draws, steps, lr, loss, bound, seed, latent=None) -> io.NodeOutput:
        config = UnlearnConfig(
            anchor=training.anchor_config(steps, lr, loss, bound),
            latents=training.latent_config(latent, latent_source, sample_count, sample_steps),
            seed=seed)
        with bridge.training_mode():
            denoiser, cc, latent_kwargs = training.prepare(model, clip, concept, latent, sample_size)
            progress = bridge.Progress(draws, cls.hidden.unique_id)
            state, _history = bridge.run_cancellable(lambda: search_anchor(
                denoiser, cc, config, draws=draws, on_step=progress,
                should_cancel=bridge.should_cancel, **latent_kwargs))
            cond = state.conditioning().detach().float().cpu()
        encoder = bridge.ComfyTextEncoder(clip, pooled_rows=denoiser.pooled_rows)
        conditioning = encoder.conditioning(cond, cc.concept.anchor_text)
        return io.NodeOutput(state, conditioning)
