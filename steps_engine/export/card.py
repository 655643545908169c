"""The dataset card (README.md beside the exported data)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from steps_engine._atomic import write_text

__all__ = ["render_card", "write_card", "cluster_of", "quality_summary"]

SPANS = "(spans top-level clusters)"
CARD_TITLE = "# Dataset card: "


def cluster_of(meta: dict) -> str:
    """The top-level cluster: the first element of the stored taxonomy path."""
    path = meta.get("taxonomy_path") or []
    if not path:
        return SPANS
    labels = meta.get("taxonomy_labels") or []
    label = labels[0] if labels else ""
    return f"{path[0]}: {label}" if label else str(path[0])


def _table(header: tuple[str, str], rows) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | ---: |"]
    lines += [f"| {str(a).replace('|', '/')} | {b} |" for a, b in rows]
    return "\n".join(lines)


def quality_summary(records: list[dict], exported_ids: set) -> dict | None:
    """Drops per reason code (automatic checks and review decisions apart) and the judge's
    score distribution over exported records; None when no record went through `steps check`."""
    if not any("quality" in r or "reasons" in r for r in records):
        return None
    auto, review, scores = Counter(), Counter(), Counter()
    judged = 0
    for r in records:
        if r["id"] in exported_ids:
            verdict = (r.get("quality") or {}).get("judge")
            if isinstance(verdict, dict) and isinstance(verdict.get("score"), (int, float)):
                judged += 1
                scores[f"{verdict['score']:g}"] += 1
            continue
        for code in r.get("reasons") or [f"synthesis_{r.get('status')}"]:
            (review if str(code).startswith("review") else auto)[str(code)] += 1
    return {"dropped": dict(auto), "review": dict(review), "scores": dict(scores), "judged": judged,
            "dropped_records": sum(1 for r in records if r["id"] not in exported_ids)}


def _quality_section(q: dict, n: int) -> list[str]:
    out = ["", "## Quality checks", "",
           f"{q['dropped_records']} record(s) were not exported. Reason codes of `steps check` (a record can "
           "carry several): `near_duplicate` (MinHash LSH, exact Jaccard), `copies_seed`, `contaminated` "
           "(13-gram overlap with a benchmark), `rule:<name>`, `judge_low_score`, `skill_missing`, "
           "`judge_error` / `judge_unparsed`, `synthesis_failed` / `synthesis_rejected`.", ""]
    out.append(_table(("automatic reason", "records"), sorted(q["dropped"].items(), key=lambda kv: (-kv[1], kv[0])))
               if q["dropped"] else "No record was dropped by an automatic check.")
    if q["review"]:
        out += ["", "Review decisions (a curator rejected the sample):", "",
                _table(("review decision", "records"), sorted(q["review"].items()))]
    out += [""]
    if q["judged"]:
        out += [f"Judge scores of the {q['judged']} exported record(s) with a verdict (of {n}):", "",
                _table(("score", "records"), sorted(q["scores"].items(), key=lambda kv: float(kv[0])))]
    else:
        out.append("No exported record carries a judge verdict (no `--judge-model`).")
    return out


def render_card(metas: list[dict], *, data_file: str, fmt: str, statuses: Counter, settings: dict,
                taxonomy_skills: list[str] | None = None, epochs: Counter | None = None,
                quality: dict | None = None) -> str:
    n = len(metas)
    per_k = Counter(m["k"] for m in metas)
    per_cluster = Counter(cluster_of(m) for m in metas)
    skill_counts = Counter(s for m in metas for s in m["skills"])
    models = Counter(m.get("model") for m in metas)
    hashes = Counter(m.get("template_hash") for m in metas)
    out = [f"{CARD_TITLE}{data_file}", ""]
    out.append(
        f"{n} synthetic multi-turn conversations in `{fmt}` format, each built by an LLM from one real "
        "example per skill of a skill combination chosen by STEPS Studio (structural-entropy skill taxonomy)."
    )
    out.append("")
    out.append(
        f"Results file statuses: {statuses.get('ok', 0)} ok, {statuses.get('rejected', 0)} rejected, "
        f"{statuses.get('failed', 0)} failed (rejected: unparseable output, bad roles or near-duplicates; "
        "failed: the request failed after retries). Only `ok` records are exported."
    )
    if quality is not None:
        out += _quality_section(quality, n)
    out += ["", "## Records per k (skills per conversation)", "", _table(("k", "records"), sorted(per_k.items()))]
    out += [
        "",
        "## Records per top-level cluster",
        "",
        "The cluster is the first element of the record's taxonomy path (root excluded) to the combination's "
        f"lowest common ancestor; {SPANS} means the skills meet only at the root.",
        "",
        _table(("cluster", "records"), per_cluster.most_common()),
    ]
    out += ["", "## Skill coverage", ""]
    line = f"{len(skill_counts)} distinct skills appear"
    if taxonomy_skills:
        covered = len(set(skill_counts) & set(taxonomy_skills))
        line += f"; {covered} of the taxonomy's {len(taxonomy_skills)} skills ({100 * covered / len(taxonomy_skills):.1f}%)"
    out.append(line + ".")
    if skill_counts:
        out += ["", "Most used skills:", "", _table(("skill", "records"), skill_counts.most_common(10))]
    if epochs:
        out += ["", "## Curriculum", "", "Records are ordered by epoch; train in file order.", ""]
        out.append(_table(("epoch", "records"), sorted(epochs.items())))
        by_epoch_k = Counter((m["curriculum_epoch"], m["k"]) for m in metas)
        ks = sorted(per_k)
        out += ["", "| epoch | " + " | ".join(f"k={k}" for k in ks) + " |", "| --- |" + " ---: |" * len(ks)]
        for e in sorted(epochs):
            out.append(f"| {e} | " + " | ".join(str(by_epoch_k.get((e, k), 0)) for k in ks) + " |")
    out += ["", "## Settings", ""]
    out.append(f"- models: {', '.join(f'`{m}` ({c})' for m, c in models.most_common())}")
    out.append(f"- prompt template sha256: {', '.join(f'`{h}` ({c})' for h, c in hashes.most_common())}")
    for key, value in settings.items():
        out.append(f"- {key}: {value}")
    out.append(f"- exported: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    out += [
        "",
        "## Provenance fields",
        "",
        "Every record carries: `id` (combination id), `skills`, `k`, `start`, `gain` (structural-information "
        "gain in bits), `lca`, `taxonomy_path` / `taxonomy_labels`, `cluster`, `source_ids` (the real example used "
        "for each skill: record id or line number in the input data), `model`, `template_hash`.",
        "",
    ]
    return "\n".join(out)


def write_card(path: Path, text: str) -> None:
    write_text(path, text)
