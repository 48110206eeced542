"""In-process fixtures: ComfyUI imported once per session on the CPU, the pack loaded as
ComfyUI loads a custom node folder, tiny seeded SD1.5-layout models."""
from __future__ import annotations

import os

import pytest
import torch

from tests.comfy_support import runtime
from tests.comfy_support.generated import comfyui_version, tests_newer_families

# Tiny models: one thread is fastest, and on a shared machine extra threads thrash.
torch.set_num_threads(int(os.environ.get("ADVANCHOR_TEST_THREADS", "1")))


@pytest.fixture(scope="session")
def output_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("comfy_output")


@pytest.fixture(scope="session")
def comfy(output_dir):
    runtime.bootstrap(str(output_dir))
    return runtime.comfyui_dir()


@pytest.fixture(scope="session")
def pack(comfy):
    """The pack, loaded as ComfyUI loads it: import, then the V3 entrypoint's node list."""
    import asyncio

    module = runtime.load_pack()
    extension = asyncio.run(module.comfy_entrypoint())
    assert asyncio.run(extension.get_node_list())
    return module


@pytest.fixture(scope="session")
def tiny(comfy):
    from tests.comfy_support import tiny as t

    return {"model": t.tiny_model(0), "clip": t.tiny_clip(1), "vae": t.tiny_vae(2)}


@pytest.fixture(scope="session")
def n(pack):
    """Every node class of the pack, by short name."""
    from advanchor_pack.nodes import anchor, closed_form, concept, files, sensitivity, unlearn

    return dict(concept=concept.ConceptNode, anchor=anchor.SearchAnchorNode,
                unlearn=unlearn.UnlearnNode, sens=sensitivity.ConceptSensitivityNode,
                ckpt=files.SaveErasedCheckpointNode, save=files.SaveErasureNode,
                apply=files.ApplyErasureNode, closed=closed_form.EraseClosedFormNode)


@pytest.fixture(scope="session")
def bridge(pack):
    """The bridge's classes the tests drive directly, under one name."""
    import types

    from advanchor_pack.nodes.bridge import denoiser, progress, text, training_mode

    return types.SimpleNamespace(ComfyDenoiser=denoiser.ComfyDenoiser, Progress=progress.Progress,
                                 ComfyTextEncoder=text.ComfyTextEncoder,
                                 text_encoder=text.text_encoder, training_mode=training_mode)


@pytest.fixture(scope="session")
def errors(pack):
    from advanchor_pack.advanchor_core import errors

    return errors


@pytest.fixture(scope="session")
def concept(n):
    from tests.comfy_support.inprocess import run_node

    return run_node(n["concept"], concept="Van Gogh")[0]


FAST = dict(method="adversarial", iterations=4, anchor_steps=2, latent_source="noise", sample_size=64,
            lr=1e-3, seed=3)  # Unlearn on the tiny model in about a second
ERASE = FAST | dict(lr=1e-2)  # a small erasure that shows, for the nodes that read one


@pytest.fixture(scope="module")
def erased(n, tiny, concept):
    """The tiny model after a small adversarial erasure of the concept."""
    from tests.comfy_support.inprocess import run_node

    return run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept, **ERASE)[0]


@pytest.fixture(scope="module")
def unlearned(n, tiny, concept):
    """One Unlearn run (8 updates, so the preservation term has acted on the superclass) shared
    by a module's tests that inspect its outputs, with the input MODEL's state captured first."""
    from tests.comfy_support.inprocess import input_state, run_node

    model = tiny["model"]
    before = input_state(model)
    out_model, erasure, curve = run_node(n["unlearn"], model=model, clip=tiny["clip"],
                                         concept=concept, **(FAST | dict(iterations=8)))
    return dict(before=before, model=out_model, erasure=erasure, curve=curve)


class Families(dict):
    """Tiny models by family; a family this ComfyUI cannot build is skipped where a test asks
    for it."""

    def __missing__(self, family: str):
        pytest.skip(f"{family}: the newer families are tested on ComfyUI 0.33.0, not on "
                    f"{comfyui_version()}")


@pytest.fixture(scope="session")
def dit(comfy):
    """Tiny Flux.1 dev, Flux.1 schnell, SD3, SD3.5 medium, Chroma, Z-Image, Qwen-Image, Flux.2
    Klein and Flux.2 dev with their text encoders, built once: every node returns a clone and the tests check
    that the input stays untouched."""
    from tests.comfy_support import tiny_dit as t
    from tests.comfy_support import tiny_llm as llm

    flux_clip, sd3_clip = t.tiny_flux_clip(), t.tiny_sd3_clip(41)
    out = Families({"flux-dev": {"model": t.tiny_flux(30), "clip": flux_clip},
                    "flux-schnell": {"model": t.tiny_flux(32, schnell=True), "clip": flux_clip},
                    "sd3": {"model": t.tiny_sd3(40), "clip": sd3_clip},
                    "sd3.5": {"model": t.tiny_sd3(43, sd35=True), "clip": sd3_clip}})
    newer = {"chroma": (t.tiny_chroma, t.tiny_chroma_clip), "zimage": (llm.tiny_zimage, llm.tiny_zimage_clip),
             "qwen-image": (llm.tiny_qwen_image, llm.tiny_qwen_image_clip),
             "flux2": (llm.tiny_flux2, llm.tiny_flux2_clip),
             "flux2-dev": (llm.tiny_flux2_dev, llm.tiny_flux2_dev_clip)}
    if tests_newer_families():
        out.update({family: {"model": model(), "clip": clip()} for family, (model, clip) in newer.items()})
    return out


@pytest.fixture
def cancel_after_first_report(monkeypatch, bridge):
    """Press Cancel (what /interrupt does) when a node's first progress report arrives; yields
    the steps reported. The flag is cleared afterwards whatever the test did."""
    import comfy.model_management as mm

    steps = []
    original = bridge.Progress.__call__

    def report(self, step_report):
        original(self, step_report)
        steps.append(step_report.step)
        if len(steps) == 1:
            mm.interrupt_current_processing(True)

    monkeypatch.setattr(bridge.Progress, "__call__", report)
    try:
        yield steps
    finally:
        mm.interrupt_current_processing(False)
