"""The graphs a user builds, in a headless ComfyUI on a CUDA GPU, at ComfyUI's default flags and
with dynamic VRAM turned off: does Unlearn run, how long, how much VRAM, and does its LoRA reload.

    python -m benchmarks.gpu_graphs             # needs a CUDA GPU (scripts/gpu_check.sh runs it)
    python -m benchmarks.gpu_graphs --dry-run   # thin models on the CPU: checks the script only

Per flag set and family — full-size SD1.5 (512 px) and SDXL (1024 px) UNets with seeded random
fp16 weights, their full-shape text encoders, a TAESD VAE, as one checkpoint each — two graphs:
  1. Load Checkpoint → Concept ("Van Gogh") → Unlearn (every default) → KSampler (20 steps) →
     VAE Decode → Save Image, and Unlearn's ERASURE → Save Erasure (LoRA, rank 16);
  2. Load Checkpoint → LoraLoader (that LoRA) → KSampler → VAE Decode → Save Image.
Printed per graph: success or ComfyUI's error, the Unlearn node's seconds and peak VRAM (the line
it logs) and the graph's seconds. The ComfyUI tree is ADVANCHOR_COMFYUI's, as for the tests;
the checkpoints are made once (`tests/comfy_support/generated.py`).
"""
from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from tests.comfy_support import generated
from tests.comfy_support.comfy_server import ComfyServer, succeeded

ROOT = Path(__file__).resolve().parents[1]

FLAG_SETS = {"default flags": [], "--disable-dynamic-vram": ["--disable-dynamic-vram"]}
SIZES = {"sd15": 512, "sdxl": 1024}
UNLEARN_LINE = re.compile(r"AdvAnchor Unlearn: ([\d.]+) s(?:, peak ([\d.]+) GiB)?")  # nodes/bridge/progress.py


@dataclass
class Row:
    flags: str
    family: str
    graph: str
    ok: bool
    error: str = ""
    unlearn_s: float | None = None
    peak_gib: float | None = None
    graph_s: float = 0.0


def checkpoints(server: ComfyServer, dry_run: bool) -> dict[str, str]:
    """One checkpoint per family in the server's models (made once, then cached)."""
    names = {}
    for family in SIZES:
        kind = family if dry_run else f"{family}-full"
        names[family] = f"gpu_check_{kind}.safetensors"
        generated.link_into(server.checkpoints, "checkpoint.py", names[family], "0", kind)
    return names


def with_defaults(info: dict, class_type: str, **inputs) -> dict:
    """An API-format node with every widget the caller leaves out at its schema default."""
    spec = info[class_type]["input"]
    node = {}
    for section in ("required", "optional"):
        for name, (kind, *options) in spec.get(section, {}).items():
            opts = options[0] if options else {}
            if isinstance(kind, list) and kind:   # a V1 combo: its first choice by default
                node[name] = opts.get("default", kind[0])
            elif "default" in opts:
                node[name] = opts["default"]
    return {"class_type": class_type, "inputs": node | inputs}


def sampled(info: dict, graph: dict, model: list, size: int, prefix: str, steps: int) -> dict:
    """Nodes that sample `model` at one seed and save the image, added to `graph`."""
    graph |= {
        "pos": with_defaults(info, "CLIPTextEncode", clip=["ckpt", 1], text="a house by a river, Van Gogh painting"),
        "neg": with_defaults(info, "CLIPTextEncode", clip=["ckpt", 1], text=""),
        "latent": with_defaults(info, "EmptyLatentImage", width=size, height=size, batch_size=1),
        "sample": with_defaults(info, "KSampler", model=model, positive=["pos", 0], negative=["neg", 0],
                                latent_image=["latent", 0], seed=5, steps=steps),
        "decode": with_defaults(info, "VAEDecode", samples=["sample", 0], vae=["ckpt", 2]),
        "save": with_defaults(info, "SaveImage", images=["decode", 0], filename_prefix=prefix),
    }
    return graph


def erase_graph(info: dict, ckpt: str, size: int, prefix: str, dry_run: bool) -> dict:
    unlearn = dict(iterations=2, sample_size=64, sample_count=1, sample_steps=2) if dry_run else {}
    graph = {
        "ckpt": with_defaults(info, "CheckpointLoaderSimple", ckpt_name=ckpt),
        "concept": with_defaults(info, "AdvAnchorConcept", concept="Van Gogh"),
        "unlearn": with_defaults(info, "AdvAnchorUnlearn", model=["ckpt", 0], clip=["ckpt", 1],
                                 concept=["concept", 0], **unlearn),
        "lora": with_defaults(info, "AdvAnchorSaveErasure", erasure=["unlearn", 1], format="LoRA",
                              filename_prefix=prefix),
    }
    return sampled(info, graph, ["unlearn", 0], size, prefix, 2 if dry_run else 20)


def lora_graph(info: dict, ckpt: str, lora: str, size: int, prefix: str, dry_run: bool) -> dict:
    graph = {
        "ckpt": with_defaults(info, "CheckpointLoaderSimple", ckpt_name=ckpt),
        "loader": with_defaults(info, "LoraLoader", model=["ckpt", 0], clip=["ckpt", 1], lora_name=lora),
    }
    return sampled(info, graph, ["loader", 0], size, prefix, 2 if dry_run else 20)


def saved_lora(entry: dict) -> str:
    """The file name Save Erasure reported, as Load LoRA lists it (inside output/loras)."""
    (info,) = entry["outputs"]["lora"]["advanchor_files"]
    return str(Path(info["subfolder"], info["filename"]).relative_to("loras"))


def run_graph(server: ComfyServer, graph: dict, timeout: float) -> tuple[dict, float, str]:
    start, logged = time.perf_counter(), len(server.log_text())
    entry = server.run(graph, timeout=timeout)
    return entry, time.perf_counter() - start, server.log_text()[logged:]


def error_of(entry: dict) -> str:
    for kind, body in entry.get("status", {}).get("messages", []):
        if kind == "execution_error":
            return f"{body['node_type']}: {body['exception_type']}: {body['exception_message'].strip()[:300]}"
    return "no error message"


def run_flags(label: str, flags: list[str], work: Path, dry_run: bool, timeout: float) -> list[Row]:
    server = ComfyServer(work / re.sub(r"\W+", "_", label).strip("_"), flags=["--cpu"] if dry_run else flags)
    server.prepare()
    names = checkpoints(server, dry_run)
    server.start()
    rows = []
    try:
        info = server.get("/object_info")
        for family, size in SIZES.items():
            size = 64 if dry_run else size
            prefix = f"gpu_check_{family}"
            entry, seconds, log = run_graph(server, erase_graph(info, names[family], size, prefix, dry_run), timeout)
            found = UNLEARN_LINE.search(log)
            rows.append(Row(label, family, "erase", succeeded(entry), "" if succeeded(entry) else error_of(entry),
                            float(found[1]) if found else None,
                            float(found[2]) if found and found[2] else None, seconds))
            if not succeeded(entry):
                continue
            graph = lora_graph(info, names[family], saved_lora(entry), size, prefix + "_lora", dry_run)
            entry, seconds, _ = run_graph(server, graph, timeout)
            rows.append(Row(label, family, "LoRA reload", succeeded(entry),
                            "" if succeeded(entry) else error_of(entry), graph_s=seconds))
    finally:
        server.stop()
    return rows


def table(rows: list[Row], device: str) -> str:
    lines = [f"## gpu_graphs — the user's graphs on {device}", "",
             "| ComfyUI flags | model | graph | result | Unlearn s | Unlearn peak VRAM GiB | graph s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        result = "ok" if r.ok else f"failed: {r.error}"
        lines.append(f"| {r.flags} | {r.family} | {r.graph} | {result} | "
                     f"{'' if r.unlearn_s is None else f'{r.unlearn_s:.1f}'} | "
                     f"{'' if r.peak_gib is None else f'{r.peak_gib:.1f}'} | {r.graph_s:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="thin models on the CPU: checks the script, not a result")
    ap.add_argument("--work", type=Path, default=ROOT / "output" / "gpu_check", help="servers, models, outputs")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds one graph may take")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    rows = []
    for label, flags in (FLAG_SETS.items() if not args.dry_run else [("--cpu (dry run)", [])]):
        rows += run_flags(label, flags, args.work.resolve(), args.dry_run, args.timeout)
    device = "a CPU (dry run: thin models, not a result)" if args.dry_run else gpu_name()
    print(table(rows, device))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1))


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"


if __name__ == "__main__":
    main()
