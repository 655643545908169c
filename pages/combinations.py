"""Combinations: coherence constraints as controls, run selection, compare with random."""

import pandas as pd
import streamlit as st

from pages import _shared as ui
from steps_engine.studio import state as studio_state
from steps_engine.studio.plotting.strategies import strategy_figure

ws = ui.workspace()
st.title("Combinations")
st.caption("Skill combinations that add the most structural information while staying inside a coherent subtree. Selection runs on the curated tree.")

skills = ui.skill_names(ws)
height = max(ws.tree.height, 1)


@st.cache_data(max_entries=4, show_spinner=False)
def similarity(tree_key: str, _ws):
    from steps_engine.selection.coherence import skill_similarity

    return skill_similarity(_ws.tree.skills)


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
    per_start = int(c4.number_input("Per start", 1, 20, 1, key="cmb_per_start"))
    budget = int(c4.number_input("Budget (0 = none)", 0, 100_000, 0, key="cmb_budget",
                                 help="Spread this many combinations over the top-level clusters"))
    seed = int(c4.number_input("Seed", 0, 10_000, 0, key="cmb_seed"))

    c1, c2 = st.columns(2)
    exclude = c1.multiselect("Excluded skills", skills, key="cmb_exclude")
    must = c2.multiselect("Must include", skills, key="cmb_must")
    st.caption("Never together (one pair per row)")
    pairs = st.data_editor(
        pd.DataFrame({"skill A": pd.Series([], dtype=str), "skill B": pd.Series([], dtype=str)}),
        num_rows="dynamic",
        key="cmb_never",
        column_config={
            "skill A": st.column_config.SelectboxColumn(options=skills),
            "skill B": st.column_config.SelectboxColumn(options=skills),
        },
        width="stretch",
    )
    use_sim = st.checkbox("Semantic coherence: minimum mean similarity (loads the embedding model)", key="cmb_use_sim")
    min_sim = st.slider("Minimum mean similarity", -1.0, 1.0, 0.2, 0.05, key="cmb_min_sim") if use_sim else None

if st.button("Run selection", type="primary", key="cmb_run"):
    from steps_engine.selection.search import Constraints

    never = tuple(
        (str(a), str(b)) for a, b in zip(pairs["skill A"], pairs["skill B"]) if isinstance(a, str) and isinstance(b, str) and a and b
    )
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
                budget=budget or None, terms=ui.terms(ws.tree_key, ws),
                progress=lambda f, msg: bar.progress(f, text=msg),
            )
        except (ValueError, KeyError, OSError) as exc:
            status.update(label="Selection failed", state="error")
            st.error(f"{exc}\n\n**Next:** relax the constraints (fewer must-include skills, a wider scope, a smaller k).")
        else:
            n = summary["metrics"]["steps"]["combinations"]
            status.update(label=f"{n} combinations selected", state="complete", expanded=False)

summary, records = studio_state.load_selection(ws)
if summary is None:
    st.info("No combinations yet: set the constraints and press **Run selection**.")
    st.stop()
if summary["settings"].get("tree_key") != ws.tree_key:
    st.warning("The taxonomy changed since these combinations were selected: run the selection again.")

metrics = summary["metrics"]
cols = st.columns(4)
m = metrics["steps"]
cols[0].metric("Combinations", f"{m['combinations']:,}")
cols[1].metric("Mean gain", f"{m['mean_gain']:.3f} bits")
cols[2].metric("Never-seen pairs", f"{m['unseen_pair_fraction']:.1%}")
cols[3].metric("Skill coverage", f"{m['skill_coverage']:.1%}")

names = {"mean_gain": "mean gain (bits)", "mean_lca_depth": "mean LCA depth (coherence)",
         "mean_coherence": "mean similarity", "unseen_pair_fraction": "never-seen pairs"}
chart = {s: {names[key]: v for key, v in vals.items() if key in names} for s, vals in metrics.items()}
st.plotly_chart(strategy_figure(chart), key="cmb_chart")

st.subheader("Selected combinations (steps)")
st.dataframe(studio_state.combos_frame(records.get("steps", [])), hide_index=True, width="stretch", key="cmb_table")
st.caption(f"Saved to `{ws.path('combos', 'steps.jsonl')}` (and the baseline beside it).")
