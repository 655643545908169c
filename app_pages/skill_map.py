"""Skill map: skills as 2-D points; box/lasso-select skills and move them into a cluster."""

import streamlit as st

from app_pages import _shared as ui
from steps_engine.studio import state as studio_state
from steps_engine.curation.edits import Edit
from steps_engine.studio.plotting.points import skill_points_figure

ws = ui.workspace()
st.title("Skill map")


@st.cache_resource(show_spinner=False, max_entries=8)
def meaning_job(graph_key: str, _ws) -> dict:
    """One background build of the meaning map per graph (a niced subprocess: loading the
    model and compiling UMAP take tens of seconds and must not slow the studio)."""
    return studio_state.start_meaning_map(_ws)


@st.cache_data(max_entries=4, show_spinner=False)
def graph_positions(graph_key: str, _ws):
    """Positions depend on the graph only, so edits do not recompute them."""
    return studio_state.graph_layout(_ws.graph)


@st.cache_data(max_entries=8, show_spinner=False)
def points(tree_key: str, layout: str, _ws):
    frame = studio_state.skill_frame(_ws.graph, _ws.tree)
    if layout == "umap":
        pos = studio_state.meaning_map_state(meaning_job(_ws.graph_key, _ws))[1]
    else:
        pos = graph_positions(_ws.graph_key, _ws)
    return studio_state.skill_points(frame, pos)


@st.cache_data(max_entries=8, show_spinner=False)
def figure(tree_key: str, layout: str, _ws):
    return skill_points_figure(points(tree_key, layout, _ws), colour_index=studio_state.cluster_colours(_ws.tree))


state, detail = studio_state.meaning_map_state(meaning_job(ws.graph_key, ws))
options = ["Meaning (UMAP of skill names)", "Co-occurrence (graph layout)"]
mode = st.radio("Layout", options, index=0 if state == "ready" else 1, horizontal=True, key="map_mode")
fig = None
if mode == options[0]:
    if state == "ready":
        fig = figure(ws.tree_key, "umap", ws)
    elif state == "failed":
        st.info(f"The meaning map is unavailable ({detail}). Showing the co-occurrence layout.")
    else:
        st.info("The meaning map is being built in the background (the first start compiles UMAP). Showing the co-occurrence layout meanwhile; switch back in a minute.")
if fig is None:
    with st.spinner("Laying out the co-occurrence graph…"):
        fig = figure(ws.tree_key, "graph", ws)
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("box", "lasso"), key="skill_map_chart")

selected: list[str] = []
for p in (event.selection.points if event else []) or []:
    try:
        selected.append(str(fig.data[p["curve_number"]].customdata[p["point_index"]]))
    except (KeyError, IndexError, TypeError):
        if p.get("customdata") is not None:
            selected.append(str(p["customdata"]))
selected = list(dict.fromkeys(selected))

st.subheader(f"Selection: {len(selected)} skill(s)")
if selected:
    st.write(", ".join(selected[:50]) + (" …" if len(selected) > 50 else ""))
c1, c2 = st.columns([3, 1])
with c1:
    target = ui.cluster_picker("Move the selected skills into", ws, key="map_target")
c2.write("")
if c2.button("Move", type="primary", disabled=not selected, key="map_move"):
    with ui.user_errors("Pick a cluster (not a skill) and select skills on the map."):
        res = ws.apply(Edit("move", {"skills": selected, "target_id": target}))
        ui.show_edit_result(res)
        st.rerun()
ui.last_edit_banner()
st.caption("Moves are ordinary edits: undo them on the Curate page.")
