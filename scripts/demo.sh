#!/usr/bin/env bash
# The lab demo: sets up .venv (once), then erases "square" from the lab model with the lab's
# default method (ESD: what measured best, benchmarks/RESULTS.md) and prints a before/after
# table; figures go to output/lab_demo/. Extra arguments go to the demo, e.g.
# `scripts/demo.sh --concept plimm` (a style of the styles world) or `--method adv2`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "${ADVANCHOR_VENV:-.venv}/bin/python" -m advanchor_lab.demo "$@"
