"""Curate: edit the taxonomy (rename, move, merge, split, exclude, create) with undo/redo."""

import pandas as pd
import streamlit as st

from app_pages import _shared as ui
from steps_engine.studio import state as studio_state
from steps_engine.curation.edits import Edit

ws = ui.workspace()
st.title("Curate")
st.caption("Each edit shows the structural entropy before → after: the cost of overriding the data. Edits are saved in the workspace.")
ui.entropy_metrics(ws)


def run(edit: Edit, next_step: str) -> None:
    with ui.user_errors(next_step):
        res = ws.apply(edit)
        ui.show_edit_result(res)
        st.rerun()


log = ws.log
c1, c2, c3 = st.columns([1, 1, 4])
if c1.button("Undo", disabled=not log.can_undo, key="undo", icon=":material/undo:"):
    ws.undo()
    st.session_state["_last_edit"] = None
    st.rerun()
if c2.button("Redo", disabled=not log.can_redo, key="redo", icon=":material/redo:"):
    ws.redo()
    st.session_state["_last_edit"] = None
    st.rerun()
c3.caption(f"Edit {log.position} of {len(log.records)}")
ui.last_edit_banner()

skills = ui.skill_names(ws)
OPS = ["Rename", "Move skills", "Merge", "Split", "Exclude", "New cluster", "Name by meaning"]
op = st.segmented_control("Edit", OPS, default="Move skills", key="curate_op") or "Move skills"
if op == "Rename":
    node = ui.cluster_picker("Cluster", ws, key="rename_node")
    label = st.text_input("New label", key="rename_label")
    if st.button("Rename", key="do_rename", disabled=not label.strip()):
        run(Edit("rename", {"node_id": node, "label": label}), "Pick a cluster and type a label.")
elif op == "Move skills":
    chosen = st.multiselect("Skills", skills, key="move_skills")
    target = ui.cluster_picker("Into cluster", ws, key="move_target")
    if st.button("Move", key="do_move", disabled=not chosen):
        run(Edit("move", {"skills": chosen, "target_id": target}), "Pick skills and a cluster.")
elif op == "Merge":
    source = ui.cluster_picker("Merge this cluster…", ws, key="merge_source", include_root=False)
    target = ui.cluster_picker("…into this one", ws, key="merge_target")
    if st.button("Merge", key="do_merge", disabled=source == target):
        run(Edit("merge", {"target_id": target, "source_id": source}), "Pick two different clusters; the first must not contain the second.")
elif op == "Split":
    node = ui.cluster_picker("Cluster to re-partition by entropy", ws, key="split_node", include_root=True)
    if st.button("Split", key="do_split"):
        run(Edit("split", {"node_id": node}), "Pick a cluster with at least two skills.")
elif op == "Exclude":
    chosen = st.multiselect("Skills to exclude", skills, key="exclude_skills")
    if st.button("Exclude", key="do_exclude", disabled=not chosen):
        run(Edit("exclude", {"skills": chosen}), "Pick skills that are in the taxonomy.")
elif op == "Name by meaning":
    st.caption("Suggested names: the members closest to the cluster's meaning (frequency-weighted embedding centroid). Edit the suggestions, then apply them as one undoable edit.")
    if st.button("Suggest names", key="suggest_names"):
        with st.spinner("Embedding skill names…"), ui.user_errors("The embedding model could not be loaded; rename clusters by hand."):
            st.session_state["_suggested"] = (ws.tree_key, studio_state.suggest_names(ws.tree, ws.graph))
    key, table = st.session_state.get("_suggested", (None, None))
    if table is not None and key == ws.tree_key:
        edited = st.data_editor(
            table, hide_index=True, width="stretch", key="names_table", disabled=["id", "depth", "skills", "label"],
            column_config={"suggested": st.column_config.TextColumn("new label (editable)")},
        )
        changed = {r.id: r.suggested for r in edited.itertuples() if str(r.suggested).strip() and r.suggested != r.label}
        if st.button(f"Apply {len(changed)} name(s)", key="do_relabel", disabled=not changed):
            st.session_state.pop("_suggested", None)
            run(Edit("relabel", {"labels": changed}), "Labels must be non-empty.")
else:
    parent = ui.cluster_picker("Parent cluster", ws, key="create_parent")
    label = st.text_input("Label", key="create_label")
    if st.button("Create", key="do_create", disabled=not label.strip()):
        run(Edit("create", {"parent_id": parent, "label": label}), "Pick a parent cluster and type a label.")

st.subheader("Edit log")
if log.records:
    df = pd.DataFrame(
        [
            {
                "#": r["seq"],
                "edit": r.get("description", r["op"]),
                "before (bits)": r["entropy_before"],
                "after (bits)": r["entropy_after"],
                "change": r["entropy_after"] - r["entropy_before"],
                "state": "applied" if r["seq"] <= log.position else "undone",
            }
            for r in log.records
        ]
    )
    st.dataframe(df, hide_index=True, width="stretch")
else:
    st.caption("No edits yet.")
