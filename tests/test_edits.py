import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _studio_fixtures import brute_entropy, two_cluster_tree, two_triangles
from steps_engine.curation.edits import (
    Edit,
    EditLog,
    apply_edit,
    create_cluster,
    exclude_skill,
    merge_clusters,
    move_skills,
    rename_cluster,
    split_cluster,
)
from steps_engine.taxonomy.entropy import structural_entropy


def clusters_of(tree):
    """{frozenset(member skills) of every depth-1 node}."""
    ch = tree.children()
    return {frozenset(tree.members(c)) for c in ch[0] if tree.leaf_skill[c] < 0}


def test_rename_changes_only_the_label_and_keeps_input():
    t = two_cluster_tree()
    new = rename_cluster(t, "n1", "  Letters  ")
    assert new.labels[new.node_index("n1")] == "Letters"
    assert t.labels[t.node_index("n1")] == "C1"  # input untouched
    assert clusters_of(new) == clusters_of(t)


def test_relabel_renames_many_in_one_undoable_edit():
    g = two_triangles()
    log = EditLog(g, two_cluster_tree())
    res = log.apply(Edit("relabel", {"labels": {"n1": "Letters", "n2": "Later letters"}}))
    t = log.current
    assert [t.labels[t.node_index(i)] for i in ("n1", "n2")] == ["Letters", "Later letters"]
    assert res.entropy_after == pytest.approx(res.entropy_before)
    log.undo()
    assert log.current.labels[log.current.node_index("n1")] == "C1"
    with pytest.raises(ValueError, match="labels"):
        apply_edit(t, g, Edit("relabel", {"labels": {"la": "x"}}))


def test_move_skill_changes_members_and_entropy_matches_definition():
    g, t = two_triangles(), two_cluster_tree()
    new = move_skills(t, ["c"], "n2")
    assert clusters_of(new) == {frozenset("ab"), frozenset("cdef")}
    assert structural_entropy(g, new) == pytest.approx(brute_entropy(g, new))
    # c's two strong edges now leave its cluster: overriding the data costs entropy
    assert structural_entropy(g, new) > structural_entropy(g, t)


def test_entropy_of_fixture_tree_by_hand():
    # degrees: a=b=2, c=2.1, d=2.1, e=f=2; vol=12.2. Clusters: vol 6.1 each, cut 0.1.
    # cluster terms: 2 * -(0.1/12.2) log2(6.1/12.2) = 2 * 0.1/12.2
    # leaf terms: sum_v -(d_v/12.2) log2(d_v/6.1)
    import math

    g, t = two_triangles(), two_cluster_tree()
    deg = [2, 2, 2.1, 2.1, 2, 2]
    expected = 2 * 0.1 / 12.2 + sum(-(d / 12.2) * math.log2(d / 6.1) for d in deg)
    assert structural_entropy(g, t) == pytest.approx(expected)


def test_merge_moves_children_and_removes_source():
    g, t = two_triangles(), two_cluster_tree()
    new = merge_clusters(t, "n1", "n2")
    assert "n2" not in new.ids
    assert clusters_of(new) == {frozenset("abcdef")}
    assert structural_entropy(g, new) == pytest.approx(brute_entropy(g, new))


def test_merge_refuses_to_merge_an_ancestor_into_its_descendant():
    t = create_cluster(two_cluster_tree(), "n1", "inner", node_id="x")
    with pytest.raises(ValueError, match="source_id"):
        merge_clusters(t, "x", "n1")
    with pytest.raises(ValueError, match="root"):
        merge_clusters(t, "n1", "n0")


def test_split_recovers_the_two_triangles():
    g = two_triangles()
    merged = merge_clusters(two_cluster_tree(), "n1", "n2")
    new = split_cluster(merged, g, "n1")
    inner = new.node_index("n1")
    parts = {frozenset(new.members(c)) for c in new.children()[inner] if new.leaf_skill[c] < 0}
    assert parts == {frozenset("abc"), frozenset("def")}
    assert sorted(new.members(0)) == list("abcdef")
    assert structural_entropy(g, new) < structural_entropy(g, merged)


def test_split_of_a_single_skill_is_refused():
    t = move_skills(two_cluster_tree(), ["a", "b"], "n2")
    with pytest.raises(ValueError, match="nothing to split"):
        split_cluster(t, two_triangles(), "n1")


def test_exclude_removes_leaf_but_keeps_skill_index():
    g, t = two_triangles(), two_cluster_tree()
    new = exclude_skill(t, "e")
    assert "e" not in new.members(0)
    assert new.skills == t.skills
    assert new.meta["excluded"] == ["e"]
    assert structural_entropy(g, new) == pytest.approx(brute_entropy(g, new))


def test_create_gives_fresh_id_and_empty_cluster_then_move_into_it():
    g, t = two_triangles(), two_cluster_tree()
    res = apply_edit(t, g, Edit("create", {"parent_id": "n0", "label": "New"}))
    nid = res.edit.args["node_id"]
    assert nid not in t.ids and res.tree.members(res.tree.node_index(nid)) == []
    assert res.entropy_after == pytest.approx(res.entropy_before)  # empty cluster: term 0
    moved = move_skills(res.tree, ["a"], nid)
    assert moved.members(moved.node_index(nid)) == ["a"]


@pytest.mark.parametrize(
    "edit, arg",
    [
        (Edit("rename", {"node_id": "nope", "label": "x"}), "node_id"),
        (Edit("move", {"skills": ["zzz"], "target_id": "n1"}), "skills"),
        (Edit("move", {"skills": ["a"], "target_id": "la"}), "target_id"),
        (Edit("merge", {"target_id": "n1"}), "source_id"),
    ],
)
def test_bad_edits_name_the_argument(edit, arg):
    with pytest.raises(ValueError, match=arg):
        apply_edit(two_cluster_tree(), two_triangles(), edit)


def test_unknown_op_is_rejected():
    with pytest.raises(ValueError, match="op must be one of"):
        Edit("delete", {})


def test_edit_log_undo_redo_and_truncation():
    g = two_triangles()
    log = EditLog(g, two_cluster_tree())
    r1 = log.apply(Edit("move", {"skills": ["c"], "target_id": "n2"}))
    log.apply(Edit("rename", {"node_id": "n2", "label": "Big"}))
    assert log.records[1]["entropy_before"] == pytest.approx(r1.entropy_after)
    assert log.undo().labels[log.current.node_index("n2")] == "C2"
    assert clusters_of(log.undo()) == {frozenset("abc"), frozenset("def")}
    assert not log.can_undo and log.can_redo
    assert clusters_of(log.redo()) == {frozenset("ab"), frozenset("cdef")}
    log.apply(Edit("exclude", {"skills": ["a"]}))  # discards the rename
    assert len(log.records) == 2 and not log.can_redo
    assert "a" not in log.current.members(0)


def test_replaying_recorded_edits_gives_the_same_tree():
    g = two_triangles()
    log = EditLog(g, merge_clusters(two_cluster_tree(), "n1", "n2"))
    log.apply(Edit("split", {"node_id": "n1"}))
    log.apply(Edit("create", {"parent_id": "n0", "label": "X"}))
    t = log.tree_at(0)
    for rec in log.records:
        t = apply_edit(t, g, Edit.from_json(rec)).tree
    assert t.ids == log.current.ids and t.parent.tolist() == log.current.parent.tolist()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["move", "merge", "create", "exclude", "rename"]), st.integers(0, 50), st.integers(0, 50)), max_size=8))
def test_random_edit_sequences_keep_a_valid_tree(ops):
    g = two_triangles()
    t = two_cluster_tree()
    excluded = set()
    for op, x, y in ops:
        clusters = [t.ids[i] for i in range(t.n_nodes) if t.leaf_skill[i] < 0]
        skills = t.members(0)
        try:
            if op == "move" and skills:
                t = move_skills(t, [skills[x % len(skills)]], clusters[y % len(clusters)])
            elif op == "merge":
                t = merge_clusters(t, clusters[x % len(clusters)], clusters[y % len(clusters)])
            elif op == "create":
                t = create_cluster(t, clusters[x % len(clusters)], "new")
            elif op == "exclude" and len(skills) > 1:
                s = skills[x % len(skills)]
                t = exclude_skill(t, s)
                excluded.add(s)
            elif op == "rename":
                t = rename_cluster(t, clusters[x % len(clusters)], f"L{y}")
        except ValueError:
            pass  # refused edits leave the tree as it was
        t.validate()
        assert sorted(t.members(0)) == sorted(set("abcdef") - excluded)
        assert structural_entropy(g, t) == pytest.approx(brute_entropy(g, t))


def test_split_by_chosen_groups_makes_new_children_and_drops_emptied_subclusters():
    from _studio_fixtures import brute_entropy, two_cluster_tree, two_triangles
    from steps_engine.curation.edits import Edit, apply_edit, create_cluster, move_skills, split_cluster

    g = two_triangles()
    t = move_skills(create_cluster(two_cluster_tree(), "n1", "inner", node_id="x"), ["a"], "x")  # n1 -> x{a}, b, c
    out = split_cluster(t, g, "n1", groups=[["a", "b"]], ids=["g1"])
    # a leaves x, so x is empty and goes; g1 = {a, b} under n1; c stays under n1
    assert "x" not in out.ids and out.parent[out.node_index("g1")] == out.node_index("n1")
    assert sorted(out.members(out.node_index("g1"))) == ["a", "b"] and out.parent[out.node_index("lc")] == out.node_index("n1")
    res = apply_edit(t, g, Edit("split", {"node_id": "n1", "groups": [["a", "b"]]}))
    assert res.entropy_after == pytest.approx(brute_entropy(g, res.tree))
    for bad, arg in [([["a", "d"]], "not in cluster"), ([["a"], ["a"]], "more than one group"), ([["a", "b", "c"]], "no split")]:
        with pytest.raises(ValueError, match=arg):
            split_cluster(t, g, "n1", groups=bad)
