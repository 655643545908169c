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


def test_node_detail_shows_a_long_label_whole_and_literally(ws_dir):
    # a metric cut labels longer than its quarter column ("sql, databas…"); Markdown in a
    # name a user or a model chose is shown as typed, not rendered
    from steps_engine.curation.edits import Edit

    ws = Workspace(ws_dir)
    first = next(c for c in ws.tree.children()[0] if ws.tree.leaf_skill[c] < 0)
    node = ws.tree.ids[first]
    label = "cooking techniques, *recipe* scaling and [nutrition](x) planning for families"
    ws.apply(Edit("rename", {"node_id": node, "label": label}))
    at = open_page("taxonomy")
    at.selectbox(key="tax_detail").set_value(node).run()
    no_errors(at)
    shown = [m.value for m in at.markdown if node in m.value]
    assert shown and "\\*recipe\\*" in shown[0] and "\\[nutrition\\]\\(x\\)" in shown[0], shown
    assert "Label" not in [m.label for m in at.metric]


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


def test_graph_layout_is_the_component_layout():
    import numpy as np
    from _studio_fixtures import two_triangles

    from steps_engine.studio.layout import component_layout

    df = studio_state.graph_layout(two_triangles())
    assert list(df["skill"]) == two_triangles().skills
    np.testing.assert_array_equal(df[["x", "y"]].to_numpy(), component_layout(two_triangles()))


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


def _shard_rows(start: int, n: int, tags: list[str]) -> bytes:
    return "".join(json.dumps({"q": f"question {i}", "tags": tags[i % 2:] + ["shared"]}) + "\n"
                   for i in range(start, start + n)).encode()


def test_data_page_builds_one_taxonomy_from_two_uploaded_shards(ws_dir):
    one = _shard_rows(0, 12, ["alpha", "beta"])  # 12 rows: alpha+beta+shared or beta+shared
    two = _shard_rows(100, 8, ["gamma", "delta"])  # 8 rows, skills the first shard lacks
    at = open_page("data")
    at.radio(key="data_source").set_value("Upload files").run()
    at.file_uploader(key="data_upload").set_value([("part-0.jsonl", one, "application/json"),
                                                   ("part-1.jsonl", two, "application/json")]).run()
    at.text_input(key="map_skills").set_value("tags")
    at.text_input(key="map_text").set_value("q").run()
    no_errors(at)
    assert any("2 files" in c.value and ": 20 rows" in c.value for c in at.caption), [c.value for c in at.caption]
    files = at.dataframe[1].value  # [0] is the row preview
    assert sorted(files["rows"]) == [8, 12] and set(files["unreadable"]) == {0}
    at.button(key="build").click().run()
    no_errors(at)
    assert metric(at, "Rows read") == "20" and metric(at, "Rows used") == "20"
    ws = Workspace(ws_dir)
    assert sorted(ws.graph.skills) == ["alpha", "beta", "delta", "gamma", "shared"]
    assert ws.graph.counts[ws.graph.skills.index("shared")] == 20  # every row of both shards
    shards = ws.input_info()["shards"]
    assert len(shards) == 2 and all(Path(sh["path"]).parent.parent == ws_dir / "uploads" for sh in shards)
    assert sorted(Path(sh["path"]).read_bytes() for sh in shards) == sorted([one, two])


def test_data_page_reads_a_folder_or_a_glob_of_shards(ws_dir, tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(_shard_rows(0, 6, ["alpha", "beta"]))
    (folder / "b.jsonl").write_bytes(_shard_rows(50, 4, ["gamma", "delta"]))
    (folder / "notes.md").write_text("# not data\n")  # skipped, as `steps taxonomy FOLDER` does
    at = open_page("data")
    at.radio(key="data_source").set_value("Local path").run()
    for text, files, rows in [(str(folder), 2, 10), (str(folder / "b*.jsonl"), 1, 4)]:
        at.text_input(key="data_path").set_value(text)
        at.text_input(key="map_skills").set_value("tags")
        at.text_input(key="map_text").set_value("q").run()
        no_errors(at)
        want = f"{files} file{'s' if files > 1 else ''}"
        assert any(want in c.value and f": {rows} rows" in c.value for c in at.caption), [c.value for c in at.caption]
    at.button(key="build").click().run()
    no_errors(at)
    assert metric(at, "Rows read") == "4" and sorted(Workspace(ws_dir).graph.skills) == ["delta", "gamma", "shared"]

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


def test_data_page_offers_open_tagging_for_a_file_without_skills(ws_dir, tmp_path, monkeypatch):
    import steps_engine.semantic.embeddings as embeddings
    from _embedding_fakes import CountingEmbedder
    from fake_openai_server import FakeOpenAI

    monkeypatch.setattr(embeddings, "get_embedder", lambda *a, **k: CountingEmbedder(dim=256))
    src = tmp_path / "untagged.jsonl"
    topics = ["public speaking", "budget planning", "sql joins"]
    src.write_text("".join(json.dumps({"instruction": f"Help {i} with {topics[i % 3]}"}) + "\n" for i in range(12)))
    key = "sk-studio-open-5d1e"
    with FakeOpenAI(default="tags") as server:
        server.tag_replies = {"public speaking": ["Public Speaking", "confidence"], "budget planning": ["budgeting"],
                              "sql joins": ["SQL", "joins"]}
        at = open_page("data")
        at.radio(key="data_source").set_value("Local path").run()
        at.text_input(key="data_path").set_value(str(src)).run()
        at.text_input(key="otag_base_url").set_value(server.base_url)
        at.text_input(key="otag_key").set_value(key).run()
        # the skills field fits no row: main's error says so, and the open-tagging offer is shown
        assert [e.value for e in at.error] and all("Every previewed row is an error" in e.value for e in at.error)
        at.button(key="otag_run").click().run()
        assert not at.exception  # (the page still previews the untagged file, so its field error stays)
        assert all("Every previewed row is an error" in e.value for e in at.error), [e.value for e in at.error]
        assert any("Tagged `untagged.jsonl`" in m.value for m in at.success)
        assert server.requests == 12
    ws = Workspace(ws_dir)
    assert sorted(ws.graph.skills) == ["budgeting", "confidence", "join", "public_speaking", "sql"]
    assert (ws_dir / "tagged" / "untagged.vocab.txt").read_text().count("\n") >= 5
    for path in ws_dir.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


# ---- the traps of issue 11 (each failed on the code before the fix) ----------------------
def ifeval_like(tmp_path, n=30) -> Path:
    """Records shaped like IFEval: text in `prompt`, skills in `instruction_id_list`."""
    src = tmp_path / "ifeval_like.jsonl"
    ids = ["punctuation:no_comma", "length_constraints:number_words", "detectable_format:title", "keywords:existence"]
    rows = [{"key": 1000 + i, "prompt": f"Write a poem about topic {i} without commas.",
             "instruction_id_list": ids[i % 4 :][:2] or ids[:1]} for i in range(n)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return src


def test_field_defaults_follow_the_chosen_file_not_the_demo(ws_dir, tmp_path):
    at = open_page("data")
    assert at.text_input(key="map_text").value == "instruction"  # the demo's text field
    at.radio(key="data_source").set_value("Local path").run()
    at.text_input(key="data_path").set_value(str(ifeval_like(tmp_path))).run()
    no_errors(at)
    assert at.text_input(key="map_skills").value == "instruction_id_list"
    assert at.text_input(key="map_text").value == "prompt"
    assert not at.warning  # the text field has text
    at.button(key="build").click().run()
    spec = Workspace(ws_dir).input_info()
    assert spec["text_field"] == "prompt" and spec["skills_field"] == "instruction_id_list"


def test_an_empty_mapped_text_field_is_a_visible_warning(ws_dir, tmp_path):
    at = open_page("data")
    at.radio(key="data_source").set_value("Local path").run()
    at.text_input(key="data_path").set_value(str(ifeval_like(tmp_path))).run()
    at.text_input(key="map_text").set_value("instruction").run()  # the demo's field: absent here
    assert any("No previewed row has text" in w.value for w in at.warning)


def test_build_is_disabled_when_every_previewed_row_is_an_error_and_a_build_is_confirmed(ws_dir, tmp_path):
    at = open_page("data")
    at.radio(key="data_source").set_value("Local path").run()
    at.text_input(key="data_path").set_value(str(ifeval_like(tmp_path))).run()
    at.text_input(key="map_skills").set_value("no_such_field").run()
    assert at.button(key="build").disabled
    assert any("Every previewed row is an error" in e.value for e in at.error)
    at.text_input(key="map_skills").set_value("instruction_id_list").run()
    assert not at.button(key="build").disabled
    at.button(key="build").click().run()
    assert any("Built the taxonomy of `ifeval_like.jsonl`" in s.value for s in at.success)


def test_loading_new_data_asks_first_and_archives_the_curated_taxonomy(ws_dir, tmp_path):
    ws = Workspace(ws_dir)
    skill = ws.tree.members(0)[0]
    ws.apply(__import__("steps_engine.curation.edits", fromlist=["Edit"]).Edit("exclude", {"skills": [skill]}))
    at = open_page("data")
    at.radio(key="data_source").set_value("Local path").run()
    at.text_input(key="data_path").set_value(str(ifeval_like(tmp_path))).run()
    assert at.button(key="build").disabled  # not before the curator agrees
    at.checkbox(key="confirm_replace").check().run()
    at.button(key="build").click().run()
    no_errors(at)
    archives = list((ws_dir / "archive").iterdir())
    assert len(archives) == 1
    old = archives[0]
    assert len((old / "edits.jsonl").read_text().splitlines()) == 1  # the edit history is kept
    assert skill in json.loads((old / "current" / "taxonomy.json").read_text())["excluded"]
    assert Workspace(ws_dir).n_edits == 0


def test_start_names_the_open_taxonomy_and_offers_steps_taxonomy_when_it_differs(ws_dir, tmp_path, monkeypatch):
    from steps_engine.taxonomy.graph import write_graph
    from _studio_fixtures import two_cluster_tree, two_triangles

    at = open_page("home")
    assert any("the bundled demo" in m.value or "built from" in m.value for m in at.markdown)
    folder = tmp_path / "tax"
    write_graph(two_triangles(), folder)
    two_cluster_tree().save(folder / "taxonomy.json")
    monkeypatch.setenv("STEPS_TAXONOMY", str(folder))
    at = open_page("home")
    assert any("STEPS_TAXONOMY" in w.value for w in at.warning)
    at.button(key="open_env_taxonomy").click().run()
    no_errors(at)
    assert sorted(Workspace(ws_dir).tree.members(0)) == list("abcdef")
    assert any("the taxonomy folder" in m.value for m in at.markdown)
    assert not any("STEPS_TAXONOMY" in w.value for w in at.warning)  # now it is the open one


def test_start_counts_the_skills_in_the_tree_after_an_exclusion(ws_dir):
    from steps_engine.curation.edits import Edit

    ws = Workspace(ws_dir)
    n = len(ws.tree.members(0))
    ws.apply(Edit("exclude", {"skills": [ws.tree.members(0)[0]]}))
    at = open_page("home")
    assert metric(at, "Skills") == f"{n - 1:,}"


def test_the_page_icon_is_a_local_file(ws_dir, monkeypatch):
    import streamlit

    seen = {}
    real = streamlit.set_page_config
    monkeypatch.setattr(streamlit, "set_page_config", lambda **kw: (seen.update(kw), real(**kw))[1])
    open_page("home")
    icon = seen["page_icon"]
    assert not str(icon).startswith(":material") and Path(icon).is_file()


def test_picking_a_cluster_by_id_is_exact(ws_dir):
    from steps_engine.curation.edits import Edit

    ws = Workspace(ws_dir)
    ids = [i for i, l in zip(ws.tree.ids, ws.tree.leaf_skill) if l < 0]
    short = next(i for i in ids if any(j != i and j.startswith(i) for j in ids))  # e.g. n5 beside n55
    at = open_page("curate")
    at.button_group(key="curate_op").set_value("Rename").run()
    at.text_input(key="rename_node__id").set_value(short).run()
    assert at.selectbox(key="rename_node").value == short
    at.text_input(key="rename_node__id").set_value("zz9").run()
    assert any("No cluster has the id" in c.value for c in at.caption)
    del Edit


def test_what_if_cost_shows_before_the_edit_and_undo_says_what_it_reverted(ws_dir):
    ws = Workspace(ws_dir)
    tree = ws.tree
    skill = tree.members(0)[0]
    target = next(tree.ids[i] for i in tree.children()[0] if tree.leaf_skill[i] < 0 and skill not in tree.members(i))
    at = open_page("curate")
    at.multiselect(key="move_skills").set_value([skill])
    at.selectbox(key="move_target").set_value(target).run()
    info = [i.value for i in at.info if i.value.startswith("What if")]
    assert info and skill in info[0] and "bits" in info[0]
    assert Workspace(ws_dir).log.position == 0  # nothing applied yet
    at.button(key="cmp_move").click().run()
    assert at.dataframe[0].value["edit"].str.contains(skill).any()  # in the comparison table
    at.button(key="do_move").click().run()
    label = tree.labels[tree.node_index(target)]
    assert any(f"'{label}' ({target})" in s.value for s in at.success)  # named, id as suffix
    at.button(key="undo").click().run()
    assert any(s.value.startswith(f"Undid: move {skill}") for s in at.success)
    at.button(key="redo").click().run()
    assert any(s.value.startswith(f"Redid: move {skill}") for s in at.success)


def test_taxonomy_page_reads_the_rows_of_a_cluster_and_draws_an_outline(ws_dir):
    at = open_page("taxonomy")
    no_errors(at)
    rows = at.dataframe[-1].value
    assert {"instruction", "response", "other skills"} <= set(rows.columns) and len(rows) > 0
    at.radio(key="tax_kind").set_value("outline").run()
    no_errors(at)
    at.radio(key="rows_of").set_value("a skill").run()
    no_errors(at)
    skill = at.selectbox(key="rows_skill").value
    assert all(skill in s for s in at.dataframe[-1].value["skills here"])


def test_curate_names_clusters_through_an_llm_endpoint_as_one_edit(ws_dir, monkeypatch, tmp_path):
    from fake_openai_server import FakeOpenAI

    monkeypatch.setenv("STEPS_CACHE_DIR", str(tmp_path / "cache"))
    with FakeOpenAI(default="name") as srv:
        at = open_page("curate")
        at.button_group(key="curate_op").set_value("Name by LLM").run()
        at.text_input(key="llm_model").set_value("fake-model")
        at.text_input(key="llm_base_url").set_value(srv.base_url)
        at.text_input(key="llm_key").set_value("sk-typed").run()
        at.button(key="do_llm_names").click().run()
        no_errors(at)
    ws = Workspace(ws_dir)
    assert ws.log.position == 1 and ws.log.records[0]["args"]["by"] == "llm"
    top = ws.tree.children()[0][0]
    assert ws.tree.labels[top].startswith("Topic ")
    assert "sk-typed" not in "".join(p.read_text(errors="replace") for p in ws_dir.rglob("*.json*"))
