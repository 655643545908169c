"""The studio pages through streamlit.testing.v1.AppTest (no browser)."""

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from _studio_fixtures import demo_file  # noqa: E402
from steps_engine.studio import state as studio_state  # noqa: E402
from steps_engine.curation.workspace import Workspace  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 180  # 2 shared cores: be generous
PAGES = ["home", "data", "taxonomy", "skill_map", "curate", "combinations", "synthesize", "export"]


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    ws = Workspace(tmp / "ws")
    studio_state.build_into_workspace(ws, demo_file(tmp), studio_state.demo_mapping(), height=3)
    return ws.root


@pytest.fixture
def ws_dir(demo_template, tmp_path, monkeypatch):
    d = tmp_path / "ws"
    shutil.copytree(demo_template, d)
    monkeypatch.setenv("STEPS_WORKSPACE", str(d))
    return d


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page != "home":
        at.switch_page(f"pages/{page}.py")
        at.run()
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_each_page_renders_with_the_demo(ws_dir, page):
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, "page drew nothing"


def test_taxonomy_page_shows_entropies_and_figure(ws_dir):
    at = open_page("taxonomy")
    no_errors(at)
    ws = Workspace(ws_dir)
    r = studio_state.entropy_readout(ws.graph, ws.tree)
    assert metric(at, "Structural entropy H^T") == f"{r['structural']:.4f} bits"
    assert metric(at, "H^T / H^1") == f"{r['ratio']:.3f}"
    assert at.get("plotly_chart"), "no chart"
    at.radio(key="tax_kind").set_value("icicle").run()
    no_errors(at)


def test_an_empty_workspace_opens_on_the_demo(tmp_path, monkeypatch):
    if not studio_state.demo_path().is_file():
        pytest.skip("bundled demo not present")
    monkeypatch.setenv("STEPS_WORKSPACE", str(tmp_path / "fresh"))
    at = open_page("taxonomy")  # a deep link straight to a page
    no_errors(at)
    assert Workspace(tmp_path / "fresh").has_taxonomy
    assert metric(at, "Structural entropy H^T").endswith("bits")


def _move_first_skill(at: AppTest, ws: Workspace) -> tuple[str, str]:
    tree = ws.tree
    skill = sorted(tree.members(0))[0]
    leaf = tree.leaf_of_skill()[tree.skills.index(skill)]
    home = tree.parent[leaf]
    target = next(
        tree.ids[c] for c in tree.children()[0] if tree.leaf_skill[c] < 0 and c != home and not tree.path_to_root(leaf).count(c)
    )
    at.multiselect(key="move_skills").set_value([skill])
    at.selectbox(key="move_target").set_value(target).run()
    at.button(key="do_move").click().run()
    return skill, target


def test_curate_edit_changes_tree_and_readout_and_undo_restores(ws_dir):
    at = open_page("curate")
    no_errors(at)
    h0 = metric(at, "Structural entropy H^T")
    skill, target = _move_first_skill(at, Workspace(ws_dir))
    no_errors(at)
    assert metric(at, "Structural entropy H^T") != h0
    assert any("→" in s.value for s in at.success)
    tree = Workspace(ws_dir).tree
    assert skill in tree.members(tree.node_index(target))
    at.button(key="undo").click().run()
    no_errors(at)
    assert metric(at, "Structural entropy H^T") == h0
    tree = Workspace(ws_dir).tree
    assert skill not in tree.members(tree.node_index(target))
    at.button(key="redo").click().run()
    assert metric(at, "Structural entropy H^T") != h0


def test_a_restart_keeps_the_edit(ws_dir):
    at = open_page("curate")
    h0 = metric(at, "Structural entropy H^T")
    _move_first_skill(at, Workspace(ws_dir))
    h1 = metric(at, "Structural entropy H^T")
    again = open_page("curate")  # a new session on the same workspace folder
    no_errors(again)
    assert metric(again, "Structural entropy H^T") == h1 != h0
    assert not again.button(key="undo").disabled


def test_rename_and_create_from_the_curate_page(ws_dir):
    at = open_page("curate")
    root = Workspace(ws_dir).tree.ids[0]
    at.button_group(key="curate_op").set_value("New cluster").run()
    at.selectbox(key="create_parent").set_value(root)
    at.text_input(key="create_label").set_value("Hand-made").run()
    at.button(key="do_create").click().run()
    no_errors(at)
    assert "Hand-made" in Workspace(ws_dir).tree.labels
    at.button_group(key="curate_op").set_value("Merge").run()
    # the root is never offered as a cluster to merge away
    assert not any(o.endswith(f"· {root}") for o in at.selectbox(key="merge_source").options)
    assert any(o.endswith(f"· {root}") for o in at.selectbox(key="merge_target").options)


def test_a_refused_edit_is_an_error_message_not_a_traceback(ws_dir):
    at = open_page("curate")
    tree = Workspace(ws_dir).tree
    first = next(c for c in tree.children()[0] if tree.leaf_skill[c] < 0)
    inner = next((c for c in tree.children()[first] if tree.leaf_skill[c] < 0), None)
    if inner is None:
        pytest.skip("demo tree has no nested cluster")
    at.button_group(key="curate_op").set_value("Merge").run()
    at.selectbox(key="merge_source").set_value(tree.ids[first])
    at.selectbox(key="merge_target").set_value(tree.ids[inner]).run()
    at.button(key="do_merge").click().run()
    assert not at.exception
    assert at.error and "Next" in at.error[0].value


def test_names_by_meaning_are_suggested_and_applied_as_one_edit(ws_dir):
    at = open_page("curate")
    at.button_group(key="curate_op").set_value("Name by meaning").run()
    at.button(key="suggest_names").click().run()
    no_errors(at)
    at.button(key="do_relabel").click().run()
    no_errors(at)
    ws = Workspace(ws_dir)
    assert ws.log.records[-1]["op"] == "relabel"
    sug = studio_state.suggest_names(ws.log.tree_at(0), ws.graph)
    changed = sug[sug["suggested"] != sug["label"]]
    tree = ws.tree
    assert len(changed) and all(tree.labels[tree.node_index(r.id)] == r.suggested for r in changed.itertuples())


def test_skill_map_move_needs_a_selection(ws_dir):
    at = open_page("skill_map")
    no_errors(at)
    assert at.button(key="map_move").disabled


def test_combinations_run_and_fill_the_table(ws_dir):
    at = open_page("combinations")
    no_errors(at)
    assert any("No combinations yet" in i.value for i in at.info)
    at.button(key="cmb_run").click().run()
    no_errors(at)
    ws = Workspace(ws_dir)
    steps = ws.read_jsonl("combos/steps.jsonl")
    assert steps and all(len(r["skills"]) == 3 for r in steps)
    table = next(d.value for d in at.dataframe if "gain (bits)" in d.value.columns)
    assert len(table) == len(steps) and list(table["gain (bits)"]) == [r["gain"] for r in steps]
    assert ws.read_jsonl("combos/random.jsonl"), "baseline missing"
    assert int(metric(at, "Combinations").replace(",", "")) == len(steps)
    # budget mode by default: ranks 1..N, distinct sets, a marginal gain on every line
    assert [r["rank"] for r in steps] == list(range(1, len(steps) + 1))
    assert len({frozenset(r["skills"]) for r in steps}) == len(steps)
    assert all(r["marginal_gain"] is not None for r in steps)
    # why: the pairs of the first combination with their co-occurrence counts from the graph
    pairs = next(d.value for d in at.dataframe if "cooccurrence" in d.value.columns)
    assert len(pairs) == 3 and set(pairs["a"]) | set(pairs["b"]) == set(steps[0]["skills"])


def test_combinations_use_the_curated_tree(ws_dir):
    ws = Workspace(ws_dir)
    from steps_engine.curation.edits import Edit

    excluded = sorted(ws.tree.members(0))[0]
    ws.apply(Edit("exclude", {"skills": [excluded]}))
    at = open_page("combinations")
    at.button(key="cmb_run").click().run()
    no_errors(at)
    steps = Workspace(ws_dir).read_jsonl("combos/steps.jsonl")
    assert steps and all(excluded not in r["skills"] for r in steps)


def test_combinations_impossible_constraints_are_an_error_message(ws_dir):
    at = open_page("combinations")
    skills = sorted(Workspace(ws_dir).tree.members(0))
    at.multiselect(key="cmb_exclude").set_value(skills[:1])
    at.multiselect(key="cmb_must").set_value(skills[:1]).run()
    at.button(key="cmb_run").click().run()
    assert not at.exception
    assert at.error and "Next" in at.error[0].value


def test_a_failed_selection_keeps_the_previous_one_and_says_why_in_the_open(ws_dir):
    at = open_page("combinations")
    at.button(key="cmb_run").click().run()
    before = Workspace(ws_dir).read_jsonl("combos/steps.jsonl")
    at.number_input(key="cmb_k").set_value(10).run()
    at.multiselect(key="cmb_must").set_value(sorted(Workspace(ws_dir).tree.members(0))[:9]).run()
    at.button(key="cmb_run").click().run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith("Selection failed")
    assert Workspace(ws_dir).read_jsonl("combos/steps.jsonl") == before  # the previous selection stays
    assert next(d.value for d in at.dataframe if "gain (bits)" in d.value.columns).shape[0] == len(before)


class _ScriptedClient:
    """An in-process chat client: a distinct valid conversation per prompt."""

    model = "scripted"

    async def complete(self, messages, params):
        import hashlib

        from steps_engine.llm.base import Completion

        h = hashlib.sha256(messages[-1]["content"].encode()).hexdigest()[:12]
        body = {"messages": [{"role": "user", "content": f"question {h}"}, {"role": "assistant", "content": f"answer {h}"}]}
        return Completion(json.dumps(body), {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7})

    async def aclose(self):
        pass


def test_synthesize_shows_prompts_without_a_key_then_results_and_export_writes_a_file(ws_dir, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = open_page("combinations")
    at.button(key="cmb_run").click().run()
    at.switch_page("pages/synthesize.py").run()
    no_errors(at)
    assert at.button(key="syn_generate").disabled  # no key: dry run only
    assert any("Skills:" in c.value for c in at.code), "prompt not shown"
    # generate through the engine with an in-process client, as the page would with a key
    from steps_engine.synthesis.runner import synthesize

    ws = Workspace(ws_dir)
    combos = ws.read_jsonl("combos/steps.jsonl")[:3]
    rep = synthesize(ws.current_dir, combos, model="gpt-4o-mini", out=ws.path("results", "results.jsonl"),
                     client=_ScriptedClient())
    assert rep.ok == 3
    at.run()
    no_errors(at)
    assert len(at.chat_message) == 6
    review_keys = [r.key for r in at.radio if r.key and r.key.startswith("review_")]
    at.radio(key=review_keys[0]).set_value("reject").run()
    at.switch_page("pages/export.py").run()
    no_errors(at)
    assert metric(at, "Rejected in review") == "1"
    at.button(key="exp_run").click().run()
    no_errors(at)
    out = ws_dir / "exports" / "chat" / "dataset.jsonl"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 and all("messages" in r for r in rows)
    assert (ws_dir / "exports" / "chat" / "README.md").is_file()
    assert at.get("download_button")


# ---- the UI-free facade the pages call ----------------------------------------------
def test_never_seen_share_counts_pairs_without_cooccurrence():
    from _studio_fixtures import two_triangles

    # 6 skills -> 15 pairs; 7 co-occurring pairs -> 8/15 never seen together
    assert studio_state.never_seen_share(two_triangles()) == pytest.approx(8 / 15)


@pytest.mark.parametrize("spring_max", [500, 0])  # spring layout, spectral layout
def test_graph_layout_keeps_communities_apart(spring_max):
    import numpy as np
    from _studio_fixtures import two_triangles

    df = studio_state.graph_layout(two_triangles(), spring_max=spring_max).set_index("skill")
    assert np.isfinite(df[["x", "y"]].to_numpy()).all()
    xy = {s: df.loc[s, ["x", "y"]].to_numpy() for s in df.index}

    def dist(a, b):
        return float(np.linalg.norm(xy[a] - xy[b]))

    inside = np.mean([dist("a", "b"), dist("d", "e"), dist("e", "f")])
    across = np.mean([dist("a", "e"), dist("b", "f"), dist("a", "f")])
    assert inside < across


def test_cluster_and_members_tables_from_the_tree():
    from _studio_fixtures import two_cluster_tree, two_triangles

    t, g = two_cluster_tree(), two_triangles()
    df = studio_state.cluster_table(t, g).set_index("id")
    assert df.loc["n1", "skills"] == 3 and df.loc["n1", "frequency"] == 12 and df.loc["n0", "depth"] == 0
    m = studio_state.members_table(t, g, "n2")
    assert list(m["skill"]) == ["d", "e", "f"] and list(m["count"]) == [3, 2, 1]
    frame = studio_state.skill_frame(g, t)
    assert dict(zip(frame["skill"], frame["cluster"]))["e"] == "C2"


def test_data_page_builds_a_local_file_and_reports_bad_rows(ws_dir, tmp_path):
    src = tmp_path / "mine.jsonl"
    rows = [{"q": f"question {i}", "tags": ["alpha", "beta", "gamma"][i % 3 :] + ["delta"]} for i in range(30)]
    lines = [json.dumps(r) for r in rows]
    lines.insert(5, "{not json")
    lines.insert(9, json.dumps({"q": "no tags here"}))
    src.write_text("\n".join(lines) + "\n")
    at = open_page("data")
    at.radio(key="data_source").set_value("Local path").run()
    at.text_input(key="data_path").set_value(str(src))
    at.text_input(key="map_skills").set_value("tags")
    at.text_input(key="map_text").set_value("q").run()
    no_errors(at)
    preview = at.dataframe[0].value
    assert "error" in preview.columns and preview["error"].notna().any()  # the bad line shows in the preview
    at.button(key="build").click().run()
    assert not at.exception
    assert metric(at, "Rows skipped") == "2" and metric(at, "Distinct skills") == "4"
    ws = Workspace(ws_dir)
    assert sorted(ws.graph.skills) == ["alpha", "beta", "delta", "gamma"] and ws.log.position == 0
    lines_reported = {b["line"] for b in ws.read_json("taxonomy/ingest_report.json")["skipped"]}
    assert lines_reported == {6, 10}


def test_data_page_missing_path_is_a_message(ws_dir, tmp_path):
    at = open_page("data")
    at.radio(key="data_source").set_value("Local path").run()
    at.text_input(key="data_path").set_value(str(tmp_path / "nope.jsonl")).run()
    assert not at.exception
    assert at.error and "not a file" in at.error[0].value


def test_a_taxonomy_folder_from_the_cli_opens_in_the_studio(ws_dir, tmp_path, monkeypatch):
    from steps_engine.taxonomy.graph import write_graph
    from _studio_fixtures import two_cluster_tree, two_triangles

    folder = tmp_path / "tax"
    write_graph(two_triangles(), folder)
    two_cluster_tree().save(folder / "taxonomy.json")
    at = open_page("data")
    at.radio(key="data_source").set_value("Taxonomy folder").run()
    at.text_input(key="data_folder").set_value(str(folder)).run()
    at.button(key="open_folder").click().run()
    no_errors(at)
    assert sorted(Workspace(ws_dir).graph.skills) == list("abcdef")
    assert metric(at, "Distinct skills") == "6"
    # and $STEPS_TAXONOMY fills an empty workspace on first start
    monkeypatch.setenv("STEPS_WORKSPACE", str(tmp_path / "fresh"))
    monkeypatch.setenv("STEPS_TAXONOMY", str(folder))
    at = open_page("taxonomy")
    no_errors(at)
    assert sorted(Workspace(tmp_path / "fresh").tree.members(0)) == list("abcdef")


def test_generate_through_an_endpoint_and_the_key_never_lands_in_the_workspace(ws_dir):
    from fake_openai_server import FakeOpenAI

    key = "sk-studio-test-7f3a9c"
    with FakeOpenAI() as server:
        at = open_page("combinations")
        at.button(key="cmb_run").click().run()
        at.switch_page("pages/synthesize.py").run()
        at.text_input(key="syn_base_url").set_value(server.base_url)
        at.text_input(key="syn_key").set_value(key).run()
        assert not at.button(key="syn_generate").disabled
        at.button(key="syn_generate").click().run()
        no_errors(at)
        assert server.requests == 3
    assert len(at.chat_message) == 6  # three generated conversations on the page
    results = Workspace(ws_dir).read_jsonl("results/results.jsonl")
    assert len(results) == 3 and all(r["status"] == "ok" for r in results)
    for path in ws_dir.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
