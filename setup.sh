#!/usr/bin/env bash
# Set up STEPS Studio in ./.venv (idempotent).
#   ./setup.sh          engine, CLI and studio
#   ./setup.sh --dev    + test tools and Debian's chromium for the real-browser test
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# CPU build of torch first, so sentence-transformers does not pull a CUDA build.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q "torch==2.13.0"
fi
if [ "${1:-}" = "--dev" ]; then
  .venv/bin/python -m pip install -q -e ".[dev]"
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
      (apt-get update -q && apt-get install -y -q chromium) >/dev/null
    else
      echo "setup.sh: /usr/bin/chromium missing and cannot apt-get it: the browser test will be skipped" >&2
    fi
  fi
else
  .venv/bin/python -m pip install -q -e .
fi
# Compile the numba kernels once: numba caches them beside the modules (__pycache__), so the
# first `steps demo` after setup does not spend its time compiling.
warm=$(mktemp -d)
.venv/bin/steps demo --out "$warm/demo" --quiet >/dev/null || echo "setup.sh: warming the numba cache failed; the first run will compile" >&2
rm -rf "$warm"
echo "setup.sh: ready (.venv)"
