"""Data: choose the demo, uploads or a local file / folder / glob; map fields with a live preview; build."""

import pandas as pd
import streamlit as st

from pages import _shared as ui
from steps_engine.studio import inputs, state as studio_state
from steps_engine.studio.sources import preview_problems, suggest_mapping
from steps_engine.taxonomy.graph import WEIGHTINGS
from steps_engine.studio.plotting.long_tail import long_tail_figure

ws = ui.workspace()
st.title("Data")
if st.session_state.get("_data_done"):
    st.success(st.session_state.pop("_data_done"))
info = ws.input_info()
if info:
    st.caption(f"Workspace `{ws.root}` · current input `{info.get('path', '?')}` · skills field `{info.get('skills_field')}`")

with st.expander("Load a dataset", expanded=False):
    source = st.radio("Source", ["Bundled demo", "Upload files", "Local path", "Taxonomy folder"], horizontal=True,
                      key="data_source")
    inp = None
    if source == "Taxonomy folder":
        folder = st.text_input("Folder written by `steps taxonomy` (taxonomy.json, graph.csv)", key="data_folder")
        n_edits = ws.n_edits
        ok_replace = True
        if n_edits:
            ok_replace = st.checkbox(f"Replace the current taxonomy and its {n_edits} edit(s) (they are archived in the workspace)",
                                     key="confirm_replace_folder")
        if folder and st.button("Open", type="primary", key="open_folder", disabled=not ok_replace):
            with ui.user_errors("Give the folder that `steps taxonomy --out` wrote."):
                archived = ws.archive()
                studio_state.open_taxonomy(ws, folder)
                st.session_state.pop("_last_edit", None)
                st.session_state["_data_done"] = f"Opened {folder}" + (f"; the previous taxonomy is kept in `{archived}`" if archived else "")
                st.rerun()
    if source == "Bundled demo":
        with ui.user_errors("Reinstall the package (the bundled demo file is missing)."):
            inp = inputs.local_input(str(studio_state.demo_path()))
    elif source == "Upload files":
        ups = st.file_uploader("JSONL, JSON, CSV or Parquet; several files are read as shards of one input",
                               type=["jsonl", "ndjson", "json", "csv", "tsv", "parquet"], accept_multiple_files=True,
                               key="data_upload")
        if ups:
            with ui.user_errors("Upload data files named .jsonl, .json, .csv, .tsv or .parquet."):
                inp = inputs.store_uploads(ws, [(up.name, up.getvalue()) for up in ups])
    elif source == "Local path":
        text = st.text_input("Path to a local file, a folder of shards or a glob", key="data_path",
                             placeholder="/data/train.jsonl, /data/shards/ or /data/train-*.parquet")
        if text:
            with ui.user_errors("Check the path (it is read on the machine running the studio)."):
                inp = inputs.local_input(text)
    path = None if inp is None else inp.source
    for note in inp.notes if inp is not None else ():
        st.warning(note)

    if source != "Taxonomy folder":
        # field defaults follow the chosen file's shape; a value the user typed is kept
        fields = {"map_skills": "skills_field", "map_sep": "skills_sep", "map_text": "text_field", "map_height": "height"}
        token = None if inp is None else inp.token
        readable = True
        if path is not None and st.session_state.get("_map_for") != token:
            readable = False  # until its first records could be read (else one error, no stale defaults)
            with ui.user_errors("Check the file format."):
                new = suggest_mapping(path)
                old = st.session_state.get("_map_suggested") or {}
                for key, field in fields.items():
                    if key not in st.session_state or st.session_state[key] == old.get(field):
                        st.session_state[key] = new[field]
                st.session_state["_map_suggested"] = new
                st.session_state["_map_for"] = token
                readable = True
        for key, default in {"map_skills": "skills", "map_sep": "", "map_text": "", "map_height": 4}.items():
            st.session_state.setdefault(key, default)
        if st.session_state.get("_map_suggested") and path is not None and readable:
            st.caption(f"Defaults from the file: {st.session_state['_map_suggested']['note']}.")
        c1, c2, c3, c4 = st.columns(4)
        skills_field = c1.text_input("Skills field (dotted path)", key="map_skills")
        sep = c2.text_input("Skills separator (blank = list)", key="map_sep")
        text_field = c3.text_input("Text field (blank = detect)", key="map_text")
        casefold = c4.checkbox("Case-fold skills", False, key="map_casefold")
        c1, c2, c3 = st.columns(3)
        weighting = c1.selectbox("Edge weighting", WEIGHTINGS, key="map_weighting")
        min_count = c2.number_input("Min count", 1, 1000, 1, key="map_min_count")
        height = c3.slider("Tree height", 2, 6, key="map_height")

        mapping = None
        with ui.user_errors("Fix the field mapping."):
            from steps_engine.data.ingest import FieldMapping

            mapping = FieldMapping(skills_field=skills_field, skills_sep=sep or None, text_field=text_field or None, casefold=casefold)
        if path is not None and mapping is not None and readable:
            from steps_engine.data.ingest import preview

            rows = []
            with ui.user_errors("Check the file format and the field names."):
                rows = preview(path, mapping, n=8)
                files = inputs.input_summary(inp)
                st.caption(f"`{inp.label}`: {inputs.summary_line(inp, files)}. Live preview of the first parsed rows")
                st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
                if len(files) > 1:
                    st.dataframe(pd.DataFrame(files).drop(columns="capped"), hide_index=True, width="stretch",
                                 key="data_files")
            problems = preview_problems(rows)
            if problems["no_rows"]:
                st.error(f"`{inp.label}` holds no records (an empty file or only blank lines), so there is nothing to build."
                         "\n\n**Next:** choose the file with the data.")
            elif problems["unreadable"]:
                st.error(f"No previewed row of `{inp.label}` could be read ({problems['first_error']}), whatever the "
                         "field mapping.\n\n**Next:** save the file as UTF-8 JSON Lines, JSON, CSV or Parquet, "
                         "as its name says, and choose it again.")
            elif problems["all_errors"]:
                st.error(f"Every previewed row is an error: the skills field `{skills_field}` does not fit this file."
                         "\n\n**Next:** pick the skills field from the file's columns (see the errors above).")
            if problems["empty_text"]:
                where = f"the text field `{text_field}`" if text_field else "the detected text field"
                st.warning(f"No previewed row has text in {where}: synthesis would find no examples to show the model."
                           "\n\n**Next:** set the text field to the column holding the instructions.")
            n_edits = ws.n_edits
            ok_replace = True
            if n_edits:
                ok_replace = st.checkbox(
                    f"Replace the current taxonomy and its {n_edits} edit(s) (they are archived in the workspace)",
                    key="confirm_replace")
            if st.button("Build taxonomy", type="primary", key="build",
                         disabled=problems["all_errors"] or not rows or not ok_replace):
                archived = ws.archive()
                with st.status("Building the taxonomy…", expanded=True) as status:
                    try:
                        tax = studio_state.build_into_workspace(
                            ws, path, mapping, weighting=weighting, min_count=int(min_count), height=int(height),
                            progress=ui.progress_bar(status),
                        )
                    except (ValueError, OSError) as exc:
                        status.update(label="Build failed", state="error")
                        st.error(f"{exc}\n\n**Next:** check the field mapping against the preview.")
                    else:
                        done = f"Built the taxonomy of `{inp.label}`: {tax.graph.n_skills:,} skills, H^T = {tax.structural_entropy:.3f} bits"
                        status.update(label=done, state="complete")
                        st.session_state.pop("_last_edit", None)
                        st.session_state["_data_done"] = done + (f"; the previous taxonomy is kept in `{archived}`" if archived else "")
                        st.rerun()

            from steps_engine.studio import open_tag

            if open_tag.has_no_skills(rows) and not problems["unreadable"]:
                with st.container(border=True):
                    st.markdown(f"No skills in field `{skills_field}`: an LLM can tag the file with open tags, "
                                "merged into a vocabulary (`steps tag --open`), and build from the result.")
                    t1, t2, t3 = st.columns(3)
                    tag_model = t1.text_input("Model", "gpt-4o-mini", key="otag_model")
                    tag_url = t2.text_input("Base URL (blank = $OPENAI_BASE_URL or OpenAI)", "", key="otag_base_url")
                    tag_key = t3.text_input("API key (kept in this session only)", "", type="password", key="otag_key")
                    if st.button("Tag with the LLM, then build", key="otag_run", disabled=not ok_replace):
                        with st.status("Tagging…", expanded=True) as status, ui.user_errors("Check the model and endpoint."):
                            out, vocab, rep = open_tag.open_tag_into_workspace(
                                ws, path, tag_model, tag_url or None, tag_key or None, text_field or None,
                                progress=ui.progress_bar(status))
                            status.update(label=f"Tagged: {rep.summary()}", state="complete")
                            archived = ws.archive()
                            tax = studio_state.build_into_workspace(
                                ws, out, FieldMapping(skills_field="skills", text_field=text_field or None),
                                weighting=weighting, min_count=int(min_count), height=int(height))
                            st.session_state.pop("_last_edit", None)
                            st.session_state["_data_done"] = (
                                f"Tagged `{inp.label}` and built from `{out.name}` (vocabulary `{vocab.name}`): "
                                f"{tax.graph.n_skills:,} skills" + (f"; the previous taxonomy is kept in `{archived}`" if archived else ""))
                            st.rerun()

# ---- the report of what is loaded ------------------------------------------------
report = ws.read_json("taxonomy/ingest_report.json", {}) or {}
graph = ws.graph
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Rows read", f"{report.get('rows_read', 0):,}")
c2.metric("Rows used", f"{report.get('rows_used', 0):,}")
c3.metric("Rows skipped", f"{report.get('rows_skipped', 0):,}")
c4.metric("Distinct skills", f"{graph.n_skills:,}")
c5.metric("Pairs never seen together", f"{studio_state.never_seen_share(graph):.1%}")
if report.get("rows_skipped"):
    st.caption("Skipped rows by reason: " + ", ".join(f"{k}: {v}" for k, v in report.get("skipped_by_reason", {}).items()))
    st.dataframe(pd.DataFrame(report.get("skipped", [])[:200]), hide_index=True, width="stretch")
if report.get("noted"):  # rows used, but not as they were (a capped skill list, null items)
    st.caption("Rows used with changes, by reason: " + ", ".join(f"{k}: {v}" for k, v in report.get("noted_by_reason", {}).items()))
    st.dataframe(pd.DataFrame(report["noted"][:200]), hide_index=True, width="stretch", key="data_noted")
for warning in report.get("warnings") or []:
    st.warning(f"{warning}\n\n**Next:** check the field mapping and build again.")
st.plotly_chart(long_tail_figure(graph.counts, graph.skills), key="long_tail")
