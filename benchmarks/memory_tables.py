"""bench_memory's two tables (CPU: what one θ update keeps; GPU: seconds and peak per update),
rendered from the rows its cases return, so a row prints the same wherever it was measured."""
from __future__ import annotations

import torch

from benchmarks.autograd_ledger import MIB


def cpu_table(rows: list[dict], command: str) -> str:
    ok = [r for r in rows if "error" not in r]
    first = ok[0] if ok else rows[0]
    size = "a reduced SD1.5 layout (a script check)" if first["reduced"] else "the real SD1.5 UNet"
    lines = ["## bench_memory — memory of one θ update of the SD1.5 UNet", "",
             f"`{command}` on {first.get('device_name', '?')}, torch {torch.__version__}. {size[0].upper()}"
             f"{size[1:]} ({first.get('params', 0) / 1e6:,.0f} M parameters), seeded random weights built under "
             f"inference mode as a loader builds them; one θ step through the bridge "
             f"(`nodes/bridge/denoiser.py`): batch 2 ([concept, superclass]), latent "
             f"{first['latent']}×{first['latent']}, δ on every cross-attention weight, MSE, backward. "
             "fp16 storage is computed in fp32 on the CPU (ComfyUI's manual cast). *saved*: storage "
             "autograd keeps for the backward pass, the model's weights excluded (*weights ref'd*: the "
             "model's own weights it keeps by reference, no extra memory); *weight copies*: the "
             "weight-shaped part of *saved* (w + δ, clones, casts), by dtype, and as a count of whole "
             "UNets in that dtype. Each case in its own process; MiB.", "",
             "Where whole-UNet copies are kept they are casts made for the compute, not the bridge's: "
             "*bf16* ones are `torch.autocast`'s (it casts each frozen weight for its matmul or "
             "convolution, and autograd saves the cast), *fp32* ones on fp16 storage ComfyUI's manual "
             "cast (`comfy.ops` casts each weight to the compute dtype in every forward, and autograd "
             "saves that). Gradient checkpointing recomputes them in the backward pass instead.", "",
             "| storage → compute | case | weights | baseline RSS | peak RSS | peak − baseline "
             "| saved | weights ref'd | weight copies | copies, UNets | trained w+δ | s/update |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['storage']} | {r['option']} | {r['error']} |||||||||")
            continue
        lines.append(f"| {r['storage']} → {r['compute']} | {r['option']} | {r['weights_mib']:,.0f} "
                     f"| {r['baseline_mib']:,.0f} | {r['peak_mib']:,.0f} | {growth(r):,.0f} "
                     f"| {r['saved_mib']:,.0f} | {r['referenced_mib']:,.0f} | {copies_cell(r)} "
                     f"| {copies_in_unets(r):.2f} | {r['trained_mib']:,.0f} | {r['seconds']:.1f} |")
    return "\n".join(lines + [""] + held_once_lines(ok))


def copies_cell(row: dict) -> str:
    """Weight copies by dtype, e.g. "1,640 bf16 + 40 fp32" ("0" when none rounds above 0 MiB)."""
    parts = [f"{mib:,.0f} {dtype}" for dtype, mib in sorted(row["copies_by_dtype"].items(), key=lambda kv: -kv[1])
             if mib >= 0.5]
    return " + ".join(parts) or "0"


def copies_in_unets(row: dict) -> float:
    """Weight copies as a count of whole UNets, each dtype's copies against the UNet in that dtype."""
    size = {"fp32": 4, "fp16": 2, "bf16": 2}
    return sum(mib * MIB / (row["params"] * size.get(dtype, 4)) for dtype, mib in row["copies_by_dtype"].items())


def growth(row: dict) -> float:
    return row["peak_mib"] - row["baseline_mib"]


def held_once_lines(rows: list[dict]) -> list[str]:
    """One line per storage and option: whether the weights are held once."""
    return [f"- {r['storage']}, {r['option']}: weight copies {r['copies_mib']:,.0f} MiB "
            f"({copies_in_unets(r):.2f} UNets; trained w + δ {r['trained_mib']:,.0f}); peak − baseline "
            f"{growth(r):,.0f} MiB." for r in rows]


def gpu_table(rows: list[dict], command: str, updates: int) -> str:
    ok = [r for r in rows if "error" not in r]
    name = ok[0]["device_name"] if ok else "?"
    peak = "peak allocated" if ok and ok[0]["peak_kind"] == "allocated" else "peak RSS"
    lines = ["## bench_memory_gpu — seconds and peak memory per update, fp16 UNets at full size", "",
             f"`{command}` on {name}, torch {torch.__version__}. Seeded random weights stored fp16; the "
             "core's `unlearn` through the bridge with `UnlearnConfig` defaults (alternating, adv1, "
             f"xattn, λ = 10), latents 'noise', batch 1, {updates} updates: s/update and "
             "`torch.cuda.max_memory_allocated` (weights included) after the first, warm-up, update. "
             "*reference*: 20 anchor steps (early stop off) + 1 θ step; *fast*: 1 anchor step, "
             "gradient checkpointing, bf16 autocast. MiB.", "",
             f"| model | latent | settings | anchor steps | checkpointing | autocast | compute | weights "
             f"| s/update | {peak} | loss finite |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        label = {"sd15": "SD1.5", "sdxl": "SDXL"}[r["family"]]
        if "error" in r:
            lines.append(f"| {label} | {r['latent']}×{r['latent']} | {r['settings']} | {r['error']} ||||||||")
            continue
        lines.append(f"| {label} | {r['latent']}×{r['latent']} | {r['settings']} | {r['anchor_steps']:.0f} "
                     f"| {r['checkpointing']} | {r['autocast']} | {r['compute']} | {r['weights_mib']:,.0f} "
                     f"| {r['seconds']:.2f} | {r['peak_mib']:,.0f} | {r['loss_finite']} |")
    return "\n".join(lines)
