"""The review queue behind the Synthesize & preview page (no Streamlit here).

Samples come from the workspace's `results/checked.jsonl` when "Check quality" has run, else
from `results/results.jsonl`. Decisions live in `results/review.json` ({id: "accepted" |
"rejected"}; a sample without an entry is `unreviewed`), apart from the automatic verdicts of
the quality stage, so the export can count both separately.

- `queue_frame(records, review)`: one row per sample (id, skills, k, generation, status,
  reasons, judge score, near-duplicate cluster, decision).
- `filter_frame(df, ...)`: filters by decision, reason, k, score range, cluster; sorts.
- `set_decisions(review, ids, decision)`: one or many (bulk) decisions.
- `counts(df)`: samples, reviewed, accepted, rejected in review, rejected by checks.
- `run_check(ws, ...)`: the quality stage on the workspace's results, written fresh.
- `load_demo_samples(ws)`: the bundled hand-written demo samples as the workspace's results.
- `seed_examples(ws, record)`: the seed examples of a sample with their responses.
"""

from __future__ import annotations

import json

from pathlib import Path

import pandas as pd

from steps_engine.curation.workspace import Workspace

__all__ = ["DECISIONS", "DEMO_SAMPLES", "DEMO_BENCHMARK", "counts", "demo_sample_skills_missing", "filter_frame", "load_demo_samples",
           "queue_frame", "read_samples", "run_check", "seed_examples", "set_decisions"]

DECISIONS = ("unreviewed", "accepted", "rejected")
_ASSETS = Path(__file__).resolve().parents[2] / "assets" / "demo"
DEMO_SAMPLES = _ASSETS / "sample_results.jsonl"
DEMO_BENCHMARK = _ASSETS / "demo_benchmark.jsonl"
RESULTS = ("results", "results.jsonl")
CHECKED = ("results", "checked.jsonl")


def read_samples(ws: Workspace) -> tuple[list[dict], bool]:
    """(records, checked): the checked results when they cover every result, else the results."""
    from steps_engine.synthesis.runner import read_results

    results_path, checked_path = ws.path(*RESULTS), ws.path(*CHECKED)
    if not results_path.exists():
        return [], False
    records = read_results(results_path)[0]
    if checked_path.exists():
        checked = read_results(checked_path)[0]
        if {r["id"] for r in checked} >= {r["id"] for r in records}:
            return checked, True
    return records, False


def _cluster(rec: dict) -> str:
    dup = (rec.get("quality") or {}).get("near_duplicate")
    return dup["of"] if isinstance(dup, dict) else rec["id"]


def queue_frame(records: list[dict], review: dict) -> pd.DataFrame:
    rows = []
    for r in records:
        verdict = (r.get("quality") or {}).get("judge") or {}
        rows.append({
            "id": r["id"],
            "skills": " + ".join(r.get("skills") or []),
            "k": int(r.get("k") or len(r.get("skills") or [])),
            "generation": int(r.get("generation") or 0),
            "status": r.get("status"),
            "reasons": ", ".join(r.get("reasons") or ([] if r.get("status") == "ok" else [str(r.get("reason"))])),
            "score": verdict.get("score") if isinstance(verdict.get("score"), (int, float)) else None,
            "cluster": _cluster(r),
            "decision": review.get(r["id"], "unreviewed"),
        })
    df = pd.DataFrame(rows, columns=["id", "skills", "k", "generation", "status", "reasons", "score", "cluster",
                                     "decision"])
    sizes = df.groupby("cluster")["id"].transform("size") if len(df) else pd.Series(dtype=int)
    df["cluster_size"] = sizes
    return df


def filter_frame(df: pd.DataFrame, *, decisions=None, reason: str | None = None, ks=None,
                 score_range: tuple[float, float] | None = None, cluster: str | None = None,
                 sort: str = "id") -> pd.DataFrame:
    """`reason`: a code, "any" (some reason) or "none" (no reason); `score_range` keeps
    unscored samples only when it is None; `sort`: id, score (high first), score_low, k, cluster."""
    out = df
    if decisions:
        out = out[out["decision"].isin(list(decisions))]
    if reason == "any":
        out = out[out["reasons"] != ""]
    elif reason == "none":
        out = out[out["reasons"] == ""]
    elif reason:
        out = out[out["reasons"].str.split(", ").apply(lambda codes: reason in codes)]
    if ks:
        out = out[out["k"].isin(list(ks))]
    if score_range is not None:
        out = out[out["score"].between(score_range[0], score_range[1])]
    if cluster:
        out = out[out["cluster"] == cluster]
    keys = {"id": (["id"], [True]), "score": (["score", "id"], [False, True]),
            "score_low": (["score", "id"], [True, True]), "k": (["k", "id"], [True, True]),
            "cluster": (["cluster", "id"], [True, True])}
    if sort not in keys:
        raise ValueError(f"sort must be one of {sorted(keys)}, got {sort!r}")
    by, asc = keys[sort]
    return out.sort_values(by, ascending=asc, na_position="last", kind="stable")


def set_decisions(review: dict, ids, decision: str) -> dict:
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
    out = dict(review)
    for i in ids:
        if decision == "unreviewed":
            out.pop(i, None)
        else:
            out[i] = decision
    return out


def counts(df: pd.DataFrame) -> dict:
    auto = (df["status"] != "ok").sum() if len(df) else 0
    return {
        "samples": int(len(df)),
        "reviewed": int((df["decision"] != "unreviewed").sum()),
        "accepted": int((df["decision"] == "accepted").sum()),
        "rejected": int((df["decision"] == "rejected").sum()),
        "rejected_by_checks": int(auto),
    }


def run_check(ws: Workspace, *, decontaminate=(), judge_model: str | None = None, api_key: str | None = None,
              base_url: str | None = None, min_score: float | None = None, require_all_skills: bool = False,
              progress=None, client=None):
    """The quality stage on `results/results.jsonl` -> `results/checked.jsonl`, from scratch
    (the judge's answers stay in `results/judge_cache`, so a re-check asks nothing twice)."""
    from steps_engine.quality import CheckConfig, check

    src = ws.path(*RESULTS)
    if not src.exists():
        raise ValueError("no results in this workspace yet: generate samples or load the demo samples first")
    out = ws.path(*CHECKED)
    out.unlink(missing_ok=True)
    config = CheckConfig(decontaminate=tuple(str(p) for p in decontaminate), judge_model=judge_model or None,
                         min_score=min_score, require_all_skills=require_all_skills)
    return check(src, out, config=config, taxonomy_dir=ws.current_dir if (ws.current_dir / "input.json").exists()
                 else None, api_key=api_key, base_url=base_url, client=client,
                 cache_dir=ws.path("results", "judge_cache"), progress=progress)


def demo_sample_skills_missing(ws: Workspace) -> list[str]:
    """The demo samples' skills this workspace's taxonomy does not have (sorted); empty when
    the samples are about its skills (the bundled demo's taxonomy)."""
    wanted = set()
    for line in DEMO_SAMPLES.read_text(encoding="utf-8").splitlines():
        if line.strip():
            wanted.update(json.loads(line).get("skills") or [])
    return sorted(wanted - set(ws.graph.skills))


def load_demo_samples(ws: Workspace) -> int:
    """Copy the bundled demo samples into `results/results.jsonl` (only into an empty one, and
    only when the workspace holds the demo's skills: else they would be exported as samples of
    another dataset)."""
    dest = ws.path(*RESULTS)
    if dest.exists() and dest.stat().st_size:
        raise ValueError(f"{dest} already holds results; the demo samples go only into an empty workspace")
    missing = demo_sample_skills_missing(ws)
    if missing:
        raise ValueError(f"the demo samples are about the bundled demo's skills, and {len(missing)} of them are not in "
                         f"this taxonomy (e.g. {missing[0]!r}); open the demo in a workspace of its own to try the queue")
    from steps_engine._atomic import atomic_write

    atomic_write(dest, DEMO_SAMPLES.read_bytes())
    return sum(1 for line in DEMO_SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip())


def seed_examples(ws: Workspace, record: dict) -> list[dict]:
    """[{skill, source_id, text, response}] for the sample's seeds ("" when unknown)."""
    seeds = [s for s in record.get("seeds") or [] if isinstance(s, dict)]
    missing = [s.get("source_id") for s in seeds if not isinstance(s.get("text"), str)]
    found = {}
    if missing and (ws.current_dir / "input.json").exists():
        from steps_engine.quality.seedcopy import load_seed_examples

        try:
            found, _ = load_seed_examples(ws.current_dir, missing)
        except (ValueError, OSError):
            found = {}
    out = []
    for s in seeds:
        ex = found.get(str(s.get("source_id"))) or {}
        out.append({"skill": s.get("skill"), "source_id": s.get("source_id"),
                    "text": s.get("text") if isinstance(s.get("text"), str) else ex.get("text", ""),
                    "response": s.get("response") if isinstance(s.get("response"), str) else ex.get("response", "")})
    return out

