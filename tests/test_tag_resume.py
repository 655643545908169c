"""`steps tag` killed (SIGKILL, SIGINT) and started again: it goes on where it stopped and writes the
file an uninterrupted run writes; other options or another input start over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _embedding_fakes import CountingEmbedder
from steps_engine.cli import EXIT_INTERRUPTED, EXIT_OK, main
from steps_engine.semantic.tagging import TagConfig, load_vocabulary, tag_file

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "instruct_skillmix"
pytestmark = pytest.mark.skipif(not (DATA / "ism_sda_k2_1000.json").exists(), reason="shared data not present")

# The CLI in a subprocess with a deterministic embedder that is slow enough to be killed mid-run.
_SLOW_CLI = """
import signal, sys, time
# Ctrl-C as in a terminal, also when the test process ignores or blocks SIGINT (nohup, &, a library's thread)
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {{signal.SIGINT}})
sys.path.insert(0, {tests!r})
from _embedding_fakes import CountingEmbedder
import steps_engine.semantic.embeddings as embeddings

class Slow(CountingEmbedder):
    def encode(self, texts, batch_size=64, progress=None):
        time.sleep(0.02)
        return super().encode(texts, batch_size, progress)

embeddings.get_embedder = lambda *a, **k: Slow()
from steps_engine.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture()
def corpus(tmp_path):
    """120 Instruct-SkillMix records (10 chunks of 12) and 150 of its skills."""
    records = json.loads((DATA / "ism_sda_k2_1000.json").read_text(encoding="utf-8"))[:120]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    vocab = tmp_path / "skills.txt"
    vocab.write_text("\n".join((DATA / "skills_gpt4.txt").read_text(encoding="utf-8").splitlines()[:150]) + "\n")
    return src, vocab


def _args(src, vocab, out, *extra):
    return ["tag", str(src), "--vocab", str(vocab), "--batch-size", "12", "--scores", "--out", str(out), *extra]


def _start(args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = _SLOW_CLI.format(tests=str(REPO / "tests"))
    return subprocess.Popen([sys.executable, "-c", code, *args, "--quiet"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(proc, ready, what: str) -> None:
    deadline = time.monotonic() + 120  # only guards against a hang
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, f"the run ended before {what}: {proc.stderr.read().decode()[-500:]}"


def _interrupt(src, vocab, out, ready, what: str, sig) -> subprocess.Popen:
    """Start `steps tag`, send it `sig` once `ready()`, and wait for it to end."""
    proc = _start(_args(src, vocab, out))
    _wait_for(proc, ready, what)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    return proc


def _scanned(partial: Path) -> int:
    import numpy as np

    try:
        with np.load(partial / "scan.npz") as z:
            return -1 if bool(z["done"]) else int(z["chunks"])
    except (OSError, ValueError, KeyError, EOFError):
        return 0


def _tagged(partial: Path) -> int:
    return len(list(partial.glob("[0-9]*.json")))


def _uninterrupted(src, vocab, out, **kw) -> bytes:
    v, _ = load_vocabulary(vocab)
    tag_file(src, out, v, CountingEmbedder(), TagConfig(**kw), with_scores=True, chunk_records=12, resume=False)
    return out.read_bytes()


def test_sigkill_in_both_passes_then_a_rerun_writes_the_uninterrupted_output(corpus, tmp_path, monkeypatch, capsys):
    src, vocab = corpus
    expected = _uninterrupted(src, vocab, tmp_path / "plain.jsonl")
    out = tmp_path / "tagged.jsonl"
    partial = tmp_path / "tagged.jsonl.partial"
    # killed in pass 1 (the hubness centre's sums)
    proc = _interrupt(src, vocab, out, lambda: _scanned(partial) >= 3, "3 chunks were scanned", signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    scanned = _scanned(partial)
    assert 3 <= scanned < 10 and not out.exists()
    # killed in pass 2, after at least 3 chunks were tagged
    proc = _interrupt(src, vocab, out, lambda: _tagged(partial) >= 3, "3 chunks were tagged", signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    done = _tagged(partial)
    assert 3 <= done < 10 and not out.exists()

    fake = CountingEmbedder()
    import steps_engine.semantic.embeddings as embeddings

    monkeypatch.setattr(embeddings, "get_embedder", lambda *a, **k: fake)
    capsys.readouterr()
    assert main(_args(src, vocab, out, "--quiet", "--json")) == EXIT_OK
    captured = capsys.readouterr()
    assert f"resuming the interrupted run kept in {partial} ({done} chunk(s) tagged, pass 1 done)" in captured.err
    summary = json.loads(captured.out.splitlines()[-1])
    assert summary["records"] == 120 and summary["resumed"] == 12 * done
    assert out.read_bytes() == expected  # the same records in the same order, the same tags and scores
    assert not partial.exists()
    # only the chunks left were embedded: pass 1 was not repeated, the finished chunks not retagged
    full = CountingEmbedder()
    tag_file(src, tmp_path / "again.jsonl", load_vocabulary(vocab)[0], full, TagConfig(), with_scores=True,
             chunk_records=12, resume=False)
    assert 0 < fake.texts_encoded < full.texts_encoded


def test_sigint_says_how_to_resume_and_the_rerun_finishes(corpus, tmp_path, monkeypatch, capsys):
    src, vocab = corpus
    out = tmp_path / "tagged.jsonl"
    partial = tmp_path / "tagged.jsonl.partial"
    proc = _interrupt(src, vocab, out, lambda: _tagged(partial) >= 2, "2 chunks were tagged", signal.SIGINT)
    assert proc.returncode == EXIT_INTERRUPTED, (proc.returncode, _tagged(partial), proc.stderr.read().decode()[-800:])
    err = proc.stderr.read().decode()
    assert f"the finished part is kept in {out}.partial; the same command resumes" in err
    import steps_engine.semantic.embeddings as embeddings

    monkeypatch.setattr(embeddings, "get_embedder", lambda *a, **k: CountingEmbedder())
    assert main(_args(src, vocab, out, "--quiet")) == EXIT_OK
    assert out.read_bytes() == _uninterrupted(src, vocab, tmp_path / "plain.jsonl")


def test_other_options_or_another_input_start_over_and_say_why(corpus, tmp_path, monkeypatch, capsys):
    src, vocab = corpus
    out = tmp_path / "tagged.jsonl"
    partial = tmp_path / "tagged.jsonl.partial"
    _interrupt(src, vocab, out, lambda: _tagged(partial) >= 2, "2 chunks were tagged", signal.SIGKILL)
    import steps_engine.semantic.embeddings as embeddings

    monkeypatch.setattr(embeddings, "get_embedder", lambda *a, **k: CountingEmbedder())
    capsys.readouterr()
    assert main(_args(src, vocab, out, "--quiet", "--top-k", "3")) == EXIT_OK
    err = capsys.readouterr().err
    assert f"{partial}: an interrupted run with other inputs or options (config differ) was discarded" in err
    assert out.read_bytes() == _uninterrupted(src, vocab, tmp_path / "k3.jsonl", top_k=3)  # not mixed with top-5 rows
    # another input under the same name: its sha256 differs
    _interrupt(src, vocab, out, lambda: _tagged(partial) >= 2, "2 chunks were tagged", signal.SIGKILL)
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    src.write_text("".join(lines[::-1]), encoding="utf-8")
    assert main(_args(src, vocab, out, "--quiet")) == EXIT_OK
    assert "(input differ) was discarded" in capsys.readouterr().err
    assert out.read_bytes() == _uninterrupted(src, vocab, tmp_path / "rev.jsonl")


def test_a_folder_that_is_not_a_tag_run_is_refused(corpus, tmp_path, monkeypatch, capsys):
    src, vocab = corpus
    out = tmp_path / "tagged.jsonl"
    (tmp_path / "tagged.jsonl.partial").mkdir()
    (tmp_path / "tagged.jsonl.partial" / "mine.txt").write_text("keep me")
    import steps_engine.semantic.embeddings as embeddings

    monkeypatch.setattr(embeddings, "get_embedder", lambda *a, **k: CountingEmbedder())
    assert main(_args(src, vocab, out, "--quiet")) == 2
    assert "holds no run.json of `steps tag`" in capsys.readouterr().err
    assert (tmp_path / "tagged.jsonl.partial" / "mine.txt").read_text() == "keep me" and not out.exists()
