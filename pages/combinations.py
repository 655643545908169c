"""Combinations: a dataset of N combinations (the budget) under coherence constraints; dataset
metrics and skill usage beside the random baseline; why each combination was picked."""

import pandas as pd
import streamlit as st

from pages import _shared as ui
from steps_engine.studio import state as studio_state
from steps_engine.selection.budget import DEFAULT_LOCAL_REUSE_DISCOUNT, DEFAULT_MAX_PAIR_USES, DEFAULT_REUSE_DISCOUNT
from steps_engine.studio.plotting.strategies import strategy_figure
from steps_engine.studio.plotting.usage import skill_usage_figure

ws = ui.workspace()
st.title("Combinations")
st.caption("A dataset of skill combinations that add the most structural information while staying inside a coherent subtree, "
           "spread over the taxonomy instead of repeating a few hub skills. Selection runs on the curated tree.")

skills = ui.skill_names(ws)
height = max(ws.tree.height, 1)


@st.cache_data(max_entries=4, show_spinner=False)
def similarity(tree_key: str, _ws):
    from steps_engine.selection.coherence import skill_similarity

    return skill_similarity(_ws.tree.skills)


b1, b2, b3, b4 = st.columns(4)
budget = int(b1.number_input("Dataset size (combinations)", 0, 100_000, 500, 50, key="cmb_budget",
                             help="How many distinct combinations to select together. 0 = the paper's recipe: "
                                  "the best combination(s) of every start, independently."))
reuse = float(b2.slider("Reuse discount (0 = default)", 0.0, 1.0, 0.0, 0.01, key="cmb_reuse",
                        help="Each further use of a tree node is worth this factor less. Lower = more even spread, "
                             f"1 = no discount (the N most informative sets). Default {DEFAULT_REUSE_DISCOUNT} "
                             f"(local scope {DEFAULT_LOCAL_REUSE_DISCOUNT})."))
max_pair = int(b3.number_input("Max uses of a pair", 0, 1000, DEFAULT_MAX_PAIR_USES, key="cmb_max_pair",
                               help="Two skills are together in at most this many combinations (0 = no cap)."))
max_skill = int(b4.number_input("Max uses of a skill", 0, 100_000, 0, key="cmb_max_skill",
                                help="A skill (start included) is in at most this many combinations (0 = no cap)."))

with st.expander("Constraints", expanded=True):
    c1, c2, c3, c4 = st.columns(4)
    k = int(c1.number_input("k (skills per combination)", 2, 10, 3, key="cmb_k"))
    use_range = c1.checkbox("a range of k", key="cmb_use_range")
    k_max = int(c1.number_input("up to k", k, 12, max(k, 4), key="cmb_kmax")) if use_range else None
    scopes = ["local"] + [f"level:{d}" for d in range(1, height)] + ["global"]
    scope = c2.selectbox("Scope", scopes, index=1 if height > 1 else 0, key="cmb_scope",
                         help="local: the paper's bottom-up search; level:L: inside the start's ancestor at depth L (exact); global: anywhere")
    max_level = int(c2.number_input("Max level (local)", 0, height, min(1, height), key="cmb_maxlevel"))
    beam = int(c2.number_input("Beam", 1, 1000, 100, key="cmb_beam"))
    start_mode = c3.radio("Starts", ["all", "long tail", "picked skills"], key="cmb_starts")
    if start_mode == "long tail":
        q = c3.slider("Rarest share of skills", 0.05, 1.0, 0.25, 0.05, key="cmb_tail")
        starts = f"tail:{q}"
    elif start_mode == "picked skills":
        starts = c3.multiselect("Start skills", skills, key="cmb_pick")
    else:
        starts = "all"
    per_start = int(c4.number_input("Per start (dataset size 0)", 1, 20, 1, key="cmb_per_start", disabled=budget > 0))
    seed = int(c4.number_input("Seed", 0, 10_000, 0, key="cmb_seed"))

    c1, c2 = st.columns(2)
    exclude = c1.multiselect("Excluded skills", skills, key="cmb_exclude")
    must = c2.multiselect("Must include", skills, key="cmb_must")
    st.caption("Never together (one pair per row)")
    if "cmb_never" not in st.session_state:  # a new editor (first run, or back from another page): the pairs kept
        st.session_state["_cmb_never_base"] = st.session_state.get("_cmb_never_rows", pd.DataFrame(
            {"skill A": pd.Series([], dtype=str), "skill B": pd.Series([], dtype=str)}))
    pairs = st.data_editor(
        st.session_state["_cmb_never_base"],
        num_rows="dynamic",
        hide_index=True,
        key="cmb_never",
        column_config={
            "skill A": st.column_config.SelectboxColumn(options=skills),
            "skill B": st.column_config.SelectboxColumn(options=skills),
        },
        width="stretch",
    )
    st.session_state["_cmb_never_rows"] = pairs
    use_sim = st.checkbox("Semantic coherence: minimum mean similarity (loads the embedding model)", key="cmb_use_sim")
    min_sim = st.slider("Minimum mean similarity", -1.0, 1.0, 0.2, 0.05, key="cmb_min_sim") if use_sim else None

if st.button("Run selection", type="primary", key="cmb_run"):
    from steps_engine.selection.search import Constraints

    never = tuple(
        (str(a), str(b)) for a, b in zip(pairs["skill A"], pairs["skill B"]) if isinstance(a, str) and isinstance(b, str) and a and b
    )
    st.session_state.pop("cmb_failure", None)
    with st.status("Selecting combinations…", expanded=True) as status:
        bar = st.progress(0.0)
        try:
            sim = None
            if use_sim:
                bar.progress(0.0, text="embedding skill names…")
                sim = similarity(ws.tree_key, ws)
            cons = Constraints(k=k, k_max=k_max, exclude=tuple(exclude), must_include=tuple(must), never_together=never,
                               similarity=sim, min_mean_similarity=min_sim)
            if isinstance(starts, list) and not starts:
                raise ValueError("no start skills picked")
            summary = studio_state.run_selection(
                ws, cons, starts=starts, per_start=per_start, scope=scope, max_level=max_level, beam=beam, seed=seed,
                budget=budget or None, reuse_discount=reuse or None, max_skill_uses=max_skill or None,
                max_pair_uses=max_pair or None, terms=ui.terms(ws.tree_key, ws),
                progress=lambda f, msg: bar.progress(f, text=msg),
            )
        except (ValueError, KeyError, OSError) as exc:
            status.update(label="Selection failed: the previous selection is kept", state="error", expanded=False)
            st.session_state["cmb_failure"] = str(exc)
        else:
            n = summary["metrics"]["steps"]["combinations"]
            status.update(label=f"{n} combinations selected", state="complete", expanded=False)

if st.session_state.get("cmb_failure"):
    st.error(f"Selection failed: {st.session_state['cmb_failure']}\n\n**Next:** relax the constraints (fewer "
             "must-include skills, a wider scope, a smaller k, higher caps) or ask for fewer combinations. "
             "The selection below is the previous one.")

summary, records = studio_state.load_selection(ws)
if summary is None:
    st.info("No combinations yet: set the dataset size and constraints and press **Run selection**.")
    st.stop()
if summary["settings"].get("tree_key") != ws.tree_key:
    st.warning("The taxonomy changed since these combinations were selected: run the selection again.")
for reason in summary.get("shortfall", {}).get("steps", []):
    st.warning(reason)

metrics = summary["metrics"]
m = metrics["steps"]
base = metrics.get("random", {})


def delta(key, fmt):
    return None if key not in base else f"{fmt.format(m[key] - base[key])} vs random"


def colour(key, better="normal"):
    """Grey when equal to the baseline (a +0 would otherwise get an arrow and a colour)."""
    return "off" if key in base and m.get(key) == base[key] else better


cols = st.columns(4)
cols[0].metric("Combinations", f"{m['combinations']:,}", help="Distinct skill sets selected.")
cols[1].metric("Mean gain", f"{m['mean_gain']:.3f} bits", delta("mean_gain", "{:+.3f}"), delta_color=colour("mean_gain"),
               help="Higher is better: structural information a combination adds, H(Y | start).")
cols[2].metric("Usage efficiency", f"{m.get('usage_efficiency', 0):.3f}", delta("usage_efficiency", "{:+.3f}"),
               delta_color=colour("usage_efficiency"),
               help="Higher is better (1 = every skill used equally): entropy of skill usage / log2(skills).")
cols[3].metric("Skills used", f"{m.get('skills_used', 0):,} of {len(skills):,}",
               help="Higher is better: distinct skills in at least one combination.")
cols = st.columns(4)
cols[0].metric("Most-used skill (share)", f"{m.get('max_skill_share', 0):.1%}",
               delta("max_skill_share", "{:+.1%}"), delta_color=colour("max_skill_share", "inverse"),
               help="Lower is better: the largest share of combinations that contain one skill.")
cols[1].metric("Most-used pair (uses)", f"{m.get('max_pair_uses', 0)}", delta("max_pair_uses", "{:+d}"),
               delta_color=colour("max_pair_uses", "inverse"),
               help="Lower is better: the most combinations one pair of skills is in.")
cols[2].metric("Never-seen pairs", f"{m['unseen_pair_fraction']:.1%}",
               help="Pairs never seen together in the data: new compositions (higher = more novel, less attested).")
cols[3].metric("Dataset objective F", f"{m.get('objective', 0):.3f} bits", delta("objective", "{:+.3f}"),
               delta_color=colour("objective"),
               help="Higher is better: the information of the whole dataset with diminishing returns for reuse.")

names = {"mean_gain": "mean gain (bits) ↑", "usage_efficiency": "usage efficiency ↑", "max_skill_share": "max skill share ↓",
         "mean_lca_depth": "mean LCA depth (coherence) ↑", "mean_coherence": "mean similarity ↑"}
chart = {s: {names[key]: v for key, v in vals.items() if key in names} for s, vals in metrics.items()}
c1, c2 = st.columns(2)
c1.plotly_chart(strategy_figure(chart), key="cmb_chart")
usage = {s: studio_state.skill_usage(ws, recs) for s, recs in records.items()}
c2.plotly_chart(skill_usage_figure(usage), key="cmb_usage")

st.subheader("Selected combinations (steps)")
steps_records = records.get("steps", [])
st.dataframe(studio_state.combos_frame(steps_records), hide_index=True, width="stretch", key="cmb_table")
st.caption(f"Saved to `{ws.path('combos', 'steps.jsonl')}` (and the baseline beside it).")

st.subheader("Why this combination")
if steps_records:
    labels = [f"{r.get('rank') or i + 1}. " + " + ".join(r["skills"]) for i, r in enumerate(steps_records)]
    pick = st.selectbox("Combination", range(len(labels)), format_func=lambda i: labels[i], key="cmb_why")
    rec = steps_records[pick]
    sim = similarity(ws.tree_key, ws) if summary["settings"].get("similarity") or use_sim else None
    why = studio_state.explain_record(ws, rec, ui.terms(ws.tree_key, ws), sim)
    st.markdown(f"**Tree path to the LCA:** {' › '.join(ui.plain(p) for p in why['lca_path'])}")
    if rec.get("marginal_gain") is not None:
        st.markdown(f"Gain **{rec['gain']:.4f} bits**; worth **{rec['marginal_gain']:.4f}** to the dataset when it "
                    f"was picked (rank {rec.get('rank')}), after the discount for skills and subtrees already used.")
    w1, w2 = st.columns(2)
    w1.caption("Step gains: what each skill added, given the start and the skills before it")
    w1.dataframe(pd.DataFrame([{"skill": s["skill"], "step gain (bits)": s["step_gain"],
                                "path below the LCA": " › ".join(why["skill_paths"][s["skill"]])}
                               for s in why["steps"]]), hide_index=True, key="cmb_why_steps")
    w2.caption("Pairs: co-occurrence count in the data (0 = never seen together)")
    w2.dataframe(pd.DataFrame(why["pairs"]), hide_index=True, key="cmb_why_pairs")
