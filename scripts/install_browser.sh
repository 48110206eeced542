#!/usr/bin/env bash
# Installs what the browser test needs: Debian's headless Chromium and its WebDriver, and the
# selenium client in the project's virtual environment. Idempotent: what is there is left alone.
# Called by .ci/run before the tests; safe to call by hand (needs root for apt).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ADVANCHOR_VENV:-.venv}
PY="$VENV/bin/python"

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
fi

if [ -x "$PY" ] && ! "$PY" -c "import selenium" >/dev/null 2>&1; then
    "$PY" -m pip install -q "selenium>=4.20"
fi
chromium --version
chromedriver --version
