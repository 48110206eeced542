# Sourced by the set-up scripts: `new_venv VENV` makes VENV (Python 3.11 where there is one) with
# the CPU torch wheel and sets PY; `pip_install ARGS…` installs into it quietly, minus the
# warnings about package indexes this machine does not have.
new_venv() {
  python3.11 -m venv "$1" 2>/dev/null || python3 -m venv "$1"
  PY="$1/bin/python"
  pip_install torch==2.13.0
}
pip_install() {
  "$PY" -m pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor" || true; }
}
