"""Synthesize & preview: the exact prompts for chosen combinations, generation through any
OpenAI-compatible endpoint (or a dry run without a key), then the review queue: quality check,
filters, the judge's verdicts, seed examples, accept / reject one or many."""

import json
import os

import streamlit as st

from pages import _shared as ui
from steps_engine.studio import review as rq
from steps_engine.studio import state as studio_state
from steps_engine.synthesis.prompts import DEFAULT_TEMPLATE, TEMPLATES, template_hash

ws = ui.workspace()
st.title("Synthesize & preview")

summary, records = studio_state.load_selection(ws)
combos = records.get("steps", []) if summary else []


@st.cache_data(max_entries=16, show_spinner=False)
def jobs_for(tree_key: str, chosen_json: str, template: str, model: str, seed: int, _ws):
    import json

    from steps_engine.synthesis.runner import prepare_jobs

    jobs, problems = prepare_jobs(_ws.current_dir, json.loads(chosen_json), model=model, template=template, seed=seed)
    return [{"id": j.id, "skills": j.combo["skills"], "messages": j.messages,
             "seeds": [s.to_json() for s in j.seeds]} for j in jobs], problems


out = ws.path("results", "results.jsonl")
with st.expander("Endpoint and prompt", expanded=False):
    c1, c2, c3 = st.columns(3)
    model = c1.text_input("Model", os.environ.get("OPENAI_MODEL", "gpt-4o-mini"), key="syn_model")
    base_url = c2.text_input("Base URL (blank = $OPENAI_BASE_URL or OpenAI)", "", key="syn_base_url")
    key = c3.text_input("API key (kept in this session only)", "", type="password", key="syn_key",
                        help="Never written to disk. Blank = $OPENAI_API_KEY.")
    c1, c2 = st.columns(2)
    seed = int(c1.number_input("Seed (example choice)", 0, 10_000, 0, key="syn_seed"))
    builtin = c2.radio("Built-in template", list(TEMPLATES), horizontal=True, key="syn_builtin",
                       help="default: one multi-turn conversation; agent: a goal, real data in the user turn, "
                            "an assistant that plans, acts and checks")
    template = st.text_area("Prompt template", TEMPLATES.get(builtin, DEFAULT_TEMPLATE), height=260,
                            key=f"syn_template_{builtin}")
api_key = key or os.environ.get("OPENAI_API_KEY") or None

if not combos:
    st.info("No combinations yet: select some to generate new samples (the review queue below works on "
            "existing results and the bundled demo samples).")
    st.page_link("pages/combinations.py", label="Select combinations first", icon=":material/hub:")
    jobs = []
else:
    labels = [f"{i}: {' + '.join(c['skills'])} (gain {c['gain']:.3f})" for i, c in enumerate(combos)]
    chosen = st.multiselect("Combinations to preview", range(len(combos)), default=list(range(min(3, len(combos)))),
                            format_func=lambda i: labels[i], key="syn_pick")
    jobs, problems = [], []
    if chosen:
        with ui.user_errors("Fix the template (placeholders: {k} {skills} {skill_list} {start} {examples} {taxonomy_path})."):
            with st.spinner("Picking seed examples…"):
                chosen_json = json.dumps([combos[i] for i in chosen], sort_keys=True)  # the cache key is the content
                jobs, problems = jobs_for(ws.tree_key, chosen_json, template, model, seed, ws)
        for p in problems[:5]:
            st.warning(p)
    if jobs:  # cost before spending: the exact prompts, counted and priced
        from steps_engine.llm.cost import estimate
        from steps_engine.synthesis.estimate import expected_output_tokens

        st.caption("Before Generate: " + estimate([j["messages"] for j in jobs], model,
                                                  expected_output_tokens=expected_output_tokens(out)[0]).summary())
    c1, c2 = st.columns(2)
    if c1.button("Generate", type="primary", disabled=api_key is None or not jobs, key="syn_generate",
                 help=None if api_key else "Set an API key (or OPENAI_API_KEY) to generate; the prompts below are a dry run."):
        with st.status("Generating…", expanded=True) as status:
            bar = st.progress(0.0)

            def on_progress(ev: dict) -> None:
                total = max(ev["total"], 1)
                bar.progress(min(ev["done"] / total, 1.0), text=f"{ev['done']}/{ev['total']} ({ev['ok']} ok, {ev['failed']} failed)")

            try:
                reps = studio_state.generate(ws, [combos[i] for i in chosen], [j["id"] for j in jobs], model=model,
                                             out=out, api_key=api_key, base_url=base_url or None, template=template,
                                             seed=seed, progress=on_progress, cache_dir=ws.path("results", "cache"),
                                             allow_other_runs=True)
            except (ValueError, OSError) as exc:
                status.update(label="Generation failed", state="error")
                st.error(f"{exc}\n\n**Next:** check the model name, base URL and key.")
            else:
                status.update(label=" · then ".join(r.summary() for r in reps),
                              state="error" if any(r.status == "nothing" for r in reps) else "complete", expanded=False)
                for p in [p for r in reps for p in r.problems][:5]:
                    st.warning(p)
    if c2.button("Write dry run (prompts + Batch file)", disabled=not jobs, key="syn_dry"):
        from steps_engine.synthesis.runner import synthesize

        with ui.user_errors():
            rep = synthesize(ws.current_dir, [combos[i] for i in chosen], model=model, out=out, template=template,
                             seed=seed, dry_run=True, allow_other_runs=True)
            st.success(f"Prompts: `{rep.prompts_path}` · Batch input: `{rep.batch_path}`")
    done = studio_state.read_results_by_id(ws)
    for job in jobs:
        with st.expander(f"Prompt: {' + '.join(job['skills'])} · `{job['id']}`"
                         + (f" · {done[job['id']]['status']}" if job["id"] in done else " · not generated yet"),
                         expanded=api_key is None and job is jobs[0]):
            for m in job["messages"]:
                st.caption(m["role"])
                st.code(m["content"], language=None, wrap_lines=True)
    st.caption(f"Prompt template hash `{template_hash(template)[:12]}` · results in `{out}`")

# ---- the review queue -------------------------------------------------------------------
st.header("Review queue")
samples, checked = rq.read_samples(ws)
if not samples:
    if rq.demo_sample_skills_missing(ws):  # not the demo's taxonomy: its samples would pass for this dataset's
        st.info("No samples yet. Generate some above.")
        st.stop()
    st.info("No samples yet. Generate some above, or try the queue on the bundled demo samples "
            "(hand-written, some deliberately flawed; no key needed).")
    if st.button("Load the demo samples", key="syn_demo"):
        with ui.user_errors():
            n = rq.load_demo_samples(ws)
            st.success(f"Loaded {n} demo samples.")
            st.rerun()
    st.stop()

with st.expander("Check quality (near-duplicates, seed copies, benchmark overlap, rules, LLM judge)",
                 expanded=not checked):
    c1, c2 = st.columns(2)
    bench_text = c1.text_area("Benchmark files to decontaminate against (one path per line)",
                              str(rq.DEMO_BENCHMARK) if any(r.get("demo") for r in samples) else "",
                              key="syn_bench", height=80)
    judge_model = c2.text_input("Judge model (blank = no judge; uses the key above)", "", key="syn_judge")
    min_score = c2.number_input("Reject below judge score (0 = off)", 0, 10, 0, key="syn_min_score")
    all_skills = c2.checkbox("Reject when a skill is not exercised", value=False, key="syn_all_skills")
    if st.button("Check quality", type="primary", key="syn_check"):
        with st.status("Checking…", expanded=True) as status:
            bar = st.progress(0.0)

            def on_check(ev: dict) -> None:
                bar.progress(min(ev["done"] / max(ev["total"], 1), 1.0), text=f"{ev['stage']}: {ev['done']}/{ev['total']}")

            try:
                rep = rq.run_check(ws, decontaminate=[p.strip() for p in bench_text.splitlines() if p.strip()],
                                   judge_model=judge_model.strip() or None, api_key=api_key,
                                   base_url=base_url or None, min_score=min_score or None,
                                   require_all_skills=all_skills, progress=on_check)
            except (ValueError, OSError) as exc:
                status.update(label="Check failed", state="error")
                st.error(f"{exc}\n\n**Next:** check the benchmark paths, the judge model and the key.")
            else:
                status.update(label=f"{rep.ok} ok, {rep.rejected} rejected by checks", state="complete", expanded=False)
                st.code(rep.table(), language=None)
                for p in rep.problems[:5]:
                    st.warning(p)
                samples, checked = rq.read_samples(ws)

review = ws.read_json("results/review.json", {}) or {}
df = rq.queue_frame(samples, review)
n = rq.counts(df)
c = st.columns(5)
c[0].metric("Samples", n["samples"])
c[1].metric("Reviewed", n["reviewed"])
c[2].metric("Accepted", n["accepted"])
c[3].metric("Rejected in review", n["rejected"])
c[4].metric("Rejected by checks", n["rejected_by_checks"] if checked else "not checked")

codes = sorted({c for cell in df["reasons"] for c in cell.split(", ") if c})
f1, f2, f3, f4 = st.columns(4)
decisions = f1.multiselect("Decision", list(rq.DECISIONS), default=[], key="rq_decision")
reason = f2.selectbox("Reason", ["(all)", "any", "none", *codes], key="rq_reason")
ks = f3.multiselect("k", sorted(df["k"].unique().tolist()), default=[], key="rq_k")
sort = f4.selectbox("Sort", ["id", "score", "score_low", "k", "cluster"], key="rq_sort",
                    format_func={"id": "id", "score": "judge score, high first", "score_low": "judge score, low first",
                                 "k": "k", "cluster": "near-duplicate cluster"}.get)
scored = df["score"].notna().any()
score_range = None
if scored and st.checkbox("Filter by judge score", key="rq_use_score"):
    score_range = st.slider("Judge score", 0.0, 10.0, (0.0, 10.0), 0.5, key="rq_score")
clusters = sorted(df.loc[df["cluster_size"] > 1, "cluster"].unique().tolist())
cluster = None
if clusters:
    pick = st.selectbox("Near-duplicate cluster", ["(all)", *clusters], key="rq_cluster",
                        help="a cluster is named by the id of the sample kept from it")
    cluster = None if pick == "(all)" else pick
shown = rq.filter_frame(df, decisions=decisions, reason=None if reason == "(all)" else reason, ks=ks,
                        score_range=score_range, cluster=cluster, sort=sort)

OPTIONS = ["unreviewed", "accept", "reject"]
TO_DECISION = {"unreviewed": "unreviewed", "accept": "accepted", "reject": "rejected"}
DECISION_INDEX = {"unreviewed": 0, "accepted": 1, "rejected": 2}
b1, b2, b3, b4 = st.columns(4)
b1.write(f"**{len(shown)}** of {len(df)} shown")
for col, label, decision in ((b2, "Accept all shown", "accepted"), (b3, "Reject all shown", "rejected"),
                             (b4, "Reset shown to unreviewed", "unreviewed")):
    if col.button(label, key=f"rq_bulk_{decision}", disabled=shown.empty):
        review = rq.set_decisions(review, shown["id"].tolist(), decision)
        ws.write_json("results/review.json", review)
        for i in shown["id"]:  # set, not dropped: the browser keeps a dropped radio's old choice and sends it back
            st.session_state[f"review_{i}"] = OPTIONS[DECISION_INDEX[decision]]
        st.rerun()

PAGE = 20
pages = max(1, -(-len(shown) // PAGE))
page = int(st.number_input("Page", 1, pages, 1, key="rq_page")) if pages > 1 else 1
by_id = {r["id"]: r for r in samples}


def decide(rid: str) -> None:
    """Radio callback: saved before the rerun, so the counts above are current."""
    saved = ws.read_json("results/review.json", {}) or {}
    ws.write_json("results/review.json", rq.set_decisions(saved, [rid], TO_DECISION[st.session_state[f"review_{rid}"]]))


for rid in shown["id"].iloc[(page - 1) * PAGE : page * PAGE]:
    rec = by_id[rid]
    q = rec.get("quality") or {}
    verdict = q.get("judge") or {}
    with st.container(border=True):
        head = f"**{' + '.join(rec.get('skills') or [])}** · `{rid}` · k={rec.get('k')}"
        if rec.get("generation"):
            head += f" · generation {rec['generation']}"
        if isinstance(verdict.get("score"), (int, float)):
            head += f" · judge score **{verdict['score']:g}**"
        st.markdown(head)
        if rec.get("demo"):
            st.caption(rec.get("provenance_note") or "demo data")
        if rec.get("reasons"):
            details = q.get("details") or {}
            st.warning("; ".join(f"`{c}` {details.get(c, '')}" for c in rec["reasons"]))
        elif rec.get("status") != "ok":
            st.warning(f"{rec.get('status')}: {rec.get('reason')}")
        for m in rec.get("messages") or []:
            with st.chat_message(m["role"]):
                st.write(m["content"])
        if verdict.get("skills"):
            st.dataframe([{"skill": s, "essential": v.get("essential"), "exercised": v.get("exercised"),
                           "evidence": v.get("evidence")} for s, v in verdict["skills"].items()],
                         hide_index=True, use_container_width=True)
        elif verdict.get("error"):
            st.caption(f"judge: {verdict['error']}")
        with st.expander("Seed examples"):
            for s in rq.seed_examples(ws, rec):
                st.markdown(f"**{ui.plain(s['skill'])}** · `{s['source_id']}`")
                st.text(s["text"] or "(text not available)")
                if s["response"]:
                    st.caption("response")
                    st.text(s["response"])
        current = review.get(rid, "unreviewed")
        if st.session_state.get(f"review_{rid}") not in (None, OPTIONS[DECISION_INDEX[current]]):
            st.session_state[f"review_{rid}"] = OPTIONS[DECISION_INDEX[current]]  # decided elsewhere: show it
        st.radio("Decision", OPTIONS, horizontal=True, key=f"review_{rid}", index=DECISION_INDEX[current],
                 on_change=decide, args=(rid,))
