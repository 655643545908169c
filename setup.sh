#!/usr/bin/env bash
# Set up STEPS Studio in ./.venv (idempotent).
#   ./setup.sh          engine, CLI and studio (core + extras embeddings, studio)
#   ./setup.sh --dev    + test tools and Debian's chromium for the real-browser test
# PyTorch: the CPU build, on every machine (PyPI's Linux torch is the CUDA build with GBs of
# nvidia-* packages). First PyTorch's CPU wheel index ($STEPS_TORCH_INDEX, probed with a short
# timeout so an unreachable host costs seconds, not pip's retries); when it cannot be reached,
# torch==VERSION+cpu from pip's own configuration (a mirror, PIP_FIND_LINKS, a wheel folder).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
TORCH_VERSION=2.13.0
TORCH_INDEX=${STEPS_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip

reachable() {  # an HTTP answer from $1 within 5 s
  "$PY" - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1].rstrip("/") + "/", timeout=5).close()
except Exception:
    sys.exit(1)
EOF
}

if ! .venv/bin/python -c "import sys, torch; sys.exit(torch.version.cuda is not None)" 2>/dev/null; then
  if [ "$(uname -s)" = "Darwin" ]; then
    .venv/bin/python -m pip install -q "torch==$TORCH_VERSION"  # macOS wheels on PyPI are CPU builds
  elif reachable "$TORCH_INDEX"; then
    .venv/bin/python -m pip install -q "torch==$TORCH_VERSION+cpu" --index-url "$TORCH_INDEX"
  else
    echo "setup.sh: $TORCH_INDEX is not reachable; looking for torch==$TORCH_VERSION+cpu in pip's configured indexes and find-links" >&2
    if ! .venv/bin/python -m pip install -q "torch==$TORCH_VERSION+cpu"; then
      echo "setup.sh: no CPU build of torch available. Either make $TORCH_INDEX reachable, set" >&2
      echo "  STEPS_TORCH_INDEX to a mirror of it, or put torch-$TORCH_VERSION+cpu-*.whl in a folder and run" >&2
      echo "  PIP_FIND_LINKS=/that/folder ./setup.sh" >&2
      exit 1
    fi
  fi
fi
if [ "${1:-}" = "--dev" ]; then
  .venv/bin/python -m pip install -q -e ".[embeddings,studio,dev]"
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
      (apt-get update -q && apt-get install -y -q chromium) >/dev/null
    else
      echo "setup.sh: /usr/bin/chromium missing and cannot apt-get it: the browser test will be skipped" >&2
    fi
  fi
else
  .venv/bin/python -m pip install -q -e ".[embeddings,studio]"  # the lean core alone: pip install -e .
fi
# Compile the numba kernels once: numba caches them beside the modules (__pycache__), so the
# first `steps demo` and the studio's first co-occurrence map after setup do not spend their time compiling.
warm=$(mktemp -d)
.venv/bin/steps demo --out "$warm/demo" --quiet >/dev/null || echo "setup.sh: warming the numba cache failed; the first run will compile" >&2
.venv/bin/python -c "from steps_engine.selection.warm import warm_up; warm_up()" || echo "setup.sh: warming the selection kernels failed; the first run will compile" >&2
.venv/bin/python -c "from steps_engine.studio.layout import warm_up; warm_up()" || echo "setup.sh: warming the skill map's layout kernel failed; its first use will compile" >&2
rm -rf "$warm"
echo "setup.sh: ready (.venv)"
