"""Skill map: skills as 2-D points, labelled and searchable; box/lasso-select skills to move
them into a cluster or to split them off as a new one."""

import streamlit as st

from pages import _shared as ui
from steps_engine.curation.edits import Edit
from steps_engine.studio import mapview
from steps_engine.studio import state as studio_state
from steps_engine.studio.plotting.points import skill_points_figure

ws = ui.workspace()
st.title("Skill map")


@st.cache_data(max_entries=4, show_spinner=False)
def graph_positions(graph_key: str, _ws):
    """Positions depend on the graph only, so edits do not recompute them."""
    return studio_state.graph_layout(_ws.graph)


@st.cache_data(max_entries=8, show_spinner=False)
def points(tree_key: str, layout: str, level: int, _ws):
    frame = studio_state.skill_frame(_ws.graph, _ws.tree, level)
    if layout == "umap":
        pos = studio_state.meaning_map_state(ui.meaning_job(_ws.graph_key, _ws))[1]
    else:
        pos = graph_positions(_ws.graph_key, _ws)
    return studio_state.skill_points(frame, pos)


@st.cache_data(max_entries=8, show_spinner=False)
def figure(tree_key: str, layout: str, level: int, search: str | None, _ws):
    colours = studio_state.cluster_colours(_ws.tree) if level == 1 else None
    return skill_points_figure(points(tree_key, layout, level, _ws), colour_index=colours, highlight=search)


job = ui.meaning_job(ws.graph_key, ws)
state, detail = studio_state.meaning_map_state(job)
options = ["Meaning (UMAP of skill names)", "Co-occurrence (graph layout)"]
c1, c2, c3 = st.columns([2, 1, 2])
mode = c1.radio("Layout", options, index=0 if state == "ready" else 1, horizontal=True, key="map_mode")
levels = max(ws.tree.height - 1, 1)
level = int(c2.number_input("Colour by level", 1, levels, 1, key="map_level", help="1 = top-level clusters"))
search = c3.selectbox("Find a skill", ui.skill_names(ws), index=None, key="map_search", placeholder="type a skill name")
layout = "graph"
if mode == options[0]:
    if state == "ready":
        layout = "umap"
    elif state == "failed":
        st.info(f"The meaning map is unavailable ({detail}). Showing the co-occurrence layout.")
    else:
        frac, stage = studio_state.meaning_map_progress(job)
        st.info(f"The meaning map is being built ({stage}, {frac:.0%}); the sidebar shows its progress. "
                "Showing the co-occurrence layout meanwhile.")
with st.spinner("Laying out the map…"):
    fig = figure(ws.tree_key, layout, level, search, ws)
if state == "ready" and "neighbours" in detail.columns:
    agree = mapview.meaning_agreement(dict(zip(detail["skill"], detail["neighbours"])), ws.tree, level)
    st.caption(
        f"Meaning and co-occurrence agree on {agree['agreement']:.0%} of skills' 10 nearest neighbours by meaning "
        f"(same cluster at level {level}; {agree['chance']:.0%} for random neighbours)."
    )
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("box", "lasso"), key="skill_map_chart",
                        config={"displaylogo": False})

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
        ui.show_edit_result(res, ws)
        st.rerun()
if selected:
    lca = studio_state.common_cluster(ws.tree, selected)
    if st.button(f"Split the selection off as a new cluster inside {ws.tree.labels[ws.tree.node_index(lca)] or lca} ({lca})",
                 key="map_split"):
        with ui.user_errors("Select at least one skill, not the whole cluster."):
            res = ws.apply(Edit("split", {"node_id": lca, "groups": [selected]}))
            ui.show_edit_result(res, ws)
            st.rerun()
ui.last_edit_banner()
st.caption("Moves and splits are ordinary edits: undo them on the Curate page.")
