"""Cluster names: c-TF-IDF keywords, provenance and staleness after edits, the LLM namer
against the loopback server, and `steps name`."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from _studio_fixtures import two_cluster_tree, two_triangles
from fake_openai_server import FakeOpenAI
from steps_engine.curation.edits import Edit, apply_edit
from steps_engine.data.ingest import FieldMapping
from steps_engine.studio.state import demo_mapping, demo_path
from steps_engine.taxonomy.build import build_taxonomy, save_taxonomy
from steps_engine.taxonomy.keyword_names import NameCorpus, keyword_names, tokenize
from steps_engine.taxonomy.llm_names import name_clusters, parse_name
from steps_engine.taxonomy.naming import name_by_keywords, name_records, name_status, refresh_names, set_names

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
IFEVAL = DATA / "ifeval" / "input_data.jsonl"


def siblings_distinct(tree) -> None:
    ch = tree.children()
    for p in range(tree.n_nodes):
        names = [tree.labels[c] for c in ch[p] if tree.leaf_skill[c] < 0]
        assert len(names) == len(set(names)), (tree.ids[p], names)


def test_tokenize_splits_snake_case_and_drops_stop_words():
    assert tokenize("How do I write Python_programming code? It's 2024") == ["python", "programming", "code"]


def test_ctfidf_keywords_by_hand():
    # rows: r0 {a} "apple apple pear", r1 {b} "apple", r2 {d} "stone rock", r3 {e} "stone"
    # skill-name documents add the words "a".."f" (dropped: under three letters).
    # depth-1 clusters C1 = {a, b, c}: rows r0, r1 -> apple 3, pear 1 (4 words)
    #                  C2 = {d, e, f}: rows r2, r3 -> stone 2, rock 1 (3 words)
    # A = 3.5; f(apple) = 3, f(pear) = 1, f(stone) = 2, f(rock) = 1
    # W(apple, C1) = 3/4 * log(1 + 3.5/3) = 0.5799; W(pear, C1) = 1/4 * log(4.5) = 0.3760
    # W(stone, C2) = 2/3 * log(1 + 3.5/2) = 0.6744; W(rock, C2) = 1/3 * log(4.5) = 0.5014
    tree, g = two_cluster_tree(), two_triangles()
    corpus = NameCorpus.from_rows([["a"], ["b"], ["d"], ["e"]], ["apple apple pear", "apple", "stone rock", "stone"],
                                  tree.skills, min_docs=1)
    names = keyword_names(tree, g, corpus, n_keywords=2)
    c1, c2 = names[tree.node_index("n1")], names[tree.node_index("n2")]
    assert c1.keywords == ["apple", "pear"] and c2.keywords == ["stone", "rock"]
    assert c1.name == "apple, pear"
    assert 3 / 4 * math.log(1 + 3.5 / 3) > 1 / 4 * math.log(4.5)  # the order above
    # central members: inner weighted degree a = b = c = 2 (triangle) -> ties by count (5, 4, 3)
    assert c1.central == ["a", "b", "c"]
    # c touches d with 0.1, but d is outside C1, so c's inner degree stays 2


def test_keyword_names_on_the_demo_are_deterministic_and_siblings_differ():
    tax1 = build_taxonomy(demo_path(), demo_mapping(), height=3)
    tax2 = build_taxonomy(demo_path(), demo_mapping(), height=3)
    assert tax1.tree.labels == tax2.tree.labels
    siblings_distinct(tax1.tree)
    top = [tax1.tree.labels[c] for c in tax1.tree.children()[0] if tax1.tree.leaf_skill[c] < 0]
    assert all(" / " not in t for t in top)  # keywords, not member skills joined
    assert set(name_status(tax1.tree).values()) <= {"keywords", "unknown"}


@pytest.mark.skipif(not IFEVAL.exists(), reason="shared IFEval data absent")
def test_keyword_names_on_ifeval_distinguish_siblings():
    tax = build_taxonomy(IFEVAL, FieldMapping("instruction_id_list"), height=3)
    siblings_distinct(tax.tree)


def named_tree():
    tree, g = two_cluster_tree(), two_triangles()
    corpus = NameCorpus.from_rows([["a"], ["b"], ["d"], ["e"]], ["apple apple pear", "apple", "stone rock", "stone"],
                                  tree.skills, min_docs=1)
    return name_by_keywords(tree, g, corpus), g, corpus


def test_no_cluster_repeats_its_parents_name_on_instruct_skillmix():
    # before: 8 / 30 / 54 of 470 / 625 / 722 clusters at heights 3 / 4 / 5 carried their
    # parent's name word for word (e.g. "animal, welfare, guidelines" under itself)
    tax = build_taxonomy(DATA / "instruct_skillmix" / "ism_sda_k2_1000.json",
                         FieldMapping("skills_joined_str", ", ", "instruction"), height=5)
    tree = tax.tree
    inner = [c for c in range(tree.n_nodes) if tree.leaf_skill[c] < 0 and tree.parent[c] > 0]
    assert len(inner) > 500
    assert [c for c in inner if tree.labels[c] == tree.labels[tree.parent[c]]] == []
    siblings_distinct(tree)
    # the child keeps its own best words where they differ: only the last keyword is replaced
    shared = [c for c in inner if tree.labels[c].split(", ")[:2] == tree.labels[tree.parent[c]].split(", ")[:2]]
    assert shared and all(len(tree.labels[c].split(", ")) == 3 for c in shared)


def test_after_a_move_keyword_names_are_recomputed_llm_names_marked_stale_hand_names_kept():
    tree, g, corpus = named_tree()
    tree = set_names(tree, {"n2": "Rocks by a model"}, "llm", {"n2": "about rocks"})
    before = name_records(tree)
    namer = lambda t: refresh_names(t, g, corpus)  # noqa: E731
    res = apply_edit(tree, g, Edit("move", {"skills": ["a"], "target_id": "n2"}), namer=namer)
    t = res.tree
    st = name_status(t)
    assert st["n1"] == "keywords" and name_records(t)["n1"]["members"] != before["n1"]["members"]
    assert t.labels[t.node_index("n1")] == "apple"  # recomputed: C1 = {b, c} keeps only row r1, "apple"
    assert st["n2"] == "stale" and t.labels[t.node_index("n2")] == "Rocks by a model"  # kept, flagged
    # a hand label survives a membership change
    hand = apply_edit(t, g, Edit("rename", {"node_id": "n1", "label": "Fruit"}), namer=namer).tree
    moved = apply_edit(hand, g, Edit("move", {"skills": ["b"], "target_id": "n2"}), namer=namer).tree
    assert moved.labels[moved.node_index("n1")] == "Fruit" and name_status(moved)["n1"] == "hand"


def test_a_split_by_chosen_group_names_the_new_cluster():
    tree, g, corpus = named_tree()
    res = apply_edit(tree, g, Edit("split", {"node_id": "n1", "groups": [["a", "b"]]}), namer=lambda t: refresh_names(t, g, corpus))
    t = res.tree
    new = res.edit.args["ids"][0]
    assert sorted(t.members(t.node_index(new))) == ["a", "b"] and t.parent[t.node_index("lc")] == t.node_index("n1")
    assert name_status(t)[new] == "keywords" and t.labels[t.node_index(new)]


@pytest.mark.parametrize(
    "text, ok",
    [('{"name": "Fruit", "description": "Apples."}', ("Fruit", "Apples.")),
     ('Sure:\n```json\n{"name": "Fruit  salad"}\n```', ("Fruit salad", "")),
     ('{"name": ""}', None), ("no json", None), ('{"name": "' + "x" * 61 + '"}', None), ('["Fruit"]', None)],
)
def test_parse_name_accepts_json_and_refuses_the_rest(text, ok):
    if ok is None:
        with pytest.raises(ValueError):
            parse_name(text)
    else:
        assert parse_name(text) == ok


@pytest.fixture
def server():
    with FakeOpenAI(default="name") as srv:
        yield srv


def client_for(srv):
    from steps_engine.llm.openai_client import OpenAIChatClient

    return OpenAIChatClient("fake-model", api_key="sk-test", base_url=srv.base_url, timeout=10)


def deeper_tree():
    from steps_engine.curation.edits import create_cluster, move_skills

    t = create_cluster(two_cluster_tree(), "n1", "inner", node_id="x")
    return move_skills(t, ["a", "b"], "x")


def test_llm_namer_is_bottom_up_cached_and_resumable(server, tmp_path):
    tree, g = deeper_tree(), two_triangles()
    res = name_clusters(tree, g, client_for(server), cache_dir=tmp_path, only={"x"})  # an interrupted run: one done
    assert set(res.names) == {"x"} and res.requests == 1
    inner_name = res.names["x"][0]
    full = name_clusters(tree, g, client_for(server), cache_dir=tmp_path)
    assert set(full.names) == {"x", "n1", "n2"} and full.cached == 1 and full.requests == 2  # resumed, x from cache
    parent_prompt = next(e["prompt"] for e in server.log if "3 skills" in e["prompt"] and "a, b, c" in e["prompt"])
    assert inner_name in parent_prompt  # the parent saw its child's new name
    again = name_clusters(tree, g, client_for(server), cache_dir=tmp_path)
    assert again.requests == 0 and again.cached == 3 and again.names == full.names
    assert all("sk-test" not in p.read_text() for p in tmp_path.rglob("*.json"))


class FailingClient:
    """A ChatClient whose every request fails with `reason`; counts the requests."""

    model = "m"
    endpoint = "http://nowhere/v1"

    def __init__(self, reason, answered):
        self.reason, self.answered, self.calls = reason, answered, 0

    async def complete(self, messages, params):
        from steps_engine.llm import LLMError

        self.calls += 1
        raise LLMError(self.reason, retryable=True, answered=self.answered)

    async def aclose(self):
        pass


@pytest.mark.parametrize("reason, answered, sent", [("connection error: refused", False, 2), ("ep1: timeout (no answer)", False, 2),
                                                    ("HTTP 500: oops", True, 3)])
def test_naming_stops_sending_when_the_endpoint_never_answers(tmp_path, reason, answered, sent):
    # 3 clusters, one request at a time, no retries: after 2 requests that never reached the
    # endpoint the third is not sent; an HTTP error is an answer, so all 3 are tried
    from steps_engine.llm import RetryPolicy

    client = FailingClient(reason, answered)
    res = name_clusters(deeper_tree(), two_triangles(), client, cache_dir=tmp_path, concurrency=1, policy=RetryPolicy(max_retries=0))
    assert client.calls == sent and not res.names and set(res.failures) == {"x", "n1", "n2"}
    skipped = [r for r in res.failures.values() if r.startswith("not sent")]
    assert len(skipped) == 3 - sent
    assert all(reason in r for r in skipped)  # says why


@pytest.mark.parametrize("urls", [["http://127.0.0.1:9/v1"], ["http://127.0.0.1:9/v1", "http://127.0.0.1:7/v1"]])
def test_naming_against_closed_ports_gives_up_after_two_requests(tmp_path, urls):
    # one endpoint, or a pool of two (whose errors carry the endpoint's name first)
    from steps_engine.llm import RetryPolicy
    from steps_engine.llm.pool import open_chat_client

    client = open_chat_client("m", api_key="sk-test", base_url=urls, timeout=5)
    res = name_clusters(deeper_tree(), two_triangles(), client, cache_dir=tmp_path, concurrency=1, policy=RetryPolicy(max_retries=0))
    assert not res.names and sum(r.startswith("not sent") for r in res.failures.values()) == 1


def test_a_broken_llm_answer_keeps_the_keyword_name(server, tmp_path):
    tree, g, _ = named_tree()
    server.markers["d, e, f"] = "malformed"
    res = name_clusters(tree, g, client_for(server), cache_dir=tmp_path)
    assert set(res.names) == {"n1"} and "n2" in res.failures and "JSON" in res.failures["n2"]
    t = set_names(tree, {k: v[0] for k, v in res.names.items()}, "llm")
    assert t.labels[t.node_index("n2")] == tree.labels[tree.node_index("n2")]  # the keyword name stays
    assert name_status(t)["n2"] == "keywords" and name_status(t)["n1"] == "llm"


def test_steps_name_cli_writes_keyword_then_llm_names_and_keeps_hand_labels(server, tmp_path, monkeypatch, capsys):
    from steps_engine.cli import main

    tax = build_taxonomy(demo_path(), demo_mapping(), height=2, name_rows=0)
    folder = tmp_path / "tax"
    save_taxonomy(tax, folder)
    first = tax.tree.ids[tax.tree.children()[0][0]]
    data = json.loads((folder / "taxonomy.json").read_text())
    data["root"]["children"][0]["label"] = "My own name"  # a hand-written label
    (folder / "taxonomy.json").write_text(json.dumps(data))
    assert main(["name", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["by"] == "keywords" and out["kept_hand"] == 1
    written = json.loads((folder / "taxonomy.json").read_text())
    assert written["root"]["children"][0]["label"] == "My own name"
    assert written["names"][first]["by"] == "hand"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    assert main(["name", str(folder), "--model", "m", "--base-url", server.base_url, "--cache-dir", str(tmp_path / "c"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["by"] == "llm" and out["named"] >= 1 and out["failed"] == 0
    written = json.loads((folder / "taxonomy.json").read_text())
    assert written["root"]["children"][0]["label"] == "My own name"
    second = written["root"]["children"][1]
    assert second["label"].startswith("Topic ") and written["names"][second["id"]]["description"]
    assert "sk-secret" not in (folder / "taxonomy.json").read_text()
