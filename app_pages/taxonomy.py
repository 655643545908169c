"""Taxonomy: the encoding tree as a sunburst / icicle / treemap, entropies, node details."""

import streamlit as st

from app_pages import _shared as ui
from steps_engine.studio import state as studio_state
from steps_engine.studio.plotting.taxonomy import KINDS, SIZE_BY, auto_depth, drill, taxonomy_figure

ws = ui.workspace()
st.title("Taxonomy")
ui.entropy_metrics(ws)


@st.cache_data(max_entries=32, show_spinner=False)
def figure(tree_key: str, kind: str, size_by: str, maxdepth: int, root_id: str | None, _ws):
    return taxonomy_figure(
        _ws.tree, _ws.graph, kind=kind, size_by=size_by, maxdepth=maxdepth, root_id=root_id, terms=ui.terms(tree_key, _ws)
    )


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
kind = c1.radio("Chart", KINDS, key="tax_kind")
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
    fig = figure(ws.tree_key, kind, size_by, int(maxdepth), None if root_id == tree.ids[0] else root_id, ws)
    st.plotly_chart(fig, key="taxonomy_chart", on_select=on_click, selection_mode="points", config={"displaylogo": False})

st.subheader("Node detail")
node_id = ui.cluster_picker("Cluster", ws, key="tax_detail", include_root=False)
if node_id is not None:
    df = ui.clusters(ws.tree_key, ws).set_index("id")
    row = df.loc[node_id]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Label", row["label"] or "(unnamed)")
    c2.metric("Skills", int(row["skills"]))
    c3.metric("Frequency", f"{int(row['frequency']):,}")
    c4.metric("Entropy term", f"{row['term']:.5f} bits")
    st.dataframe(studio_state.members_table(tree, ws.graph, node_id), hide_index=True, width="stretch", height=300)
