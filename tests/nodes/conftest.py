"""In-process fixtures: ComfyUI imported once per session on the CPU, the pack loaded as
ComfyUI loads a custom node folder, tiny seeded SD1.5-layout models."""
from __future__ import annotations

import os

import pytest
import torch

from tests.comfy_support import runtime

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
    from advanchor_pack.nodes import anchor, concept, files, sensitivity, unlearn

    return dict(concept=concept.ConceptNode, anchor=anchor.SearchAnchorNode,
                unlearn=unlearn.UnlearnNode, sens=sensitivity.ConceptSensitivityNode,
                ckpt=files.SaveErasedCheckpointNode, save=files.SaveErasureNode,
                apply=files.ApplyErasureNode)


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


ERASE = dict(method="adversarial", iterations=4, anchor_steps=2, latent_source="noise", sample_size=64,
             lr=1e-2, seed=3)  # a small erasure of the tiny model, for the nodes that read one


@pytest.fixture(scope="module")
def erased(n, tiny, concept):
    """The tiny model after a small adversarial erasure of the concept."""
    from tests.comfy_support.inprocess import run_node

    return run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept, **ERASE)[0]
