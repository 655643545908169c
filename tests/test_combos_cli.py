"""`steps combos` end to end on a small taxonomy folder, with an outside checker that
recomputes every written gain from taxonomy.json and graph.csv using only the stdlib."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from steps_engine.cli import main
from steps_engine.taxonomy.graph import build_graph, write_graph
from steps_engine.taxonomy.tree import EncodingTree


def _random_folder(path: Path, seed: int = 0, n: int = 30) -> Path:
    rng = np.random.default_rng(seed)
    # height-4 tree: 3 clusters -> 2-3 sub-clusters -> leaves (plus one leaf right under the root)
    parent, leaf = [-1], [-1]
    subs = []
    for _ in range(3):
        parent.append(0)
        leaf.append(-1)
        c = len(parent) - 1
        for _ in range(int(rng.integers(2, 4))):
            parent.append(c)
            leaf.append(-1)
            subs.append(len(parent) - 1)
    for i in range(n - 1):
        parent.append(subs[i % len(subs)])
        leaf.append(i)
    parent.append(0)
    leaf.append(n - 1)
    skills = [f"skill_{i:02d}" for i in range(n)]
    tree = EncodingTree.from_parents(parent, leaf, skills)
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n) if rng.random() < (0.5 if a // 5 == b // 5 else 0.08)]
    graph, _ = build_graph(skills, rng.integers(1, 40, n), 200, np.array([a for a, _ in pairs]),
                           np.array([b for _, b in pairs]), rng.integers(1, 9, len(pairs)))
    path.mkdir(parents=True, exist_ok=True)
    write_graph(graph, path)
    tree.save(path / "taxonomy.json")
    return path


class OutsideChecker:
    """Terms t_a = -(g_a/vol(G)) log2(vol(a)/vol(parent(a))) from the raw files."""

    def __init__(self, folder: Path):
        deg: dict[str, float] = {}
        edges = []
        with open(folder / "graph.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                w = float(row["weight"])
                edges.append((row["source"], row["target"], w))
                deg[row["source"]] = deg.get(row["source"], 0.0) + w
                deg[row["target"]] = deg.get(row["target"], 0.0) + w
        root = json.loads((folder / "taxonomy.json").read_text())["root"]
        self.members, self.parent, self.depth, self.path = {}, {}, {}, {}

        def walk(nd, par, d, path):
            nid = nd["id"]
            self.parent[nid], self.depth[nid] = par, d
            path = path + [nid]
            if "skill" in nd:
                self.members[nid] = {nd["skill"]}
                self.path[nd["skill"]] = path
            else:
                self.members[nid] = set()
                for c in nd["children"]:
                    walk(c, nid, d + 1, path)
                    self.members[nid] |= self.members[c["id"]]

        walk(root, None, 0, [])
        vol = {a: sum(deg.get(s, 0.0) for s in m) for a, m in self.members.items()}
        vol_g = vol[root["id"]]
        self.term = {}
        for a, m in self.members.items():
            par = self.parent[a]
            if par is None or vol[a] == 0:
                self.term[a] = 0.0
                continue
            g = sum(w for u, v, w in edges if (u in m) != (v in m))
            self.term[a] = -(g / vol_g) * math.log2(vol[a] / vol[par])

    def covered(self, skills):
        return {a for s in skills for a in self.path[s]}

    def gain(self, skills):
        return sum(self.term[a] for a in self.covered(skills[1:]) - self.covered(skills[:1]))

    def lca(self, skills):
        paths = [self.path[s] for s in skills]
        out = None
        for nodes in zip(*paths):
            if len(set(nodes)) != 1:
                break
            out = nodes[0]
        return out


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _random_folder(tmp_path_factory.mktemp("tax") / "tax")


@pytest.mark.parametrize(
    "extra",
    [
        ["--scope", "local"],
        ["--scope", "level:1", "--per-start", "3"],
        ["--scope", "global", "--starts", "tail:0.5"],
        ["--scope", "level:1", "--strategy", "random", "--seed", "3"],
        ["--scope", "local", "--strategy", "cooccur", "--per-start", "2"],
        ["--scope", "level:1", "--budget", "40"],
        ["--scope", "local", "--budget", "40", "--reuse-discount", "0.6", "--max-skill-uses", "9"],
        ["--scope", "global", "--budget", "40", "--max-pair-uses", "0"],
    ],
)
def test_every_written_gain_matches_an_outside_recomputation(folder, tmp_path, capsys, extra):
    out = tmp_path / "c.jsonl"
    code, stdout, _ = _run(["combos", str(folder), "--k", "4", "--out", str(out), "--json", "--quiet", *extra], capsys)
    assert code == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    lines = _lines(out)
    assert summary["combinations"] == len(lines) > 0
    assert {"mean_gain", "seconds", "metrics"} <= summary.keys()
    assert summary["mean_gain"] == pytest.approx(np.mean([x["gain"] for x in lines]), abs=1e-9)
    chk = OutsideChecker(folder)
    scope = extra[1]
    seen = set()
    for x in lines:
        assert set(x) >= {"skills", "start", "gain", "step_gains", "lca", "strategy", "scope"}
        assert x["skills"][0] == x["start"] and len(set(x["skills"])) == 4
        assert x["scope"] == scope
        assert x["gain"] == pytest.approx(chk.gain(x["skills"]), abs=1e-6)
        assert sum(x["step_gains"]) == pytest.approx(x["gain"], abs=1e-6)
        # each step gain is the chain-rule increment in the written order
        for t in range(1, 4):
            inc = chk.gain(x["skills"][: t + 1]) - chk.gain(x["skills"][:t])
            assert x["step_gains"][t - 1] == pytest.approx(inc, abs=1e-6)
        assert x["lca"] == chk.lca(x["skills"]) and x["lca_depth"] == chk.depth[x["lca"]]
        if scope != "global":  # all under the start's depth-1 ancestor (its parent if shallower)
            path = chk.path[x["start"]]
            anchor = path[min(1, len(path) - 2)]
            assert all(s in chk.members[anchor] for s in x["skills"])
        key = frozenset(x["skills"])
        assert key not in seen
        seen.add(key)
    if "--budget" in extra:
        assert len(lines) == 40 and [x["rank"] for x in lines] == list(range(1, 41))
        assert summary["metrics"]["objective"] == pytest.approx(sum(x["marginal_gain"] for x in lines), abs=1e-6)
        # discounts only shrink values: at most the gain plus the start's own path (counted for the start)
        assert all(0 <= x["marginal_gain"] <= x["gain"] + sum(chk.term[a] for a in chk.path[x["start"]]) + 1e-9
                   for x in lines)
        assert summary["shortfall"] == [] and summary["budget"] == 40


def test_constraint_flags_hold_on_every_line(folder, tmp_path, capsys):
    out = tmp_path / "c.jsonl"
    code, _, _ = _run(["combos", str(folder), "--k", "3", "--scope", "global", "--per-start", "2",
                       "--exclude", "skill_01,skill_02", "--must-include", "skill_07",
                       "--never-together", "skill_07+skill_08,skill_03+skill_04", "--out", str(out), "--quiet"],
                      capsys)
    assert code == 0
    lines = _lines(out)
    assert lines
    for x in lines:
        s = set(x["skills"])
        assert "skill_07" in s and not s & {"skill_01", "skill_02"}
        assert not {"skill_07", "skill_08"} <= s and not {"skill_03", "skill_04"} <= s


def test_budget_caps_hold_on_every_line_and_a_short_budget_exits_4_with_the_reason(folder, tmp_path, capsys):
    out = tmp_path / "c.jsonl"
    code, stdout, err = _run(["combos", str(folder), "--k", "3", "--scope", "level:1", "--budget", "500",
                              "--max-skill-uses", "4", "--max-pair-uses", "1", "--out", str(out), "--json", "--quiet"],
                             capsys)
    lines = _lines(out)
    uses, pairs = {}, {}
    for x in lines:
        for s in x["skills"]:
            uses[s] = uses.get(s, 0) + 1
        for i, a in enumerate(sorted(x["skills"])):
            for b in sorted(x["skills"])[i + 1:]:
                pairs[a, b] = pairs.get((a, b), 0) + 1
    assert max(uses.values()) <= 4 and max(pairs.values()) <= 1
    assert len(lines) <= 30 * 4 // 3 < 500  # 30 skills x 4 uses / 3 per line
    assert code == 4  # EXIT_PARTIAL
    assert f"selected {len(lines)} of the 500 combinations asked for" in err and "--max-skill-uses 4" in err
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["combinations"] == len(lines) and summary["shortfall"]
    assert summary["metrics"]["max_skill_share"] == pytest.approx(max(uses.values()) / len(lines))
    assert summary["metrics"]["max_pair_uses"] == 1


def test_budget_mode_writes_the_budget_and_k_range(folder, tmp_path, capsys):
    out = tmp_path / "c.jsonl"
    code, stdout, _ = _run(["combos", str(folder), "--k", "2", "--k-max", "3", "--budget", "12", "--out", str(out),
                            "--json", "--quiet"], capsys)
    assert code == 0
    lines = _lines(out)
    assert len(lines) == 24 and {len(x["skills"]) for x in lines} == {2, 3}
    assert json.loads(stdout.strip().splitlines()[-1])["combinations"] == 24


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["--k", "1"], "--k must be >= 2"),
        (["--k", "x"], "--k must be an integer"),
        (["--k", "3", "--scope", "level:-1"], "scope must be"),
        (["--k", "3", "--strategy", "best"], "--strategy must be one of"),
        (["--k", "3", "--starts", "no_such_skill"], "not in the taxonomy"),
        (["--k", "3", "--never-together", "a+"], "--never-together"),
        (["--k", "3", "--starts", "tail:2"], "tail:Q"),
        (["--k", "3", "--per-start", "0"], "--per-start must be >= 1"),
        (["--k", "3", "--budget", "5", "--reuse-discount", "0"], "--reuse-discount must be in (0, 1]"),
        (["--k", "3", "--budget", "5", "--reuse-discount", "1.5"], "--reuse-discount must be a discount"),
        (["--k", "3", "--reuse-discount", "0.5"], "need --budget"),
        (["--k", "3", "--budget", "5", "--max-skill-uses", "-1"], "--max-skill-uses must be >= 0"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(folder, tmp_path, capsys, argv, msg):
    code, stdout, err = _run(["combos", str(folder), "--out", str(tmp_path / "c.jsonl"), "--quiet", *argv], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and msg in err
    assert not (tmp_path / "c.jsonl").exists()


def test_missing_folder_and_missing_out(tmp_path, capsys, folder):
    code, _, err = _run(["combos", str(tmp_path / "nope"), "--k", "3", "--out", str(tmp_path / "c.jsonl")], capsys)
    assert code == 2 and "taxonomy.json not found" in err
    code, _, err = _run(["combos", str(folder), "--k", "3"], capsys)
    assert code == 2 and "--out is required" in err


def test_broken_taxonomy_file_is_named(folder, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("graph.csv", "skills.csv"):
        (bad / name).write_bytes((folder / name).read_bytes())
    (bad / "taxonomy.json").write_text('{"root": {"id": "a", "children": [')
    code, _, err = _run(["combos", str(bad), "--k", "3", "--out", str(tmp_path / "c.jsonl")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"cannot read {bad / 'taxonomy.json'}" in err


# ---- QA regressions: hand-edited taxonomy files, impossible k, bad --seed, --out a folder ----
def _edited_copy(folder: Path, tmp_path: Path, edit) -> Path:
    bad = tmp_path / "edited"
    bad.mkdir()
    for name in ("graph.csv", "skills.csv"):
        (bad / name).write_bytes((folder / name).read_bytes())
    data = json.loads((folder / "taxonomy.json").read_text())
    data = edit(data)
    (bad / "taxonomy.json").write_text(json.dumps(data))
    return bad


def _first_leaf_parent(node):
    for c in node.get("children", []):
        if "skill" in c:
            return node
        found = _first_leaf_parent(c)
        if found:
            return found
    return None


def _drop_first_leaf(d):
    p = _first_leaf_parent(d["root"])
    p["children"].remove(next(c for c in p["children"] if "skill" in c))
    return d


def _leaf_gets_children(d):
    leaf = next(c for c in _first_leaf_parent(d["root"])["children"] if "skill" in c)
    leaf["children"] = [{"id": "zz", "skill": "smuggled"}]
    return d


def _rename_first_leaf(d):
    next(c for c in _first_leaf_parent(d["root"])["children"] if "skill" in c)["skill"] = "not_in_graph"
    return d


def _numeric_skill(d):
    next(c for c in _first_leaf_parent(d["root"])["children"] if "skill" in c)["skill"] = 5
    return d


def _leaf_without_id(d):
    del next(c for c in _first_leaf_parent(d["root"])["children"] if "skill" in c)["id"]
    return d


@pytest.mark.parametrize("edit, message", [
    (_drop_first_leaf, "has no leaf in the tree"),
    (_leaf_gets_children, "a skill leaf ('skill_"),
    (_rename_first_leaf, "'not_in_graph' is not in the graph"),
    (_numeric_skill, "'skill' must be a non-empty string"),
    (_leaf_without_id, "has no 'id'"),
    (lambda d: [d], "must be an object, got list"),
])
def test_hand_edited_invalid_taxonomy_is_refused_with_one_line(folder, tmp_path, capsys, edit, message):
    bad = _edited_copy(folder, tmp_path, edit)
    code, _, err = _run(["combos", str(bad), "--k", "3", "--out", str(tmp_path / "c.jsonl")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"cannot read {bad / 'taxonomy.json'}" in err and message in err
    assert not (tmp_path / "c.jsonl").exists()


def test_duplicate_leaf_names_the_skill(folder, tmp_path, capsys):
    def dup(d):
        p = _first_leaf_parent(d["root"])
        leaf = next(c for c in p["children"] if "skill" in c)
        p["children"].append({"id": "dup_leaf", "skill": leaf["skill"]})
        return d

    bad = _edited_copy(folder, tmp_path, dup)
    code, _, err = _run(["combos", str(bad), "--k", "3", "--out", str(tmp_path / "c.jsonl")], capsys)
    assert code == 2 and "appears in more than one leaf" in err and "'skill_" in err


def test_k_above_the_number_of_skills_is_a_user_error(folder, tmp_path, capsys):
    code, _, err = _run(["combos", str(folder), "--k", "31", "--out", str(tmp_path / "c.jsonl")], capsys)
    assert code == 2 and "--k 31 is more than the 30 skills" in err
    code, _, err = _run(["combos", str(folder), "--k", "3", "--k-max", "40", "--out", str(tmp_path / "c.jsonl")], capsys)
    assert code == 2 and "--k-max 40" in err


def test_negative_seed_and_out_folder_give_one_line(folder, tmp_path, capsys):
    code, _, err = _run(["combos", str(folder), "--k", "3", "--strategy", "random", "--seed", "-1",
                         "--out", str(tmp_path / "c.jsonl")], capsys)
    assert code == 2 and "--seed must be >= 0" in err
    code, _, err = _run(["combos", str(folder), "--k", "3", "--quiet", "--out", str(tmp_path)], capsys)
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("steps combos: error: --out") and "is a folder" in last and str(tmp_path) in last


def test_starts_short_of_per_start_are_reported(tmp_path):
    from steps_engine.selection.combos import select_combinations
    from steps_engine.taxonomy.partition import build_tree
    from steps_engine.selection.search import prepare
    from steps_engine.taxonomy.planted import planted_graph

    g = planted_graph(60, 300, seed=2)
    ctx = prepare(build_tree(g, height=3), g)
    run = select_combinations(ctx, 2, scope="level:2", per_start=50)
    per = {}
    for c in run.combinations:
        per[c.start] = per.get(c.start, 0) + 1
    short = {s for s, n in per.items() if n < 50}
    assert short and set(run.starts_short) == short
    assert not set(run.starts_short) & set(run.starts_without)


def test_no_combination_at_all_exits_3(tmp_path, capsys):
    # two clusters of 3 skills; k = 4 inside one top-level cluster is impossible: nothing written
    import random

    from steps_engine.cli import EXIT_NOTHING_DONE, main

    rng = random.Random(0)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"skills": rng.sample(["a", "b", "c"] if i % 2 else ["x", "y", "z"], 2)}) + "\n"
                            for i in range(200)))
    assert main(["taxonomy", str(data), "--skills-field", "skills", "--height", "2", "--out", str(tmp_path / "t"),
                 "--quiet"]) == 0
    assert main(["combos", str(tmp_path / "t"), "--k", "4", "--scope", "level:1", "--out", str(tmp_path / "c.jsonl"),
                 "--quiet"]) == EXIT_NOTHING_DONE
    assert "wrote 0 combinations" in capsys.readouterr().out
