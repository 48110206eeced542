#!/usr/bin/env bash
# Creates a virtual environment for running the tests on a ComfyUI source tree:
#   bash scripts/setup_env_tree.sh TREE VENV
# (e.g. ../shared/runtimes/comfyui-0.33.0 .venv-comfy033): the CPU torch wheel, the tree's
# requirements less torch/torchvision/torchaudio (the tests' import-only stand-ins replace them:
# PyPI's torchvision does not load beside the CPU torch, torchaudio has no build for it), the
# pack's requirements and the test tools (where requirements-dev.txt pins a package the tree
# also names, for ComfyUI 0.3.75, the tree's requirement wins). Idempotent; without the tree it
# says so and does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
TREE=${1:?usage: setup_env_tree.sh TREE VENV}
VENV=${2:?usage: setup_env_tree.sh TREE VENV}
STAMP="$VENV/.advanchor-env-tree-v2"
if [ ! -f "$TREE/requirements.txt" ]; then
  echo "no ComfyUI source tree at $TREE: $VENV not set up (its test run is skipped)"
  exit 0
fi
if [ -f "$STAMP" ] && cmp -s "$TREE/requirements.txt" "$STAMP"; then exit 0; fi
source scripts/venv.sh
echo "setting up $VENV for the ComfyUI tree $TREE (first run only, a few minutes)..."
new_venv "$VENV"
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
# spandrel pulls PyPI's torchvision, which fails to load beside the CPU torch and breaks every
# import of transformers: the tests' stand-in takes its place.
"$PY" -m pip uninstall -q -y torchvision torchaudio 2>/dev/null || true
cp "$TREE/requirements.txt" "$STAMP"
