"""The pack inside a real headless ComfyUI: registration, a full erase-sample-save graph on a
checkpoint ComfyUI detects as SD1.5, reload, LoRA round trip, interrupt, bad input."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from tests.server import graphs
from tests.comfy_support.comfy_server import Events, messages, succeeded

NODE_IDS = ["AdvAnchorConcept", "AdvAnchorSearchAnchor", "AdvAnchorUnlearn",
            "AdvAnchorSaveErasedCheckpoint", "AdvAnchorSaveErasure", "AdvAnchorApplyErasure",
            "AdvAnchorAttackErasure", "AdvAnchorMeasureErasure", "AdvAnchorEraseClosedForm"]


def error_text(entry) -> str:
    return json.dumps(messages(entry, "execution_error"))


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def saved_files(entry, node_id) -> list[dict]:
    return entry["outputs"][node_id].get("advanchor_files") or entry["outputs"][node_id].get("images")


def test_object_info_lists_every_node(server):
    info = server.get("/object_info")
    for node_id in NODE_IDS:
        assert node_id in info, node_id
        assert info[node_id]["category"] == "AdvAnchor"
        for section in ("required", "optional"):
            for name, spec in info[node_id]["input"].get(section, {}).items():
                assert len(spec) > 1 and spec[1].get("tooltip"), (node_id, name)
    assert "ComfyUI-AdvAnchor" in server.log_text()   # loaded from custom_nodes/
    assert not [l for l in server.log_text().splitlines() if "IMPORT FAILED" in l and "AdvAnchor" in l]


@pytest.fixture(scope="module")
def pipeline(server):
    """The whole graph once; the tests below inspect what it produced."""
    entry = server.run(graphs.full_pipeline("pipe"), timeout=300)
    assert succeeded(entry), error_text(entry) + server.log_text()[-3000:]
    return entry


def test_full_pipeline_runs_and_saves(server, pipeline):
    out = server.output
    image = saved_files(pipeline, "10")[0]
    assert (out / image["subfolder"] / image["filename"]).is_file()
    ckpt = saved_files(pipeline, "11")[0]
    assert ckpt["subfolder"] == "checkpoints" and (out / "checkpoints" / ckpt["filename"]).is_file()
    diff = saved_files(pipeline, "12")[0]
    assert (out / diff["subfolder"] / diff["filename"]).is_file()
    assert saved_files(pipeline, "13")  # the loss curve image
    assert saved_files(pipeline, "16")  # a KSampler preview of the anchor conditioning
    assert not [f for f in files_under(out) if f.endswith(".tmp")]


def test_saved_checkpoint_differs_only_in_the_preset_tensors_and_reloads(server, pipeline):
    ckpt = saved_files(pipeline, "11")[0]
    saved = server.output / "checkpoints" / ckpt["filename"]
    original = server.checkpoints / graphs.THIN
    differ = []
    with safe_open(str(original), "pt") as a, safe_open(str(saved), "pt") as b:
        assert "advanchor.erasures" in b.metadata()
        assert json.loads(json.loads(b.metadata()["advanchor.erasures"])[0]["concepts"]) == ["Van Gogh"]
        unet = [k for k in a.keys() if k.startswith("model.diffusion_model.")]
        assert set(unet) <= set(b.keys())
        for k in a.keys():
            if k not in b.keys():
                continue
            if not torch.equal(a.get_tensor(k).float(), b.get_tensor(k).float()):
                differ.append(k)
    assert differ and all(k.startswith("model.diffusion_model.") and ".attn2." in k for k in differ)
    assert len(differ) == len([k for k in unet if ".attn2." in k])
    graph = {"1": graphs.loader(ckpt["filename"]), "2": graphs.encode(["1", 1], "a painting"),
             "3": graphs.encode(["1", 1], ""), "4": graphs.empty_latent(),
             "5": graphs.sample(["1", 0], ["2", 0], ["3", 0], ["4", 0]),
             "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
             "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "reload"}}}
    entry = server.run(graph)
    assert succeeded(entry), error_text(entry)
    assert "model_type EPS" in server.log_text()


def test_lora_from_save_erasure_reproduces_the_erased_model(server):
    def latent_out(model_link, prefix, extra):
        return extra | {
            "20": graphs.encode(["1", 1], "Van Gogh painting"), "21": graphs.encode(["1", 1], ""),
            "22": graphs.empty_latent(),
            "23": graphs.sample(model_link, ["20", 0], ["21", 0], ["22", 0], seed=11, steps=3),
            "24": {"class_type": "SaveLatent", "inputs": {"samples": ["23", 0], "filename_prefix": prefix}}}

    first = latent_out(["4", 0], "latents/erased", {
        "1": graphs.loader(), "2": graphs.concept(),
        "4": graphs.unlearn(["1", 0], ["1", 1], ["2", 0], method="fixed", lr=1e-3, seed=5),
        "5": {"class_type": "AdvAnchorSaveErasure", "inputs": {
            "erasure": ["4", 1], "format": "LoRA", "rank": 768, "filename_prefix": "roundtrip"}}})
    entry = server.run(first)
    assert succeeded(entry), error_text(entry)
    lora = saved_files(entry, "5")[0]
    assert lora["subfolder"] == "loras"
    second = latent_out(["3", 0], "latents/lora", {
        "1": graphs.loader(),
        "3": {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1],
                                                     "lora_name": lora["filename"],
                                                     "strength_model": 1.0, "strength_clip": 0.0}}})
    entry2 = server.run(second)
    assert succeeded(entry2), error_text(entry2)
    third = latent_out(["1", 0], "latents/original", {"1": graphs.loader()})
    assert succeeded(server.run(third))

    def load(prefix):
        [path] = sorted((server.output / "latents").glob(prefix + "_*.latent"))[-1:]
        with safe_open(str(path), "pt") as f:
            return f.get_tensor("latent_tensor").float()

    erased, via_lora, original = load("erased"), load("lora"), load("original")
    assert torch.isfinite(erased).all()
    moved = (erased - original).norm()
    assert moved > 0
    assert (via_lora - erased).norm() <= 1e-3 * erased.norm() + 1e-2 * moved


def test_interrupt_during_unlearn_writes_nothing_and_the_next_prompt_runs(server):
    events = Events(server)
    try:
        before = files_under(server.output)
        graph = {"1": graphs.loader(), "2": graphs.concept(text="Monet"),
                 "4": graphs.unlearn(["1", 0], ["1", 1], ["2", 0], iterations=2000, seed=9),
                 "5": {"class_type": "AdvAnchorSaveErasedCheckpoint", "inputs": {
                     "model": ["4", 0], "clip": ["1", 1], "vae": ["1", 2],
                     "filename_prefix": "interrupted"}},
                 "6": {"class_type": "AdvAnchorSaveErasure", "inputs": {
                     "erasure": ["4", 1], "format": "weight diff", "rank": 4,
                     "filename_prefix": "interrupted"}}}
        prompt_id = server.queue_prompt(graph, client_id=events.client_id)
        first = events.next(lambda m: m.get("type") == "progress" and m["data"].get("node") == "4"
                            and m["data"].get("prompt_id") == prompt_id, timeout=180)
        assert first["data"]["max"] == 2000          # one tick per update

        def ticks(msgs):
            return [m["data"]["value"] for m in msgs if m.get("type") == "progress"
                    and m["data"].get("node") == "4" and m["data"].get("prompt_id") == prompt_id]

        time.sleep(1.0)
        seen = max([first["data"]["value"]] + ticks(events.drain()))
        t0 = time.time()
        status, _ = server.post("/interrupt")
        assert status == 200
        entry = server.wait(prompt_id, timeout=60)
        stopped = time.time() - t0
        assert not succeeded(entry)
        assert messages(entry, "execution_interrupted")
        after = ticks(events.drain())
        # stops within one update (plus one for a tick in flight on the websocket)
        assert max(after, default=seen) - seen <= 2, (seen, after)
        assert stopped < 20, stopped
        assert files_under(server.output) == before
    finally:
        events.close()
    graph = {"1": graphs.loader(), "2": graphs.concept(text="Monet"),
             "4": graphs.unlearn(["1", 0], ["1", 1], ["2", 0], iterations=1, seed=9),
             "6": {"class_type": "AdvAnchorSaveErasure", "inputs": {
                 "erasure": ["4", 1], "format": "weight diff", "rank": 4,
                 "filename_prefix": "after_interrupt"}}}
    entry = server.run(graph)
    assert succeeded(entry), error_text(entry)


def test_empty_concept_is_an_error_that_says_what_to_change(server):
    graph = {"1": graphs.loader(), "2": graphs.concept(text="   "),
             "4": graphs.unlearn(["1", 0], ["1", 1], ["2", 0]),
             "6": {"class_type": "AdvAnchorSaveErasure", "inputs": {
                 "erasure": ["4", 1], "format": "weight diff", "rank": 4, "filename_prefix": "empty"}}}
    entry = server.run(graph)
    assert not succeeded(entry)
    (error,) = messages(entry, "execution_error")
    assert error["exception_type"] == "AdvAnchor.AdvAnchorError"   # a title, not a file path
    assert error["exception_message"].startswith("the concept is empty: type the word or phrase to erase")


def refusal(server, graph) -> str:
    """The error text for a graph that must fail: refused at /prompt (newer ComfyUI validates
    V3 combos on submission) or, as 0.3.75 does, when the node executes."""
    status, body = server.post("/prompt", {"prompt": graph})
    if status != 200:
        return json.dumps(body)
    entry = server.wait(body["prompt_id"])
    assert not succeeded(entry)
    return error_text(entry)


@pytest.mark.parametrize("where,inputs,choices", [
    ("concept", {"preset": "nudity-ish"}, ["style (reference)", "nudity (reference)", "custom"]),
    ("unlearn", {"parameters": "everything"}, ["xattn", "xattn-kv", "noxattn", "full"]),
    ("unlearn", {"schedule": "random"}, ["alternating", "sequential", "cyclical"]),
])
def test_unknown_choice_is_an_error_listing_the_valid_ones(server, where, inputs, choices):
    graph = {"1": graphs.loader(),
             "2": graphs.concept(**(inputs if where == "concept" else {})),
             "4": graphs.unlearn(["1", 0], ["1", 1], ["2", 0], **(inputs if where == "unlearn" else {})),
             "6": {"class_type": "AdvAnchorSaveErasure", "inputs": {
                 "erasure": ["4", 1], "format": "weight diff", "rank": 4, "filename_prefix": "x"}}}
    text = refusal(server, graph)
    bad = next(iter(inputs.values()))
    assert bad in text and all(c in text for c in choices), text


@pytest.mark.parametrize("prefix", ["../escape", "nested/../../escape"])
def test_filename_prefix_with_dotdot_is_an_error_and_writes_nothing(server, prefix):
    before = files_under(server.base)
    graph = {"1": graphs.loader(), "2": graphs.concept(),
             "4": graphs.unlearn(["1", 0], ["1", 1], ["2", 0], iterations=1),
             "6": {"class_type": "AdvAnchorSaveErasure", "inputs": {
                 "erasure": ["4", 1], "format": "weight diff", "rank": 4, "filename_prefix": prefix}}}
    entry = server.run(graph)
    assert not succeeded(entry)
    assert "outside the output folder" in error_text(entry) and "without '..'" in error_text(entry)
    assert files_under(server.base) == before
    assert not list(server.work.rglob("escape*"))


def test_apply_erasure_from_the_saved_diff(server, pipeline):
    diff = saved_files(pipeline, "12")[0]
    name = os.path.relpath(os.path.join(diff["subfolder"], diff["filename"]), "erasures")
    info = server.get("/object_info/AdvAnchorApplyErasure")["AdvAnchorApplyErasure"]
    assert name in info["input"]["required"]["erasure_file"][1]["options"]

    def latent(strength, prefix):
        graph = {"1": graphs.loader(),
                 "2": {"class_type": "AdvAnchorApplyErasure", "inputs": {
                     "model": ["1", 0], "erasure_file": name, "strength": strength}},
                 "3": graphs.encode(["1", 1], "Van Gogh painting"), "4": graphs.encode(["1", 1], ""),
                 "5": graphs.empty_latent(), "6": graphs.sample(["2", 0], ["3", 0], ["4", 0], ["5", 0]),
                 "7": {"class_type": "SaveLatent", "inputs": {"samples": ["6", 0],
                                                              "filename_prefix": "latents/" + prefix}}}
        entry = server.run(graph)
        assert succeeded(entry), error_text(entry)
        [path] = sorted((server.output / "latents").glob(prefix + "_*.latent"))[-1:]
        with safe_open(str(path), "pt") as f:
            return f.get_tensor("latent_tensor").float()

    plain = {"1": graphs.loader(), "3": graphs.encode(["1", 1], "Van Gogh painting"),
             "4": graphs.encode(["1", 1], ""), "5": graphs.empty_latent(),
             "6": graphs.sample(["1", 0], ["3", 0], ["4", 0], ["5", 0]),
             "7": {"class_type": "SaveLatent", "inputs": {"samples": ["6", 0],
                                                          "filename_prefix": "latents/plain"}}}
    assert succeeded(server.run(plain))
    [path] = sorted((server.output / "latents").glob("plain_*.latent"))[-1:]
    with safe_open(str(path), "pt") as f:
        original = f.get_tensor("latent_tensor").float()
    assert torch.equal(latent(0.0, "strength0"), original)
    assert not torch.equal(latent(1.0, "strength1"), original)


def test_repeated_runs_do_not_grow_memory(server):
    """Several erasures in one server (different seeds, so nothing is served from the cache)."""
    import psutil

    proc = psutil.Process(server.proc.pid)
    rss = []
    runs = int(os.environ.get("ADVANCHOR_REPEAT_RUNS", "8"))
    for seed in range(runs):
        graph = {"1": graphs.loader(), "2": graphs.concept(text="Monet"),
                 "4": graphs.unlearn(["1", 0], ["1", 1], ["2", 0], iterations=2, seed=100 + seed),
                 "5": graphs.encode(["1", 1], "Monet painting"), "6": graphs.encode(["1", 1], ""),
                 "7": graphs.empty_latent(), "8": graphs.sample(["4", 0], ["5", 0], ["6", 0], ["7", 0]),
                 "9": {"class_type": "PreviewImage", "inputs": {"images": ["4", 2]}},
                 "10": {"class_type": "SaveLatent", "inputs": {"samples": ["8", 0],
                                                               "filename_prefix": "latents/repeat"}}}
        entry = server.run(graph)
        assert succeeded(entry), error_text(entry)
        rss.append(proc.memory_info().rss / 2**20)
    # the first runs fill caches and allocator pools; after that the footprint must be flat
    growth = rss[-1] - rss[runs // 2]
    assert growth < 32, f"RSS MiB per run: {[round(r) for r in rss]}"
