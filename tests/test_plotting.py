import numpy as np
import pandas as pd
import pytest

from _studio_fixtures import two_cluster_tree, two_triangles
from steps_engine.taxonomy.entropy import node_terms
from steps_engine.studio.plotting.long_tail import long_tail_figure
from steps_engine.studio.plotting.points import skill_points_figure
from steps_engine.studio.plotting.strategies import strategy_figure
from steps_engine.studio.plotting.taxonomy import taxonomy_figure


def trace_by_id(fig):
    t = fig.data[0]
    return {i: k for k, i in enumerate(t.ids)}, t


@pytest.mark.parametrize("kind", ["sunburst", "icicle", "treemap"])
def test_taxonomy_sizes_by_frequency_and_sums_up(kind):
    fig = taxonomy_figure(two_cluster_tree(), two_triangles(), kind=kind, maxdepth=2)
    pos, t = trace_by_id(fig)
    assert t.type == kind and t.maxdepth == 3 and t.branchvalues == "total"
    vals = np.asarray(t.values)
    # counts a..f = 5,4,3,3,2,1: C1 = 12, C2 = 6, root = 18
    assert vals[pos["n1"]] == 12 and vals[pos["n2"]] == 6 and vals[pos["n0"]] == 18
    assert vals[pos["la"]] == 5
    assert t.parents[pos["n0"]] == "" and t.parents[pos["lc"]] == "n1"


def test_taxonomy_entropy_size_is_subtree_sum_of_terms():
    g, tree = two_triangles(), two_cluster_tree()
    terms = node_terms(g, tree).term
    pos, t = trace_by_id(taxonomy_figure(tree, g, size_by="entropy"))
    n1 = tree.node_index("n1")
    kids = tree.children()[n1]
    assert t.values[pos["n1"]] == pytest.approx(terms[n1] + terms[kids].sum())
    assert t.values[pos["n0"]] == pytest.approx(terms.sum())


def test_taxonomy_colours_follow_top_level_cluster_with_lighter_shades_below():
    from steps_engine.studio.plotting._palette import colour, shade

    _, t = trace_by_id(taxonomy_figure(two_cluster_tree(), two_triangles()))
    pos = {i: k for k, i in enumerate(t.ids)}
    col = t.marker.colors
    assert col[pos["n1"]] == colour(0) and col[pos["n2"]] == colour(1)
    # one level below a top-level cluster: its colour mixed 22% with white
    assert col[pos["la"]] == col[pos["lb"]] == shade(colour(0), 0.22) != col[pos["n1"]]
    assert col[pos["ld"]] == shade(colour(1), 0.22)


def test_shade_mixes_with_white():
    # #000000 halfway to white: 127.5 rounds to 128 = 0x80
    assert shade_of("#000000", 0.5) == "#808080" and shade_of("#336699", 0) == "#336699" and shade_of("#336699", 1) == "#ffffff"


def shade_of(c, a):
    from steps_engine.studio.plotting._palette import shade

    return shade(c, a)


def test_after_a_drill_down_every_child_has_its_own_colour_and_the_legend_names_them():
    from steps_engine.curation.edits import create_cluster, move_skills

    t = move_skills(create_cluster(create_cluster(two_cluster_tree(), "n1", "inner one", node_id="x"), "n1", "inner two", node_id="y"), ["a"], "x")
    t = move_skills(t, ["b"], "y")
    fig = taxonomy_figure(t, two_triangles(), root_id="n1")
    sun = fig.data[0]
    pos = {i: k for k, i in enumerate(sun.ids)}
    col = sun.marker.colors
    assert len({col[pos["x"]], col[pos["y"]], col[pos["lc"]]}) == 3  # every child of the shown root differs
    assert [tr.name for tr in fig.data[1:]] == ["inner one", "inner two"]  # legend: the child clusters by name
    top = taxonomy_figure(t, two_triangles())
    assert [tr.name for tr in top.data[1:]] == ["C1", "C2"]


def test_labels_are_wrapped_not_cut_and_hover_lists_members():
    from steps_engine.curation.edits import rename_cluster
    from steps_engine.studio.plotting.taxonomy import wrap_label

    long = "arithmetic / plain_language_explanation / python"
    # breaks at spaces and after "_" or "/"; 3 lines of at most 16, the rest cut with an ellipsis
    assert wrap_label(long, 16) == "arithmetic /<br>plain_language_<br>explanation /…"
    assert wrap_label("cooking, recipes", 16) == "cooking, recipes"  # 16 characters: one line
    assert wrap_label("cooking, recipes, oven", 16) == "cooking,<br>recipes, oven"
    t = rename_cluster(two_cluster_tree(), "n1", "a & <b>")
    sun = taxonomy_figure(t, two_triangles()).data[0]
    pos = {i: k for k, i in enumerate(sun.ids)}
    assert sun.labels[pos["n1"]] == "a &amp; &lt;b&gt;"  # escaped
    # members by frequency (a=5, b=4, c=3)
    assert sun.customdata[pos["n1"]][5] == "a, b, c"
    assert "members: %{customdata[5]}" in sun.hovertemplate


def test_taxonomy_root_id_draws_only_that_subtree():
    pos, t = trace_by_id(taxonomy_figure(two_cluster_tree(), two_triangles(), root_id="n2"))
    assert set(t.ids) == {"n2", "ld", "le", "lf"} and t.parents[pos["n2"]] == ""


@pytest.mark.parametrize("kw, arg", [({"kind": "pie"}, "kind"), ({"size_by": "x"}, "size_by"), ({"maxdepth": 0}, "maxdepth")])
def test_taxonomy_bad_arguments_are_named(kw, arg):
    with pytest.raises(ValueError, match=arg):
        taxonomy_figure(two_cluster_tree(), two_triangles(), **kw)


def test_long_tail_is_sorted_log_log_and_drops_zeros():
    fig = long_tail_figure([3, 0, 10, 1], names=["a", "b", "c", "d"])
    t = fig.data[0]
    assert list(t.y) == [10, 3, 1] and list(t.x) == [1, 2, 3] and list(t.text) == ["c", "a", "d"]
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"


def test_strategy_figure_one_panel_per_metric():
    fig = strategy_figure({"steps": {"gain": 3.0, "coherence": 2.0}, "random": {"gain": 1.0, "coherence": 0.5}})
    assert len(fig.data) == 4
    bars = {(tr.name, tr.xaxis): tr.y[0] for tr in fig.data}
    assert bars[("steps", "x")] == 3.0 and bars[("random", "x2")] == 0.5
    with pytest.raises(ValueError, match="metrics"):
        strategy_figure({})


def test_strategy_figure_puts_two_panels_to_a_row():
    # 4 metrics -> 2 x 2: panel 3 sits under panel 1, so the titles get half a column each
    vals = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    fig = strategy_figure({"steps": vals, "random": vals})
    lay = fig.layout
    assert lay.xaxis3.domain == lay.xaxis.domain and lay.xaxis4.domain == lay.xaxis2.domain
    assert lay.yaxis3.domain[1] < lay.yaxis.domain[0]
    assert fig.layout.height == 2 * 200 + 40
    assert strategy_figure({"steps": vals}, columns=4).layout.xaxis4.domain[0] > 0.7  # one row
    with pytest.raises(ValueError, match="columns must be an integer >= 1, got 0"):
        strategy_figure({"steps": vals}, columns=0)


def test_points_one_trace_per_cluster_with_skill_customdata():
    df = pd.DataFrame(
        {"skill": list("abc"), "x": [0, 1, 2], "y": [0, 1, 0], "cluster": ["A", "B", "A"], "count": [1, 4, 9]}
    )
    fig = skill_points_figure(df)
    assert [tr.name for tr in fig.data] == ["A", "B"]
    assert list(fig.data[0].customdata) == ["a", "c"]
    with pytest.raises(ValueError, match="count"):
        skill_points_figure(df.drop(columns="count"))


def test_points_colours_follow_the_given_cluster_index():
    from steps_engine.studio.plotting._palette import colour

    df = pd.DataFrame({"skill": list("ab"), "x": [0, 1], "y": [0, 1], "cluster": ["A", "B"], "count": [1, 1]})
    fig = skill_points_figure(df, colour_index={"B": 0, "A": 3})
    assert [tr.name for tr in fig.data] == ["B", "A"]
    assert fig.data[0].marker.color == colour(0) and fig.data[1].marker.color == colour(3)


def test_taxonomy_figure_holds_only_the_levels_shown():
    from steps_engine.curation.edits import create_cluster, move_skills

    t = move_skills(create_cluster(two_cluster_tree(), "n1", "inner", node_id="x"), ["a"], "x")
    _, fig1 = trace_by_id(taxonomy_figure(t, two_triangles(), maxdepth=1))
    assert set(fig1.ids) == {"n0", "n1", "n2"}
    _, fig2 = trace_by_id(taxonomy_figure(t, two_triangles(), maxdepth=2))
    assert "x" in fig2.ids and "la" not in fig2.ids and "lb" in fig2.ids
    _, fig_all = trace_by_id(taxonomy_figure(t, two_triangles(), maxdepth=-1))
    assert len(fig_all.ids) == t.n_nodes


def test_auto_depth_keeps_the_node_count_small():
    from steps_engine.studio.plotting.taxonomy import auto_depth

    t = two_cluster_tree()  # 3 nodes within 1 level, 9 within 2
    assert auto_depth(t, max_nodes=3) == 1
    assert auto_depth(t, max_nodes=9) == 2
    assert auto_depth(t, max_nodes=2) == 1  # never below one level


def test_drill_goes_down_into_clusters_and_up_from_the_root():
    from steps_engine.studio.plotting.taxonomy import drill

    t = two_cluster_tree()
    assert drill(t, "n1", None) == ("n1", "n1")  # into a cluster
    assert drill(t, "n1", "n1") == ("n0", None)  # the centre: one level up
    assert drill(t, "lc", "n0") == ("n0", "n1")  # a skill: detail its cluster
    assert drill(t, "n0", "n0") == ("n0", None)  # already at the top


def test_long_tail_log_ticks_are_plain_numbers():
    # counts 96..1 over 96 ranks: ticks at 1, 2, 5, 10, 20, 50, 100, never plotly's bare minor digits
    fig = long_tail_figure(np.arange(96, 0, -1))
    assert list(fig.layout.xaxis.tickvals) == [1, 2, 5, 10, 20, 50, 100]
    assert list(fig.layout.yaxis.ticktext) == ["1", "2", "5", "10", "20", "50", "100"]


def test_points_label_the_largest_skills_name_clusters_and_zoom_to_a_search():
    long = "a cluster name that is much longer than forty characters in all"
    df = pd.DataFrame({"skill": list("abcd"), "x": [0.0, 1.0, 2.0, 10.0], "y": [0.0, 1.0, 0.0, 10.0],
                       "cluster": [long, "B", long, "B"], "count": [1, 4, 9, 2]})
    fig = skill_points_figure(df, label_top=2, highlight="b")
    names = [tr.name for tr in fig.data]
    assert names[:2] == [long, "B"]  # legend names in full
    text = {s: t for tr in fig.data[:2] for s, t in zip(tr.customdata, tr.text)}
    # b and c are the two most frequent; c's label would sit on the long cluster name centred
    # at x = (0*1 + 2*9) / 10 = 1.8, y = 0 (c is at (2, 0)), so it is left out
    assert text == {"a": "", "c": "", "b": "b", "d": ""}
    bare = skill_points_figure(df, label_top=2, highlight="b", centroid_names=False)
    assert {s: t for tr in bare.data[:2] for s, t in zip(tr.customdata, tr.text)} == {"a": "", "c": "c", "b": "b", "d": ""}
    notes = {a.text for a in fig.layout.annotations}
    assert notes == {f"<b>{long}</b>", "<b>B</b>"}
    # B's centroid weighted by count: x = (1*4 + 10*2) / 6 = 4
    b = next(a for a in fig.layout.annotations if a.text == "<b>B</b>")
    assert b.x == pytest.approx(4.0)
    # zoom: span = max(ptp x, ptp y) * 0.18 = 10 * 0.18 = 1.8 around b = (1, 1)
    assert list(fig.layout.xaxis.range) == pytest.approx([-0.8, 2.8]) and fig.data[-1].customdata[0] == "b"
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0  # under the map, clear of the toolbar


def test_points_keep_no_two_labels_on_top_of_each_other():
    # x and y 0.001 apart on a map 10 wide: their labels would overprint; only the more frequent
    # one (y, count 5) keeps its name, z far away keeps its own
    df = pd.DataFrame({"skill": ["x", "y", "z"], "x": [0.0, 0.001, 10.0], "y": [0.0, 0.0, 10.0],
                       "cluster": ["A", "A", "A"], "count": [3, 5, 1]})
    fig = skill_points_figure(df, centroid_names=False)
    assert dict(zip(fig.data[0].customdata, fig.data[0].text)) == {"x": "", "y": "y", "z": "z"}
    # many clusters: the legend's extra rows make the figure taller instead of squashing the map
    many = pd.DataFrame({"skill": [f"s{i}" for i in range(40)], "x": np.arange(40.0), "y": np.zeros(40),
                         "cluster": [f"cluster number {i}" for i in range(40)], "count": np.ones(40)})
    assert skill_points_figure(many).layout.height > skill_points_figure(df).layout.height == 650


def test_meaning_agreement_counts_neighbours_in_the_same_cluster():
    from steps_engine.studio.mapview import meaning_agreement, nearest_by_meaning

    t = two_cluster_tree()  # C1 {a,b,c}, C2 {d,e,f}
    nb = {"a": ["b", "d"], "b": ["a", "c"], "d": ["e", "a"], "e": ["d"], "zz": ["a"]}
    r = meaning_agreement(nb, t)
    # a: 1/2, b: 2/2, d: 1/2, e: 1/1 -> mean 0.75; chance = 2 * 3*2 / (6*5) = 0.4; zz is not in the tree
    assert r["agreement"] == pytest.approx(0.75) and r["chance"] == pytest.approx(0.4) and r["skills"] == 4
    vec = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    assert nearest_by_meaning(vec, ["p", "q", "r"], k=1) == {"p": ["q"], "q": ["p"], "r": ["q"]}
