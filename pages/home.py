"""Start: what is loaded and the workflow, one link per page."""

import streamlit as st

from pages import _shared as ui
from steps_engine.studio import state as studio_state
from steps_engine.studio.sources import describe_source, env_taxonomy_offer

ws = ui.workspace()
st.title("STEPS Studio")
st.caption(f"Workspace `{ws.root}` (set STEPS_WORKSPACE to use another folder)")
st.markdown(f"**Open:** {describe_source(ws)}")
offer = env_taxonomy_offer(ws)
if offer is not None:
    st.warning(f"`STEPS_TAXONOMY` names `{offer}`, which is not the taxonomy open in this workspace.")
    n = ws.n_edits
    keep = f" The current taxonomy and its {n} edit(s) are archived in the workspace first." if n else ""
    if st.button(f"Open {offer.name} instead", key="open_env_taxonomy", help="Archives the current taxonomy." + keep):
        with ui.user_errors("Check that STEPS_TAXONOMY names a folder written by `steps taxonomy`."):
            archived = ws.archive()
            studio_state.open_taxonomy(ws, offer)
            st.session_state["_last_edit"] = {"message": f"Opened {offer}" + (f"; the previous taxonomy is in {archived}" if archived else "")}
            st.rerun()
ui.last_edit_banner()
info = ws.input_info()
g = ws.graph
log = ws.log
in_tree = len(ui.skill_names(ws))
c1, c2, c3 = st.columns(3)
c1.metric("Skills", f"{in_tree:,}")
c2.metric("Clusters", f"{int((ws.tree.leaf_skill < 0).sum()) - 1:,}")
c3.metric("Edits", f"{log.position}")
if in_tree != g.n_skills:
    st.caption(f"{g.n_skills - in_tree:,} of the data's {g.n_skills:,} skills are excluded from the taxonomy.")
if info:
    st.write(f"Input: `{info.get('path')}` (skills field `{info.get('skills_field')}`)")
ui.entropy_metrics(ws)

st.subheader("Workflow")
steps = [
    ("pages/data.py", "Data", ":material/database:", "load the demo, an upload or a local file; map the fields; see the long tail"),
    ("pages/taxonomy.py", "Taxonomy", ":material/account_tree:", "the structural-entropy tree of skills"),
    ("pages/skill_map.py", "Skill map", ":material/scatter_plot:", "skills by meaning; lasso misplaced ones into a cluster"),
    ("pages/curate.py", "Curate", ":material/edit:", "rename, move, merge, split, exclude, create; undo and redo"),
    ("pages/combinations.py", "Combinations", ":material/hub:", "coherent, informative skill combinations vs random"),
    ("pages/synthesize.py", "Synthesize & preview", ":material/auto_awesome:", "the exact prompts; generate and review samples"),
    ("pages/export.py", "Export", ":material/download:", "training files with provenance and a dataset card"),
]
for path, title, icon, what in steps:
    c1, c2 = st.columns([1, 3])
    with c1:
        st.page_link(path, label=title, icon=icon)
    c2.caption(what)
