"""Curate: edit the taxonomy (rename, move, merge, split, exclude, create) with undo/redo."""

import json

import pandas as pd
import streamlit as st

from pages import _shared as ui
from steps_engine.studio import state as studio_state
from steps_engine.curation.edits import Edit

ws = ui.workspace()
st.title("Curate")
st.caption("Each edit shows the structural entropy before → after: the cost of overriding the data. Edits are saved in the workspace.")
ui.entropy_metrics(ws)


def run(edit: Edit, next_step: str) -> None:
    with ui.user_errors(next_step):
        res = ws.apply(edit)
        ui.show_edit_result(res, ws)
        st.session_state["_compare"] = []
        st.rerun()


@st.cache_data(max_entries=64, show_spinner=False)
def cost(tree_key: str, edit_json: str, _ws) -> tuple[float, float, str]:
    """What-if: (before, after, description) of an edit on the current tree, nothing applied."""
    e = Edit.from_json(json.loads(edit_json))
    res = _ws.what_if(e)
    return res.entropy_before, res.entropy_after, res.edit.describe(_ws.tree)


@st.cache_data(max_entries=8, show_spinner=False)
def keyword_table(tree_key: str, _ws):
    return studio_state.keyword_name_table(_ws)


def what_if(edit: Edit | None, key: str) -> None:
    """Show the entropy cost of `edit` before it is applied, and let the curator keep it
    in a comparison table beside other options."""
    if edit is None:
        return
    try:
        before, after, desc = cost(ws.tree_key, json.dumps(edit.to_json(), sort_keys=True), ws)
    except (ValueError, KeyError) as exc:
        st.caption(f"Not applicable yet: {exc}")
        return
    c1, c2 = st.columns([3, 1])
    c1.info(f"What if: {desc} → structural entropy {before:.4f} → {after:.4f} bits ({after - before:+.4f})")
    if c2.button("Add to comparison", key=f"cmp_{key}"):
        rows = [r for r in st.session_state.get("_compare", []) if r["edit"] != desc]
        st.session_state["_compare"] = rows + [{"edit": desc, "before (bits)": before, "after (bits)": after, "change": after - before}]


log = ws.log
c1, c2, c3 = st.columns([1, 1, 4])
if c1.button("Undo", disabled=not log.can_undo, key="undo", icon=":material/undo:"):
    record = log.records[log.position - 1]
    ws.undo()
    ui.show_undo_redo(record, undone=True)
    st.rerun()
if c2.button("Redo", disabled=not log.can_redo, key="redo", icon=":material/redo:"):
    record = log.records[log.position]
    ws.redo()
    ui.show_undo_redo(record, undone=False)
    st.rerun()
c3.caption(f"Edit {log.position} of {len(log.records)}")
ui.last_edit_banner()

skills = ui.skill_names(ws)
OPS = ["Rename", "Move skills", "Merge", "Split", "Exclude", "New cluster", "Name by meaning", "Name by keywords", "Name by LLM"]
op = ui.one_of("Edit", OPS, default="Move skills", key="curate_op")
if op == "Rename":
    node = ui.cluster_picker("Cluster", ws, key="rename_node")
    label = st.text_input("New label", key="rename_label")
    if st.button("Rename", key="do_rename", disabled=not label.strip()):
        run(Edit("rename", {"node_id": node, "label": label}), "Pick a cluster and type a label.")
elif op == "Move skills":
    chosen = st.multiselect("Skills", skills, key="move_skills")
    target = ui.cluster_picker("Into cluster", ws, key="move_target")
    what_if(Edit("move", {"skills": chosen, "target_id": target}) if chosen else None, "move")
    if st.button("Move", key="do_move", disabled=not chosen):
        run(Edit("move", {"skills": chosen, "target_id": target}), "Pick skills and a cluster.")
elif op == "Merge":
    source = ui.cluster_picker("Merge this cluster…", ws, key="merge_source", include_root=False)
    target = ui.cluster_picker("…into this one", ws, key="merge_target")
    what_if(Edit("merge", {"target_id": target, "source_id": source}) if source != target else None, "merge")
    if st.button("Merge", key="do_merge", disabled=source == target):
        run(Edit("merge", {"target_id": target, "source_id": source}), "Pick two different clusters; the first must not contain the second.")
elif op == "Split":
    node = ui.cluster_picker("Cluster to split", ws, key="split_node", include_root=True)
    how = st.radio("Parts", ["by entropy (the merge operator re-partitions it)", "my own group (the chosen skills become a new sub-cluster)"],
                   key="split_how", help="On the Skill map a lasso selection can be split off the same way.")
    edit = None
    if node is not None and how.startswith("by entropy"):
        edit = Edit("split", {"node_id": node})
    elif node is not None:
        members = sorted(ws.tree.members(ws.tree.node_index(node)))
        group = st.multiselect("Skills of the new sub-cluster", members, key="split_group")
        edit = Edit("split", {"node_id": node, "groups": [group]}) if group else None
    what_if(edit, "split")
    if st.button("Split", key="do_split", disabled=edit is None):
        run(edit, "Pick a cluster with at least two skills (and some of its skills for your own group).")
elif op == "Exclude":
    chosen = st.multiselect("Skills to exclude", skills, key="exclude_skills")
    what_if(Edit("exclude", {"skills": chosen}) if chosen else None, "exclude")
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
            run(Edit("relabel", {"labels": changed, "by": "meaning"}), "Labels must be non-empty.")
elif op == "Name by keywords":
    st.caption("Names from the words that distinguish each cluster's rows (c-TF-IDF) and its most central skills. "
               "Hand-written labels are kept; applied as one undoable edit.")
    table = keyword_table(ws.tree_key, ws)
    st.dataframe(table, hide_index=True, width="stretch", height=300)
    changed = {r.id: r.keywords for r in table.itertuples() if r.keywords != r.label}
    if st.button(f"Apply {len(changed)} keyword name(s)", key="do_keywords", disabled=not changed):
        run(Edit("relabel", {"labels": changed, "by": "keywords"}), "Labels must be non-empty.")
elif op == "Name by LLM":
    st.caption("An LLM behind any OpenAI-compatible endpoint names every cluster (bottom-up, so a parent sees its "
               "children's names) with a one-sentence description. Answers are cached: a rerun resumes. A broken "
               "answer keeps the current name. Hand-written labels are kept. The key is used for this request only.")
    c1, c2, c3 = st.columns(3)
    model = c1.text_input("Model", key="llm_model", placeholder="gpt-4o-mini")
    base_url = c2.text_input("Endpoint (blank = OpenAI)", key="llm_base_url")
    api_key = c3.text_input("API key (blank = $OPENAI_API_KEY)", type="password", key="llm_key")
    if st.button("Name clusters", key="do_llm_names", disabled=not model.strip()):
        with st.status("Naming clusters…", expanded=True) as status, ui.user_errors("Check the model and the endpoint."):
            bar = st.progress(0.0)
            names, failures = studio_state.llm_names(ws, model.strip(), base_url.strip() or None, api_key.strip() or None,
                                                     progress=lambda d, t: bar.progress(d / max(t, 1), text=f"{d}/{t} clusters"))
            status.update(label=f"{len(names)} named, {len(failures)} unusable answer(s)", state="complete" if names else "error")
            for node_id, reason in list(failures.items())[:10]:
                st.caption(f"{node_id}: kept its name ({reason})")
            if names:
                run(Edit("relabel", {"labels": {k: v[0] for k, v in names.items()}, "by": "llm",
                                     "descriptions": {k: v[1] for k, v in names.items()}}), "Labels must be non-empty.")
else:
    parent = ui.cluster_picker("Parent cluster", ws, key="create_parent")
    label = st.text_input("Label", key="create_label")
    what_if(Edit("create", {"parent_id": parent, "label": label}) if label.strip() else None, "create")
    if st.button("Create", key="do_create", disabled=not label.strip()):
        run(Edit("create", {"parent_id": parent, "label": label}), "Pick a parent cluster and type a label.")

compare = st.session_state.get("_compare") or []
if compare:
    st.subheader("Compared edits (not applied)")
    st.dataframe(pd.DataFrame(compare), hide_index=True, width="stretch")
    if st.button("Clear comparison", key="cmp_clear"):
        st.session_state["_compare"] = []
        st.rerun()

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
