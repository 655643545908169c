"""Synthesize & preview: the exact prompts for chosen combinations, generation through any
OpenAI-compatible endpoint (or a dry run without a key), accept/reject per sample."""

import json
import os

import streamlit as st

from pages import _shared as ui
from steps_engine.studio import state as studio_state
from steps_engine.synthesis.prompts import DEFAULT_TEMPLATE, template_hash

ws = ui.workspace()
st.title("Synthesize & preview")

summary, records = studio_state.load_selection(ws)
combos = records.get("steps", []) if summary else []
if not combos:
    st.info("No combinations yet.")
    st.page_link("pages/combinations.py", label="Select combinations first", icon=":material/hub:")
    st.stop()


@st.cache_data(max_entries=16, show_spinner=False)
def jobs_for(tree_key: str, chosen_json: str, template: str, model: str, seed: int, _ws):
    import json

    from steps_engine.synthesis.runner import prepare_jobs

    jobs, problems = prepare_jobs(_ws.current_dir, json.loads(chosen_json), model=model, template=template, seed=seed)
    return [{"id": j.id, "skills": j.combo["skills"], "messages": j.messages,
             "seeds": [s.to_json() for s in j.seeds]} for j in jobs], problems


labels = [f"{i}: {' + '.join(c['skills'])} (gain {c['gain']:.3f})" for i, c in enumerate(combos)]
with st.expander("Endpoint and prompt", expanded=False):
    c1, c2, c3 = st.columns(3)
    model = c1.text_input("Model", os.environ.get("OPENAI_MODEL", "gpt-4o-mini"), key="syn_model")
    base_url = c2.text_input("Base URL (blank = $OPENAI_BASE_URL or OpenAI)", "", key="syn_base_url")
    key = c3.text_input("API key (kept in this session only)", "", type="password", key="syn_key",
                        help="Never written to disk. Blank = $OPENAI_API_KEY.")
    seed = int(st.number_input("Seed (example choice)", 0, 10_000, 0, key="syn_seed"))
    template = st.text_area("Prompt template", DEFAULT_TEMPLATE, height=260, key="syn_template")
api_key = key or os.environ.get("OPENAI_API_KEY") or None
chosen = st.multiselect("Combinations to preview", range(len(combos)), default=list(range(min(3, len(combos)))),
                        format_func=lambda i: labels[i], key="syn_pick")
if not chosen:
    st.stop()

jobs, problems = [], []
with ui.user_errors("Fix the template (placeholders: {k} {skills} {skill_list} {start} {examples} {taxonomy_path})."):
    with st.spinner("Picking seed examples…"):
        chosen_json = json.dumps([combos[i] for i in chosen], sort_keys=True)  # the cache key is the content
        jobs, problems = jobs_for(ws.tree_key, chosen_json, template, model, seed, ws)
for p in problems[:5]:
    st.warning(p)

out = ws.path("results", "results.jsonl")
c1, c2 = st.columns(2)
if c1.button("Generate", type="primary", disabled=api_key is None or not jobs, key="syn_generate",
             help=None if api_key else "Set an API key (or OPENAI_API_KEY) to generate; the prompts below are a dry run."):
    from steps_engine.synthesis.runner import synthesize

    with st.status("Generating…", expanded=True) as status:
        bar = st.progress(0.0)

        def on_progress(ev: dict) -> None:
            total = max(ev["total"], 1)
            bar.progress(min(ev["done"] / total, 1.0), text=f"{ev['done']}/{ev['total']} ({ev['ok']} ok, {ev['failed']} failed)")

        try:
            rep = synthesize(ws.current_dir, [combos[i] for i in chosen], model=model, out=out, api_key=api_key,
                             base_url=base_url or None, template=template, seed=seed, progress=on_progress,
                             cache_dir=ws.path("results", "cache"))
        except (ValueError, OSError) as exc:
            status.update(label="Generation failed", state="error")
            st.error(f"{exc}\n\n**Next:** check the model name, base URL and key.")
        else:
            status.update(label=rep.summary(), state="error" if rep.status == "nothing" else "complete", expanded=False)
            for p in rep.problems[:5]:
                st.warning(p)
if c2.button("Write dry run (prompts + Batch file)", disabled=not jobs, key="syn_dry"):
    from steps_engine.synthesis.runner import synthesize

    with ui.user_errors():
        rep = synthesize(ws.current_dir, [combos[i] for i in chosen], model=model, out=out, template=template,
                         seed=seed, dry_run=True)
        st.success(f"Prompts: `{rep.prompts_path}` · Batch input: `{rep.batch_path}`")

results = studio_state.read_results_by_id(ws)
review = ws.read_json("results/review.json", {}) or {}
for job in jobs:
    with st.container(border=True):
        st.markdown(f"**{' + '.join(job['skills'])}** · `{job['id']}`")
        with st.expander("Prompt (exactly what is sent)", expanded=api_key is None and job is jobs[0]):
            for m in job["messages"]:
                st.caption(m["role"])
                st.code(m["content"], language=None, wrap_lines=True)
        rec = results.get(job["id"])
        if rec is None:
            st.caption("Not generated yet.")
            continue
        if rec.get("status") != "ok":
            st.warning(f"{rec.get('status')}: {rec.get('reason')}")
            continue
        for m in rec["messages"]:
            with st.chat_message(m["role"]):
                st.write(m["content"])
        choice = st.radio("Keep this sample?", ["accept", "reject"], horizontal=True, key=f"review_{job['id']}",
                          index=1 if review.get(job["id"]) == "rejected" else 0)
        want = "rejected" if choice == "reject" else "accepted"
        if review.get(job["id"]) != want:
            review[job["id"]] = want
            ws.write_json("results/review.json", review)
st.caption(f"Prompt template hash `{template_hash(template)[:12]}` · results in `{out}`")
