"""Unlearn node: erase a concept from a MODEL; the result is a clone carrying the erasure."""
from __future__ import annotations

import logging

import torch
from comfy_api.latest import io

from ..advanchor_core import plots
from ..advanchor_core.defaults import RECOMMENDED
from ..advanchor_core.denoiser import AUTOCAST_DTYPES
from ..advanchor_core.errors import AdvAnchorError
from ..advanchor_core.presets import PRESETS
from ..advanchor_core.robust import RobustConfig
from ..advanchor_core.unlearn import METHODS, SCHEDULES, UnlearnConfig, unlearn
from . import plumbing
from .bridge import training_mode
from .bridge.erasure import with_erasure
from .bridge.progress import Progress, reported, run_cancellable, should_cancel
from .sockets import CATEGORY, Anchor, Concept, Erasure, Layers, advanced

CUSTOM = "custom pattern"
ROBUST = RobustConfig()  # attack steps per robust round
PARAMETER_CHOICES = (*PRESETS, CUSTOM)


def parameter_spec(parameters: str, pattern: str) -> str:
    if parameters == CUSTOM:
        if not pattern.strip():
            raise AdvAnchorError("parameters is 'custom pattern' but parameter_pattern is empty: "
                                 "type a regular expression over UNet parameter names, e.g. 'attn2\\.to_v'")
        return pattern.strip()
    if parameters not in PRESETS:
        raise AdvAnchorError(f"parameter preset {parameters!r} is unknown: use one of "
                             f"{', '.join(PARAMETER_CHOICES)}")
    return parameters


def layer_parameters(layers) -> tuple[str, ...]:
    """The parameter names of a layer selection from Concept Sensitivity."""
    names = getattr(layers, "parameters", None)
    if not names:
        raise AdvAnchorError("the 'layers' input does not come from a Concept Sensitivity node "
                             "(or selects nothing): connect its LAYERS output")
    return tuple(names)


def loss_curve(history) -> torch.Tensor:
    """The unlearning losses per update as an IMAGE [1, H, W, 3] in 0..1 (drawn by core plots)."""
    with torch.inference_mode(False):
        return torch.from_numpy(plots.loss_curve(history))[None]


def log_reached(ccs, reached, iterations: int) -> None:
    """Say how far each concept went (`moved` of the way to its target) and what it cost the
    superclass (`drift`), so a user can tell a weak erasure from a damaging one."""
    for cc, r in zip(ccs, reached):
        logging.info(f"AdvAnchor Unlearn: '{cc.concept.text}' moved {r.moved:.2f} of the way to its "
                     f"target in {r.update}/{iterations} updates; its superclass drifted {r.drift:.2f} "
                     "of the concept's distance from it")


class UnlearnNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="AdvAnchorUnlearn",
            display_name="Unlearn (AdvAnchor)",
            category=CATEGORY,
            description="Fine-tunes the chosen UNet weights so the concept's prediction matches "
                        "the anchor's while the superclass is preserved. The input MODEL is not "
                        "changed: the output is a clone carrying the erasure as patches.",
            inputs=[
                io.Model.Input("model", tooltip="The model to erase from (not modified)."),
                io.Clip.Input("clip", tooltip="The text encoder that belongs to the model."),
                Concept.Input("concept", tooltip="From a Concept (AdvAnchor) node."),
                Anchor.Input("anchor", optional=True,
                             tooltip="Optional anchor from Search Anchor to start from (adversarial method)."),
                Layers.Input("layers", optional=True,
                             tooltip="Optional layers from Concept Sensitivity: train only their "
                                     "weights (overrides 'parameters')."),
                *plumbing.latent_inputs(),
                io.Combo.Input("method", options=list(METHODS), default=RECOMMENDED.method,
                               tooltip="esd (default: measured best in the lab, benchmarks/RESULTS.md): "
                                       "negative guidance (ESD); adversarial: AdvAnchor, an anchor "
                                       "searched to lose the concept (connect Search Anchor or let "
                                       "Unlearn search one); fixed: align with the superclass prompt "
                                       "(Concept Ablation)."),
                io.Int.Input("iterations", default=RECOMMENDED.steps, min=1, max=100000,
                             tooltip="Weight updates. Default 1000 at lr 1e-5: ESD's published "
                                     "recipe, since the lab's budgets, tuned on a tiny model, "
                                     "do not carry to real ones (benchmarks/RESULTS.md); the "
                                     "paper's AdvAnchor trains 51."),
                *advanced(
                    io.Float.Input("lr", default=RECOMMENDED.lr, min=1e-9, max=1.0, step=1e-6,
                                   round=1e-9,
                                   tooltip="Adam learning rate of the weights (1e-5: ESD's and the "
                                           "reference's)."),
                ),
                io.Combo.Input("parameters", options=list(PARAMETER_CHOICES),
                               default=RECOMMENDED.parameters,
                               tooltip="Which weights change: xattn = all cross-attention "
                                       "(reference; Flux/SD3: the joint attention of the "
                                       "dual-stream blocks), xattn-kv = its keys/values (Flux/SD3: "
                                       "the text stream's q/k/v), text-stream / image-stream = the "
                                       "weights only text / only image tokens pass, noxattn = all "
                                       "but xattn, full = everything, or a custom pattern. The "
                                       "README's table says what each trains per family."),
                *advanced(
                    io.String.Input("parameter_pattern", default="",
                                    tooltip="Regular expression over the model's parameter names, "
                                            "used when parameters is 'custom pattern'."),
                    io.Combo.Input("schedule", options=list(SCHEDULES), default=RECOMMENDED.schedule,
                                   tooltip="Adversarial method only. sequential (default, measured "
                                           "best in the lab with the keep anchor): the whole anchor "
                                           "phase over every draw first, then every weight update "
                                           "towards it; alternating: refine the anchor before every "
                                           "weight update; cyclical: anchor passes over all draws "
                                           "first."),
                    io.Float.Input("preservation", default=RECOMMENDED.preservation, min=0.0,
                                   max=1000.0, step=0.1,
                                   tooltip="Weight λ of keeping the superclass's prediction "
                                           "unchanged (reference: 10)."),
                    *plumbing.anchor_inputs(),
                    io.Boolean.Input("accumulate_gradients", default=RECOMMENDED.accumulate_grads,
                                     tooltip="Never zero gradients, as the authors' code does; off "
                                             "zeroes them every step (recommended)."),
                ),
                plumbing.seed_input(),
                *advanced(
                    io.Boolean.Input("gradient_checkpointing", default=False, optional=True,
                                     tooltip="Recompute UNet activations in the backward pass "
                                             "instead of storing them: much less memory (SDXL on "
                                             "12-16 GB GPUs), ~30-60% slower. Same result. Turn it "
                                             "on for fp8 models and with autocast: without it the "
                                             "backward pass keeps each weight's cast to the compute "
                                             "dtype, a second copy of the UNet."),
                    io.Combo.Input("autocast", options=["off", *AUTOCAST_DTYPES],
                                   default=RECOMMENDED.autocast, optional=True,
                                   tooltip="Run the UNet in bf16/fp16 autocast during training "
                                           "(less memory, faster on GPUs with tensor cores); losses "
                                           "and the weight change stay float32. bf16 needs a "
                                           "recent GPU."),
                    io.Float.Input("esd_eta", default=RECOMMENDED.esd_eta, min=0.0, max=100.0, step=0.1,
                                   optional=True,
                                   tooltip="ESD's negative-guidance strength η: the target is "
                                           "ε(empty) − η·(ε(concept) − ε(empty)). Used only with "
                                           "method = esd (ESD's default: 1)."),
                    io.Int.Input("robust_every", default=0, min=0, max=100000, optional=True,
                                 tooltip="Robust unlearning (AdvUnlearn-style): every N updates, "
                                         "attack the model being erased with a soft prefix (as "
                                         "Attack Erasure does) and erase on [prefix + prompt] too. "
                                         "0 = off (default). In the lab 1 cut the attack's success "
                                         "against ESD from 85% to 36% at about 3x the time, "
                                         "preservation 86% vs 89% (benchmarks/RESULTS.md)."),
                    io.Int.Input("robust_steps", default=ROBUST.steps, min=1, max=1000, optional=True,
                                 tooltip="Attack steps per robust round (the prefix is warm-started "
                                         "from the last round)."),
                ),
                # last: a widget added before the others would shift saved workflows' values
                io.String.Input("more_concepts", default="", multiline=True, optional=True,
                                tooltip="More concepts to erase in the same run, one per line "
                                        "('concept -> superclass' gives one its own superclass). "
                                        "Each is made like the CONCEPT (its templates and "
                                        "superclass; its attributes are the CONCEPT's alone) and "
                                        "gets the full iterations: the concepts take turns on one "
                                        "weight change. An anchor input warm-starts the CONCEPT's."),
                *advanced(
                    io.Float.Input("stop_at", default=RECOMMENDED.stop_at, min=0.0, max=1.0, step=0.05,
                                   optional=True,
                                   tooltip="Stop a concept once its prediction has moved this "
                                           "fraction of the way to its target on held-out draws "
                                           "(read every 5 updates; iterations stays the cap). 0 = "
                                           "off: every iteration. The log says how far each "
                                           "concept went and how far the superclass drifted, "
                                           "with or without it."),
                ),
                plumbing.sample_guidance_input(),
            ],
            outputs=[
                io.Model.Output(display_name="MODEL", tooltip="The erased model (a patched clone)."),
                Erasure.Output(display_name="ERASURE",
                               tooltip="The weight change, for Save Erasure."),
                io.Image.Output(display_name="loss_curve", tooltip="The losses per update."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, clip, concept, latent_source, sample_size, sample_count, sample_steps,
                method, iterations, lr, parameters, parameter_pattern, schedule, preservation,
                anchor_steps, anchor_lr, anchor_loss, anchor_bound, accumulate_gradients, seed,
                anchor=None, latent=None, layers=None, more_concepts="", gradient_checkpointing=False,
                autocast=RECOMMENDED.autocast, esd_eta=RECOMMENDED.esd_eta, robust_every=0,
                robust_steps=ROBUST.steps, stop_at=RECOMMENDED.stop_at,
                sample_guidance=plumbing.SAMPLE_GUIDANCE) -> io.NodeOutput:
        config = UnlearnConfig(
            method=method, steps=iterations, lr=lr, preservation=preservation,
            parameters=layer_parameters(layers) if layers is not None else
            parameter_spec(parameters, parameter_pattern), schedule=schedule,
            anchor=plumbing.anchor_config(anchor_steps, anchor_lr, anchor_loss, anchor_bound),
            latents=plumbing.latent_config(latent, latent_source, sample_count, sample_steps, sample_guidance),
            seed=seed, accumulate_grads=accumulate_gradients, autocast=autocast, esd_eta=esd_eta,
            stop_at=stop_at)
        with training_mode(), reported("Unlearn"):
            run = plumbing.prepare(model, clip, concept, latent, sample_size,
                                   checkpointing=gradient_checkpointing, more_concepts=more_concepts)
            config = plumbing.fit_to_model(config, run.denoiser.family)
            adversary = plumbing.adversary(run, robust_every, robust_steps, config.seed)
            result = run_cancellable(lambda: unlearn(
                run.denoiser, run.ccs, config, anchor=anchor,
                adversary=adversary, on_step=Progress(cls.hidden.unique_id),
                should_cancel=should_cancel, **run.latents))
            erasure = result.erasure
            log_reached(run.ccs, result.reached, iterations)
            erasure.tensors = {k: v.detach().to(model.offload_device) for k, v in erasure.tensors.items()}
            curve = loss_curve(result.history)
        return io.NodeOutput(with_erasure(model, erasure), erasure, curve)
