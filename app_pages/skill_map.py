"""Skill map: skills as 2-D points; box/lasso-select skills and move them into a cluster."""

import threading

import streamlit as st

from app_pages import _shared as ui
from steps_engine import studio_state
from steps_engine.edits import Edit
from steps_engine.plotting.points import skill_points_figure

ws = ui.workspace()
st.title("Skill map")


@st.cache_resource(show_spinner=False)
def umap_warm_up() -> dict:
    """Compile UMAP's numba code once per process in a background thread (tens of seconds),
    so no interactive path waits for it."""
    state = {"ready": False, "error": None}
    try:
        from steps_engine import skillmap
    except ImportError as exc:
        state["error"] = f"embedding skill map not available ({exc})"
        return state

    def run():
        try:
            from steps_engine.embeddings import get_embedder

            get_embedder().encode(["warm up"])  # loads the model once
            skillmap.warm_up()
            state["ready"] = True
        except Exception as exc:  # noqa: BLE001 - reported on the page, the graph layout stays usable
            state["error"] = str(exc)

    threading.Thread(target=run, name="umap-warm-up", daemon=True).start()
    return state


@st.cache_data(max_entries=8, show_spinner=False)
def graph_points(tree_key: str, _ws):
    return studio_state.graph_layout(_ws.graph, _ws.tree)


@st.cache_data(max_entries=8, show_spinner=False)
def umap_points(tree_key: str, _ws):
    from steps_engine import skillmap

    df = studio_state.skill_frame(_ws.graph, _ws.tree)
    return skillmap.skill_map(df["skill"].tolist(), df["count"].to_numpy(), df["cluster"].tolist())


warm = umap_warm_up()
options = ["Meaning (UMAP of skill names)", "Co-occurrence (graph layout)"]
mode = st.radio("Layout", options, index=0 if warm["ready"] else 1, horizontal=True, key="map_mode")
df = None
if mode == options[0]:
    if warm["ready"]:
        with ui.user_errors("Use the graph layout meanwhile."), st.spinner("Embedding skills…"):
            df = umap_points(ws.tree_key, ws)
    elif warm["error"]:
        st.info(f"The meaning map is unavailable: {warm['error']}. Showing the co-occurrence layout.")
    else:
        st.info("The meaning map is warming up in the background (first start compiles UMAP). Showing the co-occurrence layout; switch back in a minute.")
if df is None:
    with st.spinner("Laying out the co-occurrence graph…"):
        df = graph_points(ws.tree_key, ws)

fig = skill_points_figure(df)
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
