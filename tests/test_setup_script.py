"""setup.sh installs the CPU build of torch on every machine (issue 12 item 16).

setup.sh runs in a copy of the repository whose .venv/bin/python is a fake that records its
arguments (pip never runs); PyTorch's index is replaced by a loopback server or a dead port.
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAKE = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/calls.log"
case "$*" in
  *"import sys, torch"*) exit 1 ;;                     # torch is not installed yet
  *"install -q torch=="*) [ -n "${FAIL_TORCH:-}" ] && exit 1 ;;
esac
exit 0
"""

pytestmark = pytest.mark.skipif(sys.platform != "linux" or not shutil.which("bash"), reason="Linux setup.sh")


def _run(tmp_path, index: str, **env) -> tuple[subprocess.CompletedProcess, list[str]]:
    shutil.copy(REPO / "setup.sh", tmp_path / "setup.sh")
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(FAKE)
    (venv / "python").chmod(0o755)
    env = {**os.environ, "PYTHON": sys.executable, "STEPS_TORCH_INDEX": index, **env}
    proc = subprocess.run(["bash", str(tmp_path / "setup.sh")], env=env, capture_output=True, text=True, timeout=60)
    calls = (venv / "calls.log").read_text().splitlines()
    return proc, [c for c in calls if "install" in c and "torch" in c]


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/whl/cpu"


def test_the_cpu_index_is_used_when_reachable(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        index = f"http://127.0.0.1:{server.server_address[1]}"
        proc, torch_calls = _run(tmp_path, index)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr
    assert torch_calls == [f"-m pip install -q torch==2.13.0+cpu --index-url {index}"]


def test_an_unreachable_index_falls_back_to_the_cpu_wheel_from_pip_config(tmp_path):
    proc, torch_calls = _run(tmp_path, _dead_url())
    assert proc.returncode == 0, proc.stderr
    assert torch_calls == ["-m pip install -q torch==2.13.0+cpu"]  # never the plain (CUDA) torch==2.13.0
    assert "not reachable" in proc.stderr


def test_no_cpu_build_anywhere_stops_with_what_to_do(tmp_path):
    proc, torch_calls = _run(tmp_path, _dead_url(), FAIL_TORCH="1")
    assert proc.returncode == 1 and "PIP_FIND_LINKS" in proc.stderr and "STEPS_TORCH_INDEX" in proc.stderr
    assert torch_calls == ["-m pip install -q torch==2.13.0+cpu"]


def test_this_venv_holds_no_cuda_packages():
    names = sorted(d.metadata["Name"] for d in metadata.distributions() if d.metadata["Name"])
    assert not [n for n in names if n.lower().startswith("nvidia-")]
    torch = pytest.importorskip("torch")
    assert torch.version.cuda is None
