"""What every studio page needs: the session's workspace, cached derived data, error display.

Persistent state lives in the workspace folder; `st.session_state` holds only the open
Workspace object and what the user is doing now. Cached functions are keyed on content
hashes (`ws.tree_key`, `ws.graph_key`) plus parameters; the Workspace argument itself is
excluded from hashing (leading underscore).
"""

from __future__ import annotations

import contextlib

import numpy as np
import streamlit as st

from steps_engine.studio import state as studio_state
from steps_engine.studio.sources import describe_source
from steps_engine.taxonomy.entropy import node_terms
from steps_engine.curation.workspace import Workspace, default_dir


def leave_v1_multipage_mode() -> None:
    """A `pages/` folder beside app.py makes the first run of a fresh server use Streamlit's v1
    multipage mode: a deep link runs the page file directly and the sidebar lists raw file
    names. Turn that mode off and run again, so app.py's `st.navigation` (titles) takes over."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


leave_v1_multipage_mode()  # every page imports this module first

# Settings that survive a page switch: Streamlit forgets a widget's value as soon as a run does not
# draw it (another page), so each run hands these keys back to session state. Only inputs and
# choices: buttons, uploaders, data editors and charts cannot be set this way.
KEPT_SETTINGS = frozenset("""
    data_source data_folder data_path map_skills map_sep map_text map_casefold map_weighting map_min_count
    map_height otag_model otag_base_url otag_key
    tax_kind tax_size tax_depth tax_root tax_detail rows_of rows_skill rows_combo rows_page
    map_mode map_level map_search map_target
    curate_op rename_node rename_label move_skills move_target merge_source merge_target split_node split_how
    split_group exclude_skills create_parent create_label llm_model llm_base_url llm_key
    cmb_budget cmb_reuse cmb_max_pair cmb_max_skill cmb_k cmb_use_range cmb_kmax cmb_scope cmb_maxlevel cmb_beam
    cmb_starts cmb_tail cmb_pick cmb_per_start cmb_seed cmb_exclude cmb_must cmb_use_sim cmb_min_sim cmb_why
    syn_model syn_base_url syn_key syn_seed syn_builtin syn_pick syn_bench syn_judge syn_min_score syn_all_skills
    rq_decision rq_reason rq_k rq_sort rq_use_score rq_score rq_cluster rq_page
    exp_format exp_curriculum exp_weights exp_name exp_seed
""".split())
KEPT_PREFIXES = ("syn_template_",)


def keep_settings() -> None:
    """Hand every kept setting back to session state, so a page switch does not reset it."""
    for key in list(st.session_state.keys()):
        if key in KEPT_SETTINGS or key.startswith(KEPT_PREFIXES):
            st.session_state[key] = st.session_state[key]


def _keep_a_choice(key: str, default: str) -> None:
    last = f"_{key}_last"
    if st.session_state.get(key) is None:  # the chosen segment was clicked again
        st.session_state[key] = st.session_state.get(last, default)
    st.session_state[last] = st.session_state[key]


def one_of(label: str, options: list[str], default: str, key: str) -> str:
    """A segmented control that always has one option chosen: clicking the chosen segment again
    keeps it (a plain `st.segmented_control` unselects it and returns None)."""
    choice = st.segmented_control(label, options, default=default, key=key, on_change=_keep_a_choice, args=(key, default))
    return choice if choice is not None else default


def plain(text: str) -> str:
    """`text` (a cluster name a user or a model chose) shown as itself in Markdown: every
    Markdown and HTML-significant character escaped."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()<>#+-.!|~$:" else ch for ch in text)


def workspace() -> Workspace:
    """The session's workspace ($STEPS_WORKSPACE or ./workspace); an empty one gets the demo."""
    keep_settings()
    root = default_dir()
    ws = st.session_state.get("_ws")
    if ws is None or ws.root != root:
        try:
            ws = Workspace.open(root)
        except (OSError, ValueError) as exc:
            fail(f"Cannot open the workspace {root}: {exc}", "Set STEPS_WORKSPACE to a writable folder and reload.")
        st.session_state["_ws"] = ws
    if not ws.has_taxonomy:
        with st.status("Opening a taxonomy (first start)…", expanded=False) as status:
            try:
                studio_state.ensure_taxonomy(ws, progress=progress_bar(status))
            except (OSError, ValueError) as exc:
                status.update(label="No taxonomy yet", state="error")
                fail(str(exc), "Load a dataset on the Data page.")
            status.update(label=f"Opened {describe_source(ws)}", state="complete")
    meaning_map_sidebar(ws)
    return ws


@st.cache_resource(show_spinner=False, max_entries=8)
def meaning_job(graph_key: str, _ws: Workspace) -> dict:
    """One background build of the meaning map per graph, started from whichever page the
    user opens first (a niced subprocess: loading the model and compiling UMAP take tens
    of seconds and must not slow the studio)."""
    return studio_state.start_meaning_map(_ws)


def meaning_map_sidebar(ws: Workspace) -> None:
    """While the meaning map builds, the sidebar says so with its progress, on every page."""
    try:
        job = meaning_job(ws.graph_key, ws)
    except (OSError, ValueError):
        return
    if studio_state.meaning_map_state(job)[0] != "running":
        return

    @st.fragment(run_every=2)
    def progress() -> None:
        state = studio_state.meaning_map_state(job)[0]
        if state != "running":
            st.sidebar.caption(f"Meaning map: {state}.")
            return
        frac, stage = studio_state.meaning_map_progress(job)
        st.sidebar.progress(frac, text=f"Building the meaning map: {stage} ({frac:.0%})")

    progress()


def progress_bar(status):
    bar = st.progress(0.0)

    def cb(stage: str, done: float, total: float) -> None:
        frac = 0.0 if not total else min(float(done) / float(total), 1.0)
        bar.progress(frac, text=f"{stage}: {frac:.0%}")

    return cb


def fail(message: str, next_step: str) -> None:
    """Show an error with what to do next and stop the page."""
    st.error(f"{message}\n\n**Next:** {next_step}")
    st.stop()


@contextlib.contextmanager
def user_errors(next_step: str = "Check the inputs above and try again."):
    """Turn ValueError/OSError/KeyError raised by the engine into an st.error (no traceback)."""
    try:
        yield
    except (ValueError, OSError, KeyError) as exc:
        st.error(f"{exc}\n\n**Next:** {next_step}")


# ---- cached derived data ------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def terms(tree_key: str, _ws: Workspace) -> np.ndarray:
    return node_terms(_ws.graph, _ws.tree).term


@st.cache_data(max_entries=16, show_spinner=False)
def readout(tree_key: str, _ws: Workspace) -> dict:
    return studio_state.entropy_readout(_ws.graph, _ws.tree, terms(tree_key, _ws))


@st.cache_data(max_entries=16, show_spinner=False)
def clusters(tree_key: str, _ws: Workspace):
    return studio_state.cluster_table(_ws.tree, _ws.graph, terms(tree_key, _ws))


def cluster_picker(label: str, ws: Workspace, key: str, include_root: bool = True, help: str | None = None) -> str | None:
    """Selectbox over clusters by id, shown as 'label · N skills · id', with an exact-id box
    beside it (the selectbox's type-to-filter matches n55 when you type n5)."""
    df = clusters(ws.tree_key, ws)
    if not include_root:
        df = df[df["depth"] > 0]
    ids = df["id"].tolist()
    names = {
        i: f"{'  ' * int(d)}{lab or '(unnamed)'}{' (stale name)' if by == 'stale' else ''} · {n} skills · {i}"
        for i, lab, d, n, by in zip(df["id"], df["label"], df["depth"], df["skills"], df["named by"])
    }
    if st.session_state.get(key) not in names:
        st.session_state.pop(key, None)

    def by_id() -> None:
        typed = str(st.session_state.get(f"{key}__id") or "").strip()
        if typed in names:  # exact match only
            st.session_state[key] = typed
            st.session_state[f"{key}__miss"] = None
        elif typed:
            st.session_state[f"{key}__miss"] = typed

    c1, c2 = st.columns([4, 1])
    with c2:
        st.text_input("…or exact id", key=f"{key}__id", on_change=by_id, placeholder="n5",
                      help="Type a cluster id and press Enter: only that exact id is picked.")
    miss = st.session_state.get(f"{key}__miss")
    if miss:
        c2.caption(f"No cluster has the id `{miss}`.")
    with c1:
        return st.selectbox(label, ids, format_func=names.get, key=key, help=help)


def skill_names(ws: Workspace) -> list[str]:
    """Skills currently in the taxonomy, sorted."""
    return _skill_names(ws.tree_key, ws)


@st.cache_data(max_entries=16, show_spinner=False)
def _skill_names(tree_key: str, _ws: Workspace) -> list[str]:
    return sorted(_ws.tree.members(0))


def entropy_metrics(ws: Workspace) -> None:
    r = readout(ws.tree_key, ws)
    c1, c2, c3 = st.columns(3)
    c1.metric("Structural entropy H^T", f"{r['structural']:.4f} bits")
    c2.metric("1-D entropy H^1", f"{r['one_dim']:.4f} bits")
    c3.metric("H^T / H^1", f"{r['ratio']:.3f}")


def show_edit_result(res, ws: Workspace | None = None) -> None:
    """Remember an edit's entropy change so the next rerun can show it (in cluster names
    when the workspace is given: its log holds the description made before the edit)."""
    desc = res.edit.describe()
    if ws is not None and ws.log.records:
        desc = ws.log.records[ws.log.position - 1].get("description", desc)
    st.session_state["_last_edit"] = {"description": desc, "before": res.entropy_before, "after": res.entropy_after}


def show_undo_redo(record: dict, undone: bool) -> None:
    """Say what undo / redo changed (the edit's description and the entropy it restores)."""
    before, after = record["entropy_before"], record["entropy_after"]
    if undone:
        msg = f"Undid: {record.get('description', record['op'])}: structural entropy back to {before:.4f} bits (was {after:.4f})"
    else:
        msg = f"Redid: {record.get('description', record['op'])}: structural entropy {before:.4f} → {after:.4f} bits"
    st.session_state["_last_edit"] = {"message": msg}


def last_edit_banner() -> None:
    e = st.session_state.get("_last_edit")
    if e and "message" in e:
        st.success(e["message"])
    elif e:
        d = e["after"] - e["before"]
        st.success(f"{e['description']}: structural entropy {e['before']:.4f} → {e['after']:.4f} bits ({d:+.4f})")
