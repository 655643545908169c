"""Defects found by the studio QA pass (docs/studio_qa.md), each through AppTest on the demo."""

import json

import pytest

pytest.importorskip("streamlit")

from test_app import demo_template, no_errors, open_page, ws_dir  # noqa: E402,F401 - fixtures
from steps_engine.curation.workspace import Workspace  # noqa: E402
from steps_engine.data.ingest import REASONS  # noqa: E402
from steps_engine.studio.sources import UNREADABLE_KINDS, preview_problems  # noqa: E402


def local_file(at, path):
    at.radio(key="data_source").set_value("Local path").run()
    at.text_input(key="data_path").set_value(str(path)).run()
    return at


def test_settings_survive_a_switch_to_another_page_and_back(ws_dir):
    at = open_page("combinations")
    at.number_input(key="cmb_k").set_value(4)
    at.number_input(key="cmb_budget").set_value(120).run()
    at.switch_page("pages/taxonomy.py").run()
    at.radio(key="tax_kind").set_value("icicle").run()
    at.switch_page("pages/export.py").run()  # a page that draws none of those widgets
    at.switch_page("pages/combinations.py").run()
    no_errors(at)
    assert (at.number_input(key="cmb_k").value, at.number_input(key="cmb_budget").value) == (4, 120)
    at.switch_page("pages/taxonomy.py").run()
    assert at.radio(key="tax_kind").value == "icicle"


def test_never_together_pairs_come_back_with_the_page(ws_dir):
    import pandas as pd

    at = open_page("combinations")
    at.button(key="cmb_run").click().run()
    first = Workspace(ws_dir).read_jsonl("combos/steps.jsonl")[0]["skills"][:2]
    # what the editor held when the curator left the page (AppTest cannot type into a data editor)
    at.session_state["_cmb_never_rows"] = pd.DataFrame({"skill A": [first[0]], "skill B": [first[1]]})
    at.switch_page("pages/taxonomy.py").run()
    at.switch_page("pages/combinations.py").run()
    at.button(key="cmb_run").click().run()
    no_errors(at)
    combos = Workspace(ws_dir).read_jsonl("combos/steps.jsonl")
    assert combos and not any(set(first) <= set(c["skills"]) for c in combos)


def test_the_unreadable_kinds_are_ingest_reasons():
    assert set(UNREADABLE_KINDS) <= set(REASONS)
    rows = [{"line": 1, "text": "", "error": "not UTF-8: invalid byte 0xe9 at byte 33 of the line"},
            {"line": 2, "text": "", "error": "invalid JSON: unexpected character"}]
    p = preview_problems(rows)
    assert p["unreadable"] and p["all_errors"] and p["first_error"].startswith("line 1: not UTF-8")
    p = preview_problems([{"line": 1, "text": "x", "error": "missing field: no 'skills'"}])
    assert p["all_errors"] and not p["unreadable"]  # a mapping problem, not an unreadable file
    assert preview_problems([])["no_rows"]


def test_a_file_that_is_not_utf8_is_called_unreadable_not_a_wrong_skills_field(ws_dir, tmp_path):
    rec = {"instruction": "café", "skills": ["cuisine", "pâtisserie"]}
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(("\n".join([json.dumps(rec, ensure_ascii=False)] * 5) + "\n").encode("latin-1"))
    at = local_file(open_page("data"), path)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "could be read" in errors[0] and "not UTF-8" in errors[0], errors
    assert "skills field" not in errors[0]
    assert at.button(key="build").disabled
    assert not [b for b in at.button if b.key == "otag_run"]  # tagging an unreadable file cannot help


def test_an_empty_file_says_it_holds_no_records(ws_dir, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n")
    at = local_file(open_page("data"), path)
    assert any("holds no records" in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="build").disabled


def test_a_file_that_cannot_be_opened_is_one_error_without_the_previous_files_defaults(ws_dir, tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    at = open_page("data")  # the bundled demo is chosen first: its defaults are shown
    assert any(c.value.startswith("Defaults from the file") for c in at.caption)
    at = local_file(at, path)
    assert len(at.error) == 1 and "Parquet" in at.error[0].value, [e.value for e in at.error]
    assert not any(c.value.startswith("Defaults from the file") for c in at.caption)


def test_a_capped_row_and_a_graph_without_edges_are_reported_after_the_build(ws_dir, tmp_path):
    # one row of 100 skills: ingest counts its first 64 (data.ingest.MAX_SKILLS_PER_ROW) and notes it
    capped = tmp_path / "capped.jsonl"
    rows = [{"instruction": f"t{i}", "skills": ["a", "b"]} for i in range(5)]
    rows.append({"instruction": "big", "skills": [f"s{i}" for i in range(100)]})
    capped.write_text("".join(json.dumps(r) + "\n" for r in rows))
    at = local_file(open_page("data"), capped)
    at.button(key="build").click().run()
    no_errors(at)
    assert any("Rows used with changes" in c.value and "truncated: 1" in c.value for c in at.caption)
    # single-skill rows: no two skills ever share a row, a useless flat tree; the page says so
    flat = tmp_path / "flat.jsonl"
    flat.write_text("".join(json.dumps({"instruction": f"t{i}", "skills": [f"s{i % 4}"]}) + "\n" for i in range(12)))
    at.text_input(key="data_path").set_value(str(flat)).run()
    at.button(key="build").click().run()
    assert any("no two skills share a row" in w.value for w in at.warning), [w.value for w in at.warning]


def test_the_export_file_name_cannot_put_the_file_outside_the_workspace(ws_dir):
    at = open_page("synthesize")
    at.button(key="syn_demo").click().run()
    at.switch_page("pages/export.py").run()
    at.text_input(key="exp_name").set_value("../../../escaped").run()  # from WS/exports/chat: beside WS
    at.button(key="exp_run").click().run()
    no_errors(at)
    assert (ws_dir / "exports" / "chat" / "escaped.jsonl").is_file()
    assert [p for p in ws_dir.parent.rglob("escaped*") if ws_dir / "exports" not in p.parents] == []


def test_generate_again_retries_the_requests_that_failed(ws_dir):
    from fake_openai_server import FakeOpenAI

    with FakeOpenAI(default="echo_key") as server:  # 401 for every request: all fail
        at = open_page("combinations")
        at.button(key="cmb_run").click().run()
        at.switch_page("pages/synthesize.py").run()
        at.text_input(key="syn_base_url").set_value(server.base_url)
        at.text_input(key="syn_key").set_value("sk-qa-test").run()
        at.button(key="syn_generate").click().run()
        results = Workspace(ws_dir).read_jsonl("results/results.jsonl")
        assert len(results) == 3 and all(r["status"] == "failed" for r in results)
        server.default = "ok"  # the endpoint works now: the same press must send them again
        at.button(key="syn_generate").click().run()
        no_errors(at)
    results = {r["id"]: r for r in Workspace(ws_dir).read_jsonl("results/results.jsonl")}
    assert len(results) == 3 and all(r["status"] == "ok" for r in results.values())


def _inner(tree, i):  # the clusters strictly inside node i, as member sets (ids and labels aside)
    return sorted(tuple(sorted(tree.members(x))) for x in range(tree.n_nodes)
                  if tree.leaf_skill[x] < 0 and x != i and i in tree.path_to_root(x))


def test_an_edit_that_changes_nothing_is_refused_not_logged(ws_dir):
    from steps_engine.taxonomy.partition import split_node

    ws = Workspace(ws_dir)
    tree = ws.tree
    tops = [c for c in tree.children()[0] if tree.leaf_skill[c] < 0]
    same = [c for c in tops if _inner(split_node(ws.graph, tree, c), c) == _inner(tree, c)]
    if not same:
        pytest.skip("every top-level cluster of this demo build splits differently")
    at = open_page("curate")
    at.button_group(key="curate_op").set_value("Split").run()
    at.selectbox(key="split_node").set_value(tree.ids[same[0]]).run()
    at.button(key="do_split").click().run()
    assert not at.exception and any("already split" in e.value for e in at.error), [e.value for e in at.error]
    at.button_group(key="curate_op").set_value("Rename").run()
    at.selectbox(key="rename_node").set_value(tree.ids[tops[0]])
    at.text_input(key="rename_label").set_value(tree.labels[tops[0]]).run()  # the label it already has
    at.button(key="do_rename").click().run()
    assert any("leaves the taxonomy as it is" in e.value for e in at.error), [e.value for e in at.error]
    assert Workspace(ws_dir).n_edits == 0


def test_clicking_the_chosen_edit_again_keeps_it(ws_dir):
    # A segmented control unselects its option when it is clicked again; Curate used to fall
    # back to "Move skills" then, replacing the form the curator was filling in.
    at = open_page("curate")
    at.button_group(key="curate_op").set_value("Split").run()
    at.button_group(key="curate_op").set_value(None).run()
    assert not at.exception
    assert at.button_group(key="curate_op").value == "Split"
    assert "split_node" in {w.key for w in at.selectbox}
    assert "move_skills" not in {w.key for w in at.multiselect}
