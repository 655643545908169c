"""Export: write the reviewed results as training data (+ dataset card); download a copy."""

import streamlit as st

from pages import _shared as ui
from steps_engine.studio import review as review_queue
from steps_engine.studio import state as studio_state

ws = ui.workspace()
st.title("Export")

from steps_engine.export import FORMATS, PRESETS, export  # noqa: E402

samples, checked = review_queue.read_samples(ws)  # checked results once "Check quality" has run
results = {r["id"]: r for r in samples}
review = ws.read_json("results/review.json", {}) or {}
ok = sum(r.get("status") == "ok" for r in results.values())
rejected = sum(review.get(i) == "rejected" for i, r in results.items() if r.get("status") == "ok")
c1, c2, c3, c4 = st.columns(4)
c1.metric("Results", len(results))
c2.metric("Usable (ok)", ok)
c3.metric("Rejected in review", rejected)
c4.metric("Rejected by checks", sum(r.get("status") == "rejected" for r in results.values()) if checked else "not checked")
if not results:
    st.info("Nothing to export yet.")
    st.page_link("pages/synthesize.py", label="Generate samples first", icon=":material/auto_awesome:")
    st.stop()

c1, c2, c3 = st.columns(3)
fmt = c1.selectbox("Format", list(FORMATS), key="exp_format",
                   help="chat: messages list (TRL SFTTrainer); sharegpt: conversations from/value; alpaca; parquet")
mode = c2.radio("Curriculum", ["none", *PRESETS, "custom"], horizontal=True, key="exp_curriculum")
curriculum = None if mode == "none" else mode
if mode == "custom":
    curriculum = c2.text_input("Weights per epoch (k:weight, epochs split by ';')", "2:0.6,3:0.4;2:0.3,3:0.7", key="exp_weights")
name = c3.text_input("File name", "dataset", key="exp_name").strip() or "dataset"
seed = int(c3.number_input("Seed", 0, 10_000, 0, key="exp_seed"))

if st.button("Export", type="primary", key="exp_run"):
    with st.status("Exporting…") as status:
        bar = st.progress(0.0)
        try:
            src, kept, dropped = studio_state.write_reviewed(ws)
            out, base = studio_state.export_path(ws, fmt, name)
            if base != name:
                st.caption(f"File name `{name}` → `{out.name}` (the file stays in the workspace's exports folder).")
            rep = export(src, fmt=fmt, out=out, curriculum=curriculum, seed=seed, taxonomy_dir=ws.current_dir,
                         progress=lambda d, t: bar.progress(d / max(t, 1)))
        except (ValueError, OSError) as exc:
            status.update(label="Export failed", state="error")
            st.error(f"{exc}\n\n**Next:** check the curriculum weights and that some samples are accepted.")
        else:
            ws.write_json("exports/last.json", {**rep.to_json(), "dropped_in_review": dropped})
            status.update(label=rep.summary(), state="complete")

last = ws.read_json("exports/last.json")
if last:
    from pathlib import Path

    out = Path(last["out"])
    st.subheader("Last export")
    st.write(f"**{last['records']}** records as `{last['format']}` → `{out}`"
             + (f" · {last['dropped_in_review']} dropped in review" if last.get("dropped_in_review") else ""))
    st.dataframe({"k": list(last["per_k"].keys()), "records": list(last["per_k"].values())}, hide_index=True)
    for p in last.get("problems", [])[:5]:
        st.warning(p)
    if out.is_file():
        st.download_button("Download", out.read_bytes(), file_name=out.name, key="exp_download", type="primary")
    if last.get("card") and Path(last["card"]).is_file():
        with st.expander("Dataset card (README.md)"):
            st.markdown(Path(last["card"]).read_text(encoding="utf-8"))
