"""A kill at any step of an edit, an undo/redo or a taxonomy switch leaves a workspace that
opens consistent, in the state before or after the change (issue 12 item 6).

Kill points: a forked child runs the change with os.replace / os.rename / os.unlink / os.rmdir
wrapped so that the N-th call SIGKILLs the process just before it happens; N runs from 1 until
the change completes without reaching N. Every state the disk can be in between two of those
steps is tried (a kill between a temp file's write and its rename is the state before the rename,
plus a stray temp file).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal

import orjson
import pytest

from _studio_fixtures import two_cluster_tree, two_triangles
from steps_engine.curation.edits import Edit, exclude_skill
from steps_engine.curation.workspace import Workspace
from steps_engine.taxonomy.graph import write_graph
from steps_engine.taxonomy.tree import EncodingTree

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

MUTATORS = ("replace", "rename", "unlink", "rmdir")


def _kill_at(n: int, change) -> bool:
    """Run `change()` in a forked child that SIGKILLs itself before its n-th file operation.
    True when the child was killed, False when the change completed first."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            calls = [0]
            for name in MUTATORS:
                real = getattr(os, name)

                def wrapped(*a, _real=real, **kw):
                    calls[0] += 1
                    if calls[0] == n:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return _real(*a, **kw)

                setattr(os, name, wrapped)
            change()
        except BaseException:  # noqa: BLE001 - report failure through the exit status
            os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, f"the change raised in the child at kill point {n}"
    return False


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _state(ws_dir) -> tuple:
    """Open the workspace and check it is consistent; return what a user sees."""
    ws = Workspace(ws_dir)
    tree, log = ws.tree, ws.log
    for k in range(1, len(log.records) + 1):  # every log entry matches its snapshot
        assert _sha(orjson.dumps(log.tree_at(k).to_json())) == log.records[k - 1]["tree_sha"]
    current = EncodingTree.from_json(orjson.loads((ws.current_dir / "taxonomy.json").read_bytes()), ws.graph.skills)
    assert current.to_json() == tree.to_json()  # current/ is the tree at the log position
    for f in ("graph.csv", "skills.csv", "input.json"):
        src, cur = ws.taxonomy_dir / f, ws.current_dir / f
        assert (src.read_bytes() if src.exists() else None) == (cur.read_bytes() if cur.exists() else None), f
    graph_sha = _sha((ws.taxonomy_dir / "graph.csv").read_bytes())
    source = _sha((ws.taxonomy_dir / "taxonomy.json").read_bytes())
    leftovers = [p.name for d in (ws.root, ws.taxonomy_dir, ws.current_dir, ws.path("history"))
                 for p in d.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".taxonomy.")]
    assert leftovers == []  # temp files and staging folders of the killed process are gone
    again = Workspace(ws_dir)  # a second open needs no further repair
    assert again.log.position == log.position and again.tree.to_json() == tree.to_json()
    return (graph_sha, source, log.position, len(log.records), orjson.dumps(tree.to_json()))


def _source(d, exclude=None, label="C1") -> None:
    g = two_triangles()
    write_graph(g, d)
    tree = two_cluster_tree()
    if exclude:
        tree = exclude_skill(tree, exclude)
    tree.labels[1] = label
    tree.save(d / "taxonomy.json")
    (d / "input.json").write_text(orjson.dumps({"path": str(d / f"{label}.jsonl")}).decode())


@pytest.fixture
def template(tmp_path):
    """A workspace with two edits, then one undo: position 1 of 2 (a redo tail to drop)."""
    src = tmp_path / "src1"
    _source(src)
    ws = Workspace(tmp_path / "template")
    ws.set_taxonomy(src)
    ws.apply(Edit("move", {"skills": ["c"], "target_id": "n2"}))
    ws.apply(Edit("rename", {"node_id": "n2", "label": "Big"}))
    ws.undo()
    return ws.root


def _loop(template, tmp_path, change, expect_states: int = 2) -> int:
    seen = set()
    n = 0
    while True:
        n += 1
        d = tmp_path / f"k{n}"
        shutil.copytree(template, d)
        before = _state(d) if n == 1 else None
        if before is not None:
            seen_before = before
        killed = _kill_at(n, lambda: change(Workspace(d)))
        state = _state(d)
        seen.add(state)
        shutil.rmtree(d)
        if not killed:
            after = state
            break
        assert n < 200, "the change never completed"
    assert seen <= {seen_before, after}, "a kill left a state that is neither before nor after"
    assert len(seen) == expect_states
    return n - 1  # kill points tried


def test_a_kill_at_any_step_of_an_edit(template, tmp_path):
    points = _loop(template, tmp_path, lambda ws: ws.apply(Edit("exclude", {"skills": ["a"]})))
    assert points >= 4


@pytest.mark.parametrize("move", ["undo", "redo"])
def test_a_kill_at_any_step_of_undo_or_redo(template, tmp_path, move):
    assert _loop(template, tmp_path, lambda ws: getattr(ws, move)()) >= 2


def test_a_kill_at_any_step_of_a_taxonomy_switch(template, tmp_path):
    other = tmp_path / "src2"
    _source(other, exclude="f", label="Other")
    points = _loop(template, tmp_path, lambda ws: ws.set_taxonomy(other))
    assert points >= 6
