#!/usr/bin/env bash
# The GPU check: on one CUDA GPU, without network, within about 10 minutes.
#   bash scripts/gpu_check.sh            # writes output/gpu_check/report.md and prints it
#   bash scripts/gpu_check.sh --dry-run  # the same steps on the CPU with thin models (no result)
# Needs, beyond this repository:
#   - python3 (or PYTHON) with a CUDA build of torch and ComfyUI 0.33.0's requirements.txt
#     (comfy-aimdo is what turns dynamic VRAM on; PyAV and the frontend, template and docs
#     packages are imported at start but unused by these graphs); torchvision and torchaudio may
#     be missing (the tests' import-only stand-ins replace them);
#   - ComfyUI's source tree: ADVANCHOR_COMFYUI, else ../shared/runtimes/comfyui-0.33.0.
# Three parts, each bounded by its own time limit (a part that runs out says so):
#   1. python -m benchmarks.gpu_graphs — a headless ComfyUI at its default flags (dynamic VRAM on), then
#      with --disable-dynamic-vram, runs the graphs a user builds on full-size SD1.5 and SDXL:
#      Load Checkpoint → Concept → Unlearn (defaults) → KSampler, Save Erasure (LoRA) →
#      LoraLoader → KSampler; per graph: success or ComfyUI's error, Unlearn's seconds, peak VRAM;
#   2. python -m benchmarks.bench_memory --gpu — one update's seconds and peak VRAM, SD1.5 and SDXL;
#   3. python -m benchmarks.bench_dit — one full-size update of each transformer family: Flux.1 dev,
#      SD3 medium, Chroma, Z-Image, Qwen-Image, Flux.2 dev and Flux.2 Klein 4B (a card of 80 GB
#      or more: Qwen-Image and Flux.2 dev train xattn in fp8 at 66-87 GiB before activations).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TREE=${ADVANCHOR_COMFYUI:-../shared/runtimes/comfyui-0.33.0}
if [ ! -f "$TREE/comfyui_version.py" ]; then echo "no ComfyUI source tree at $TREE: set ADVANCHOR_COMFYUI"; exit 2; fi
export ADVANCHOR_COMFYUI="$(cd "$TREE" && pwd)" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
OUT=output/gpu_check
mkdir -p "$OUT"
DRY=""; REDUCED=""
if [ "${1:-}" = "--dry-run" ]; then DRY="--dry-run"; REDUCED="--reduced"; fi
REPORT="$OUT/report.md"
{ echo "# GPU check, $(date -u +%Y-%m-%dT%H:%MZ), ComfyUI $(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$TREE/comfyui_version.py")"
  "$PY" -c "import torch; print('torch', torch.__version__, '·', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')"; } > "$REPORT"

part() {  # part SECONDS TITLE COMMAND...: run, keep its output, say how it ended
  local limit=$1 title=$2; shift 2
  local start=$SECONDS
  echo "=== $title (limit ${limit}s)"
  timeout "$limit" "$@" > "$OUT/part.log" 2>&1
  local rc=$?
  cat "$OUT/part.log"
  { echo; echo "## $title: $([ $rc = 0 ] && echo done || ([ $rc = 124 ] && echo "stopped at its ${limit}s limit" || echo "failed, exit $rc")) in $((SECONDS - start)) s"
    grep -vE '^(\{|\[|===)' "$OUT/part.log" | grep -vE 'INFO|WARNING|^ ' || true; } >> "$REPORT"
}
part "${GPU_CHECK_GRAPHS_S:-270}" "the user's graphs" "$PY" -m benchmarks.gpu_graphs $DRY --work "$OUT/graphs"
part "${GPU_CHECK_MEMORY_S:-120}" "bench_memory --gpu" "$PY" -m benchmarks.bench_memory --gpu $REDUCED
part "${GPU_CHECK_DIT_S:-200}" "bench_dit" "$PY" -m benchmarks.bench_dit $REDUCED
echo; cat "$REPORT"
