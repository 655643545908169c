"""Taxonomy: the encoding tree as a sunburst / icicle / treemap or an outline, entropies,
node details and the rows behind a cluster, a skill or a combination."""

import streamlit as st

from pages import _shared as ui
from steps_engine.studio import reading
from steps_engine.studio import state as studio_state
from steps_engine.studio.plotting.taxonomy import KINDS, SIZE_BY, auto_depth, drill, taxonomy_figure
from steps_engine.taxonomy.naming import name_status

ws = ui.workspace()
st.title("Taxonomy")
ui.entropy_metrics(ws)


@st.cache_data(max_entries=32, show_spinner=False)
def figure(tree_key: str, kind: str, size_by: str, maxdepth: int, root_id: str | None, _ws):
    return taxonomy_figure(
        _ws.tree, _ws.graph, kind=kind, size_by=size_by, maxdepth=maxdepth, root_id=root_id, terms=ui.terms(tree_key, _ws),
        status=name_status(_ws.tree),
    )


@st.cache_data(max_entries=16, show_spinner=False)
def outline(tree_key: str, root_id: str | None, depth: int, _ws) -> str:
    return reading.outline_html(_ws.tree, _ws.graph, ui.terms(tree_key, _ws), root_id, max_depth=depth)


@st.cache_resource(max_entries=4, show_spinner="Reading the rows of the input file…")
def rows(graph_key: str, _ws):
    return reading.load_rows(_ws)


def on_click() -> None:
    """A click on a segment re-roots the chart there (the centre goes one level up), so
    only a few levels are ever sent to the browser however deep the tree is."""
    event = st.session_state.get("taxonomy_chart") or {}
    points = (event.get("selection") or {}).get("points") or []
    if not points or "id" not in points[0]:
        return
    try:
        root, detail = drill(ws.tree, str(points[0]["id"]), st.session_state.get("tax_root"))
    except KeyError:
        return
    st.session_state["tax_root"] = root
    if detail is not None:
        st.session_state["tax_detail"] = detail


tree = ws.tree
c1, c2, c3, c4 = st.columns([1, 1, 1, 2])
kind = c1.radio("Chart", KINDS + ("outline",), key="tax_kind", help="outline: an indented, collapsible tree")
size_by = c2.radio("Size by", SIZE_BY, key="tax_size", format_func={"frequency": "skill frequency", "entropy": "entropy term"}.get)
with c4:
    root_id = ui.cluster_picker("Start from", ws, key="tax_root", help="Or click a segment; click the centre to go up.")
levels = max(tree.height, 1)
if levels > 1:
    default = auto_depth(tree, root_id)
    if st.session_state.get("tax_depth_for") != (ws.tree_key, root_id):  # a new view: fast default depth
        st.session_state["tax_depth_for"] = (ws.tree_key, root_id)
        st.session_state["tax_depth"] = default
    maxdepth = c3.slider("Levels shown", 1, levels, key="tax_depth",
                         help="More levels draw more segments; thousands take seconds in the browser.")
else:
    maxdepth = 1
with ui.user_errors():
    shown_root = None if root_id == tree.ids[0] else root_id
    if kind == "outline":
        st.html(outline(ws.tree_key, shown_root, int(maxdepth), ws))
    else:
        fig = figure(ws.tree_key, kind, size_by, int(maxdepth), shown_root, ws)
        st.plotly_chart(fig, key="taxonomy_chart", on_select=on_click, selection_mode="points", config={"displaylogo": False})

st.subheader("Node detail")
node_id = ui.cluster_picker("Cluster", ws, key="tax_detail", include_root=False)
if node_id is not None:
    df = ui.clusters(ws.tree_key, ws).set_index("id")
    row = df.loc[node_id]
    st.markdown(f"**{ui.plain(row['label'] or '(unnamed)')}** · `{node_id}`")  # in full: a metric cuts long labels
    c2, c3, c4 = st.columns(3)
    c2.metric("Skills", int(row["skills"]))
    c3.metric("Frequency", f"{int(row['frequency']):,}")
    c4.metric("Entropy term", f"{row['term']:.5f} bits")
    if row["named by"] == "stale":
        st.warning("This cluster's members changed since it was named: rename it on the Curate page or name it again.")
    st.caption(f"Named by {row['named by']}.")
    st.dataframe(studio_state.members_table(tree, ws.graph, node_id), hide_index=True, width="stretch", height=300)

st.subheader("Read the rows")
try:
    table = rows(ws.graph_key, ws)
except (OSError, ValueError) as exc:
    table = None
    st.info(f"No rows to read: {exc}.")
if table is not None:
    c1, c2 = st.columns([1, 3])
    what = c1.radio("Rows of", ["the cluster above", "a skill", "a combination"], key="rows_of")
    focus: set[str] = set()
    positions = None
    if what == "the cluster above" and node_id is not None:
        focus = set(tree.members(tree.node_index(node_id)))
        positions = reading.rows_behind(table, tree, node_id=node_id)
    elif what == "a skill":
        skill = c2.selectbox("Skill", ui.skill_names(ws), key="rows_skill")
        if skill:
            focus = {skill}
            positions = reading.rows_behind(table, tree, skill=skill)
    elif what == "a combination":
        summary, runs = studio_state.load_selection(ws)
        combos = [r for recs in runs.values() for r in recs]
        if not combos:
            c2.info("No combinations yet: select some on the Combinations page.")
        else:
            labels = {k: " + ".join(r["skills"]) for k, r in enumerate(combos)}
            k = c2.selectbox("Combination", list(labels), format_func=labels.get, key="rows_combo")
            with ui.user_errors("The input file named in input.json is needed for seed examples."):
                st.caption("The seed examples synthesis would use for this combination (same seeded choice as `steps synthesize`).")
                st.dataframe(reading.combination_seeds(ws, combos[k]["skills"], combos[k].get("start")),
                             hide_index=True, width="stretch")
    if positions is not None:
        size = 10
        pages = max((len(positions) + size - 1) // size, 1)
        c1, c2 = st.columns([1, 3])
        page = c1.number_input(f"Page (of {pages})", 1, pages, 1, key=f"rows_page") - 1
        c2.caption(f"{len(positions):,} row(s)" + (" (the file has more rows than were read)" if table.truncated else ""))
        st.dataframe(reading.rows_page_frame(table, positions, int(page), size, focus), hide_index=True, width="stretch")
