"""Data: choose the demo, an upload or a local file; map fields with a live preview; build."""

import pandas as pd
import streamlit as st

from pages import _shared as ui
from steps_engine.studio import state as studio_state
from steps_engine.taxonomy.graph import WEIGHTINGS
from steps_engine.studio.plotting.long_tail import long_tail_figure

ws = ui.workspace()
st.title("Data")
info = ws.input_info()
if info:
    st.caption(f"Workspace `{ws.root}` · current input `{info.get('path', '?')}` · skills field `{info.get('skills_field')}`")

with st.expander("Load a dataset", expanded=False):
    source = st.radio("Source", ["Bundled demo", "Upload a file", "Local path", "Taxonomy folder"], horizontal=True,
                      key="data_source")
    path = None
    if source == "Taxonomy folder":
        folder = st.text_input("Folder written by `steps taxonomy` (taxonomy.json, graph.csv)", key="data_folder")
        if folder and st.button("Open", type="primary", key="open_folder"):
            with ui.user_errors("Give the folder that `steps taxonomy --out` wrote."):
                studio_state.open_taxonomy(ws, folder)
                st.session_state.pop("_last_edit", None)
                st.rerun()
    if source == "Bundled demo":
        path = studio_state.demo_path()
    elif source == "Upload a file":
        up = st.file_uploader("JSONL, JSON, CSV or Parquet", type=["jsonl", "ndjson", "json", "csv", "tsv", "parquet"])
        if up is not None:
            path = studio_state.store_upload(ws, up.name, up.getvalue())
    elif source == "Local path":
        text = st.text_input("Path to a local file", key="data_path", placeholder="/data/train.jsonl")
        if text:
            from pathlib import Path

            path = Path(text).expanduser()
            if not path.is_file():
                st.error(f"{path} is not a file.\n\n**Next:** check the path (it is read on the machine running the studio).")
                path = None

    demo = source == "Bundled demo"
    if source != "Taxonomy folder":
        c1, c2, c3, c4 = st.columns(4)
        skills_field = c1.text_input("Skills field (dotted path)", "skills", key="map_skills")
        sep = c2.text_input("Skills separator (blank = list)", "", key="map_sep")
        text_field = c3.text_input("Text field (blank = detect)", "instruction" if demo else "", key="map_text")
        casefold = c4.checkbox("Case-fold skills", False, key="map_casefold")
        c1, c2, c3 = st.columns(3)
        weighting = c1.selectbox("Edge weighting", WEIGHTINGS, key="map_weighting")
        min_count = c2.number_input("Min count", 1, 1000, 1, key="map_min_count")
        height = c3.slider("Tree height", 2, 6, 3 if demo else 4, key="map_height")

        mapping = None
        with ui.user_errors("Fix the field mapping."):
            from steps_engine.data.ingest import FieldMapping

            mapping = FieldMapping(skills_field=skills_field, skills_sep=sep or None, text_field=text_field or None, casefold=casefold)
        if path is not None and mapping is not None:
            from steps_engine.data.ingest import preview

            with ui.user_errors("Check the file format and the field names."):
                rows = preview(path, mapping, n=8)
                st.caption("Live preview of the first parsed rows")
                st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
            if st.button("Build taxonomy", type="primary", key="build"):
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
                        status.update(label=f"Built: {tax.graph.n_skills} skills, H^T = {tax.structural_entropy:.3f} bits", state="complete")
                        st.session_state.pop("_last_edit", None)
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
st.plotly_chart(long_tail_figure(graph.counts, graph.skills), key="long_tail")
