import pytest

from _studio_fixtures import two_cluster_tree, two_triangles
from steps_engine.curation.edits import Edit
from steps_engine.taxonomy.graph import write_graph
from steps_engine._atomic import atomic_write
from steps_engine.curation.workspace import Workspace, default_dir


@pytest.fixture
def source(tmp_path):
    d = tmp_path / "tax"
    write_graph(two_triangles(), d)
    two_cluster_tree().save(d / "taxonomy.json")
    return d


def members(tree, node_id):
    return sorted(tree.members(tree.node_index(node_id)))


def test_empty_workspace_says_what_to_do(tmp_path):
    ws = Workspace(tmp_path / "ws")
    assert not ws.has_taxonomy
    with pytest.raises(ValueError, match="Data page"):
        ws.tree


def test_edits_survive_reopening(tmp_path, source):
    ws = Workspace(tmp_path / "ws")
    ws.set_taxonomy(source)
    res = ws.apply(Edit("move", {"skills": ["c"], "target_id": "n2"}))
    ws.apply(Edit("rename", {"node_id": "n2", "label": "Big"}))
    assert res.entropy_after > res.entropy_before
    again = Workspace(tmp_path / "ws")  # a restart
    assert members(again.tree, "n2") == ["c", "d", "e", "f"]
    assert again.tree.labels[again.tree.node_index("n2")] == "Big"
    assert [r["op"] for r in again.read_jsonl("edits.jsonl")] == ["move", "rename"]
    # undo history survives too
    again.undo()
    again.undo()
    assert members(again.tree, "n2") == ["d", "e", "f"]
    third = Workspace(tmp_path / "ws")
    assert third.log.position == 0 and third.log.can_redo
    third.redo()
    assert members(Workspace(tmp_path / "ws").tree, "n2") == ["c", "d", "e", "f"]


def test_current_tree_file_follows_undo(tmp_path, source):
    from steps_engine.taxonomy.tree import EncodingTree

    ws = Workspace(tmp_path / "ws")
    ws.set_taxonomy(source)
    ws.apply(Edit("exclude", {"skills": ["a"]}))
    assert "a" not in EncodingTree.load(ws.current_dir / "taxonomy.json").members(0)
    ws.undo()
    assert "a" in EncodingTree.load(ws.current_dir / "taxonomy.json").members(0)
    assert (ws.current_dir / "graph.csv").read_bytes() == (source / "graph.csv").read_bytes()


def test_tree_key_changes_with_edits_and_returns_on_undo(tmp_path, source):
    ws = Workspace(tmp_path / "ws")
    ws.set_taxonomy(source)
    k0 = ws.tree_key
    ws.apply(Edit("rename", {"node_id": "n1", "label": "x"}))
    assert ws.tree_key != k0
    ws.undo()
    assert ws.tree_key == k0


def test_a_log_line_without_its_snapshot_is_ignored(tmp_path, source):
    # a crash between the snapshot and the log write must not leave a broken history
    ws = Workspace(tmp_path / "ws")
    ws.set_taxonomy(source)
    ws.apply(Edit("rename", {"node_id": "n1", "label": "x"}))
    recs = ws.read_jsonl("edits.jsonl")
    ws.write_jsonl("edits.jsonl", recs + [dict(recs[0], seq=2, tree_sha="0" * 64)])  # no such snapshot
    again = Workspace(tmp_path / "ws")
    assert len(again.log.records) == 1 and again.log.position == 1


def test_new_edit_after_undo_drops_the_redo_tail(tmp_path, source):
    ws = Workspace(tmp_path / "ws")
    ws.set_taxonomy(source)
    ws.apply(Edit("rename", {"node_id": "n1", "label": "x"}))
    ws.apply(Edit("rename", {"node_id": "n1", "label": "y"}))
    ws.undo()
    ws.undo()
    ws.apply(Edit("rename", {"node_id": "n2", "label": "z"}))
    assert [p.name for p in ws.path("history").iterdir()] == [ws.log.records[0]["tree_sha"] + ".json"]
    again = Workspace(tmp_path / "ws")
    assert len(again.log.records) == 1 and not again.log.can_redo


def test_set_taxonomy_resets_history(tmp_path, source):
    ws = Workspace(tmp_path / "ws")
    ws.set_taxonomy(source)
    ws.apply(Edit("rename", {"node_id": "n1", "label": "x"}))
    ws.set_taxonomy(source)
    assert ws.log.position == 0 and ws.read_jsonl("edits.jsonl") == []


def test_atomic_write_leaves_no_temp_files(tmp_path):
    atomic_write(tmp_path / "a" / "f.txt", "hello")
    atomic_write(tmp_path / "a" / "f.txt", "world")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["f.txt"]
    assert (tmp_path / "a" / "f.txt").read_text() == "world"


def test_default_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("STEPS_WORKSPACE", str(tmp_path / "w"))
    assert default_dir() == (tmp_path / "w").resolve()
    monkeypatch.delenv("STEPS_WORKSPACE")
    assert default_dir().name == "workspace"


def test_a_file_is_not_a_workspace(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="folder"):
        Workspace(tmp_path / "f")


def test_a_second_session_sees_edits_made_by_the_first(tmp_path, source):
    one = Workspace(tmp_path / "ws")
    one.set_taxonomy(source)
    two = Workspace(tmp_path / "ws")
    assert members(two.tree, "n2") == ["d", "e", "f"]
    one.apply(Edit("move", {"skills": ["c"], "target_id": "n2"}))
    assert members(two.tree, "n2") == ["c", "d", "e", "f"]
    two.undo()
    assert members(one.tree, "n2") == ["d", "e", "f"]


def test_a_second_session_sees_a_new_source_taxonomy(tmp_path, source):
    from steps_engine.curation.edits import exclude_skill

    one = Workspace(tmp_path / "ws")
    one.set_taxonomy(source)
    two = Workspace(tmp_path / "ws")
    assert len(two.graph.skills) == 6 and len(two.tree.members(0)) == 6
    other = tmp_path / "other"
    write_graph(two_triangles(), other)
    exclude_skill(two_cluster_tree(), "f").save(other / "taxonomy.json")
    one.set_taxonomy(other)
    assert sorted(two.tree.members(0)) == list("abcde")


def test_the_graph_is_read_once_while_nothing_changes(tmp_path, source, monkeypatch):
    import steps_engine.curation.workspace as wsmod

    Workspace(tmp_path / "ws").set_taxonomy(source)
    ws = Workspace(tmp_path / "ws")
    calls = []
    real = wsmod.read_graph
    monkeypatch.setattr(wsmod, "read_graph", lambda d: calls.append(d) or real(d))
    for _ in range(3):
        ws.graph
        ws.tree
        ws.graph
    assert len(calls) == 1
