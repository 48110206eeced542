#!/usr/bin/env bash
# The test command: sets up .venv if needed, then runs the whole suite (core, lab, nodes in
# the real ComfyUI runtime, headless server). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m pytest "$@"
