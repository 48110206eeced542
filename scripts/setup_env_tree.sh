#!/usr/bin/env bash
# Creates .venv-comfy012 for running the tests on ComfyUI 0.12.1, whose source tree lies in
# ../shared/runtimes/comfyui-0.12.1 (override with ADVANCHOR_COMFYUI012): the CPU torch wheel,
# the tree's requirements less torch/torchvision/torchaudio (the tests' torchvision stand-in
# replaces torchvision; torchaudio has no build for this torch), the pack's requirements and
# the test tools (where requirements-dev.txt pins a package the tree also names, for ComfyUI
# 0.3.75, the tree's requirement wins). Idempotent; says so and does nothing without the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
TREE=${ADVANCHOR_COMFYUI012:-../shared/runtimes/comfyui-0.12.1}
VENV=${ADVANCHOR_VENV012:-.venv-comfy012}
STAMP="$VENV/.advanchor-env-comfy012-v1"
if [ ! -f "$TREE/requirements.txt" ]; then
  echo "ComfyUI 0.12.1 not found at $TREE: no $VENV set up for it (its test run is skipped)"
  exit 0
fi
if [ -f "$STAMP" ]; then exit 0; fi
python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
PY="$VENV/bin/python"
pip_install() {  # quiet, minus the warnings about package indexes this machine does not have
  "$PY" -m pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor" || true; }
}
echo "setting up $VENV for ComfyUI 0.12.1 (first run only, a few minutes)..."
pip_install torch==2.13.0
REQ="$VENV/advanchor-requirements.txt"
"$PY" - "$TREE/requirements.txt" requirements-dev.txt > "$REQ" <<'PY'
import re, sys
def names(path):
    out = []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            out.append((re.split(r"[<>=!~;\[ ]", line, 1)[0].lower().replace("_", "-"), line))
    return out
tree, dev = names(sys.argv[1]), names(sys.argv[2])
skip = {"torch", "torchvision", "torchaudio"}
lines = [l for n, l in tree if n not in skip]
lines += [l for n, l in dev if n not in skip and n not in {m for m, _ in tree}]
print("\n".join(lines))
PY
# Nothing may replace the CPU torch (spandrel's torchvision would pull a 6 GB CUDA torch).
echo "torch==2.13.0" > "$VENV/advanchor-constraints.txt"
pip_install -c "$VENV/advanchor-constraints.txt" -r "$REQ" -r requirements.txt
touch "$STAMP"
