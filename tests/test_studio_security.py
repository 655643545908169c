"""The studio is private by default and nothing an upload says picks where a file is written."""

import json
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from steps_engine.curation.workspace import Workspace  # noqa: E402
from steps_engine.studio import state as studio_state  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
ROWS = b"".join(json.dumps({"skills": ["a", "b"], "instruction": f"q{i}"}).encode() + b"\n" for i in range(5))


def test_server_binds_loopback_by_default():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"


@pytest.mark.parametrize("address, exposed", [("127.0.0.1", False), ("localhost", False), ("::1", False),
                                              ("", True), ("0.0.0.0", True), ("::", True), ("192.168.1.7", True)])
def test_exposure_warning_only_when_listening_beyond_loopback(address, exposed):
    warning = studio_state.exposure_warning(address)
    assert (warning is not None) is exposed
    if exposed:
        assert "API key" in warning and "127.0.0.1" in warning


@pytest.mark.parametrize("name, base", [("../../x.jsonl", "x.jsonl"), ("/etc/cron.d/x.jsonl", "x.jsonl"),
                                        ("C:\\Users\\me\\d.csv", "d.csv"), ("..", "upload"), (".hidden.json", "hidden.json"),
                                        ("a b;rm -rf.jsonl", "a_b_rm_-rf.jsonl")])
def test_upload_names_are_reduced_to_a_safe_base_name(name, base):
    assert studio_state.safe_base_name(name) == base


def test_uploads_are_keyed_by_content(tmp_path):
    ws = Workspace(tmp_path / "ws")
    one = studio_state.store_upload(ws, "data.jsonl", b'{"skills": ["a"]}\n')
    two = studio_state.store_upload(ws, "data.jsonl", b'{"skills": ["b"]}\n')  # same name, same size
    assert one != two and one.read_bytes() != two.read_bytes()
    assert studio_state.store_upload(ws, "data.jsonl", b'{"skills": ["a"]}\n') == one
    assert sorted(p.parent for p in (one, two)) == [ws.path("uploads")] * 2


@pytest.mark.parametrize("kind", ["relative", "absolute"])
def test_an_upload_named_outside_the_workspace_stays_inside(tmp_path, monkeypatch, kind):
    ws_dir = tmp_path / "ws"
    outside = tmp_path / "outside"
    outside.mkdir()
    name = "../../x.jsonl" if kind == "relative" else str(outside / "x.jsonl")
    monkeypatch.setenv("STEPS_WORKSPACE", str(ws_dir))
    monkeypatch.setenv("STEPS_TAXONOMY", "")
    from _studio_fixtures import two_cluster_tree, two_triangles
    from steps_engine.taxonomy.graph import write_graph

    src = tmp_path / "tax"
    write_graph(two_triangles(), src)
    two_cluster_tree().save(src / "taxonomy.json")
    Workspace(ws_dir).set_taxonomy(src)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/data.py")
    at.run()
    at.radio(key="data_source").set_value("Upload files").run()
    at.file_uploader[0].set_value((name, ROWS, "application/json")).run()
    assert not at.exception, [e.value for e in at.exception]
    written = sorted(p for p in tmp_path.rglob("x.jsonl*") if p.is_file()) + sorted(ws_dir.rglob("*x.jsonl"))
    assert not (outside / "x.jsonl").exists() and not (tmp_path / "x.jsonl").exists()
    stored = list((ws_dir / "uploads").iterdir())
    assert len(stored) == 1 and stored[0].name.endswith("-x.jsonl") and stored[0].read_bytes() == ROWS
    assert all(ws_dir in p.parents for p in written)


def test_several_uploads_named_outside_the_workspace_become_shards_inside(tmp_path):
    from steps_engine.studio.inputs import store_uploads

    ws = Workspace(tmp_path / "ws")
    other = ROWS.replace(b'"a"', b'"c"')
    inp = store_uploads(ws, [("../../x.jsonl", ROWS), (str(tmp_path / "y.jsonl"), other), ("..\\z.jsonl", ROWS)])
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "y.jsonl").exists()
    folder = Path(inp.source)
    assert folder.parent == ws.path("uploads") and folder.name.startswith("set-")
    assert sorted(Path(f).name.split("-", 1)[1] for f in inp.files) == ["x.jsonl", "y.jsonl"]  # z = x's bytes
    assert all(Path(f).parent == folder for f in inp.files) and inp.notes == ("z.jsonl has the same content as x.jsonl: read once",)
    assert store_uploads(ws, [("y.jsonl", other), ("x.jsonl", ROWS)]).source == inp.source  # same set, same folder
    with pytest.raises(ValueError, match="letters, digits and dashes"):
        studio_state.store_upload(ws, "x.jsonl", ROWS, folder="../up")

@pytest.mark.parametrize("address, warned", [("0.0.0.0", True), ("127.0.0.1", False)])
def test_every_page_warns_when_the_studio_is_exposed(tmp_path, monkeypatch, address, warned):
    from streamlit import config

    from _studio_fixtures import two_cluster_tree, two_triangles
    from steps_engine.taxonomy.graph import write_graph

    src = tmp_path / "tax"
    write_graph(two_triangles(), src)
    two_cluster_tree().save(src / "taxonomy.json")
    Workspace(tmp_path / "ws").set_taxonomy(src)
    monkeypatch.setenv("STEPS_WORKSPACE", str(tmp_path / "ws"))
    old = config.get_option("server.address")
    config.set_option("server.address", address)
    try:
        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
    finally:
        config.set_option("server.address", old)
    assert not at.exception, [e.value for e in at.exception]
    assert any("every network interface" in w.value for w in at.warning) is warned
