"""The dataset card (README.md beside the exported data), Hub-ready.

The card starts with YAML front matter written through `huggingface_hub.DatasetCardData`
(license, task_categories, size_categories, tags `synthetic` and `steps-studio`, `configs`
with one config per format exported into the folder, so `load_dataset(folder)` reads the
default one and `load_dataset(folder, "sharegpt")` another), then the body. `datasets` reads
one file type per folder, so a Parquet export beside JSONL ones (or the reverse) is listed
under `steps_studio_other_files` instead of `configs`.

`read_card(path)` tells a card this tool wrote, in any version, from a foreign README:
version 1 cards begin with `CARD_TITLE`; later ones carry the `steps-studio` tag or the
`CARD_MARKER` comment. `card_metadata` merges a re-export into an existing card: the
configs of formats whose files are still there are kept, and fields the user set by hand
(license, language, pretty_name, ...) survive unless given again.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from steps_engine._atomic import write_text

__all__ = ["render_card", "write_card", "cluster_of", "quality_summary", "read_card", "card_metadata",
           "size_category", "CARD_MARKER"]

SPANS = "(spans top-level clusters)"
CARD_TITLE = "# Dataset card: "
CARD_MARKER = "<!-- written by STEPS Studio (steps export); edit the YAML above freely, the body is regenerated -->"
TAGS = ["synthetic", "steps-studio"]
OTHER_FILES = "steps_studio_other_files"  # exports of another file type than the configs
SIZE_BOUNDS = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
               (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]


def size_category(n: int) -> str:
    """The Hub's size_categories bucket of n records."""
    for bound, name in SIZE_BOUNDS:
        if n < bound:
            return name
    return "n>1B"


def read_card(path: Path) -> tuple[str, dict]:
    """("none" | "ours" | "foreign", front-matter metadata) of the README at `path`."""
    if not path.exists():
        return "none", {}
    text = path.read_text(encoding="utf-8", errors="replace")
    if text.startswith(CARD_TITLE):
        return "ours", {}  # version 1: no front matter
    meta: dict = {}
    if text.startswith("---"):
        try:
            from huggingface_hub import DatasetCard

            meta = DatasetCard(text).data.to_dict()
        except Exception:  # unreadable YAML: only the marker can still claim the file
            meta = {}
    tags = meta.get("tags") or []
    if CARD_MARKER in text or (isinstance(tags, list) and "steps-studio" in tags):
        return "ours", meta
    return "foreign", meta


def card_metadata(existing: dict, *, fmt: str, data_file: str, folder: Path, n_records: int,
                  license: str | None = None) -> dict:
    """Front matter for exporting `fmt` into `folder/data_file`, merged with an existing card's."""
    meta = {k: v for k, v in (existing or {}).items() if v is not None}
    old_default = next((c.get("config_name") for c in meta.get("configs") or []
                        if isinstance(c, dict) and c.get("default")), None)
    configs = [c for c in meta.get("configs") or [] if isinstance(c, dict) and c.get("config_name") != fmt
               and all((folder / f.get("path", "")).is_file() for f in c.get("data_files") or [] if isinstance(f, dict))]
    others = [o for o in meta.get(OTHER_FILES) or [] if isinstance(o, dict) and o.get("format") != fmt
              and (folder / str(o.get("path", ""))).is_file()]
    configs += [{"config_name": o["format"], "data_files": [{"split": "train", "path": o["path"]}]} for o in others]
    configs.append({"config_name": fmt, "data_files": [{"split": "train", "path": data_file}]})
    names = [c.get("config_name") for c in configs]
    default = old_default if old_default in names else names[0]
    for c in configs:
        c.pop("default", None)
        if c.get("config_name") == default:
            c["default"] = True
    # `datasets` reads one file type per folder: configs keep the default config's type, the
    # other files are listed under OTHER_FILES (and in the body), pushed but not configs
    kind = _file_type(next(c for c in configs if c.get("default")))
    meta["configs"] = [c for c in configs if _file_type(c) == kind]
    meta[OTHER_FILES] = [{"format": c["config_name"], "path": c["data_files"][0]["path"]}
                         for c in configs if _file_type(c) != kind]
    if not meta[OTHER_FILES]:
        del meta[OTHER_FILES]
    meta["license"] = license or meta.get("license") or "unknown"
    meta["task_categories"] = meta.get("task_categories") or ["text-generation"]
    meta["size_categories"] = [size_category(n_records)]
    tags = [t for t in meta.get("tags") or [] if isinstance(t, str)]
    meta["tags"] = tags + [t for t in TAGS if t not in tags]
    return meta


def _file_type(config: dict) -> str:
    path = str((config.get("data_files") or [{}])[0].get("path", ""))
    return "parquet" if path.endswith((".parquet", ".pq")) else "json"


def _front_matter(meta: dict) -> str:
    from huggingface_hub import DatasetCardData

    return "---\n" + DatasetCardData(**meta).to_yaml() + "\n---\n"


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
                quality: dict | None = None, metadata: dict | None = None) -> str:
    """The card's text; with `metadata` (see `card_metadata`) it begins with YAML front matter."""
    n = len(metas)
    per_k = Counter(m["k"] for m in metas)
    per_cluster = Counter(cluster_of(m) for m in metas)
    skill_counts = Counter(s for m in metas for s in m["skills"])
    models = Counter(m.get("model") for m in metas)
    hashes = Counter(m.get("template_hash") for m in metas)
    out = [_front_matter(metadata), CARD_MARKER, ""] if metadata is not None else []
    out += [f"{CARD_TITLE}{data_file}", ""]
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
    from steps_engine.synthesis.runner import RESULT_STATUSES

    other = sum(c for st, c in statuses.items() if st not in RESULT_STATUSES)
    if other:
        out[-1] += f" {other} record(s) had another or no status and were not exported."
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
    if metadata is not None and metadata.get("configs"):
        out += ["", "## Files", "", "One config per format in this folder (`load_dataset(folder, name)`; "
                "the default one loads without a name).", "", "| config | file |", "| --- | --- |"]
        for c in metadata["configs"]:
            files = ", ".join(f"`{f['path']}`" for f in c.get("data_files") or [] if isinstance(f, dict))
            out.append(f"| {c['config_name']}{' (default)' if c.get('default') else ''} | {files} |")
        for o in metadata.get(OTHER_FILES) or []:
            out.append(f"| {o['format']} (not a config: `datasets` reads one file type per folder; "
                       f"`load_dataset(\"{'parquet' if str(o['path']).endswith('.parquet') else 'json'}\", "
                       f"data_files=...)`) | `{o['path']}` |")
    if epochs:
        out += ["", "## Curriculum", "", "Records are ordered by epoch; train in file order with sequential "
                "sampling (TRL's trainer shuffles by default, which loses the curriculum: see the project's "
                "docs/training.md).", ""]
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
        "for each skill: record id or line number in the input data), `model`, `template_hash`. Records checked "
        "with an LLM judge also carry its verdict: `metadata.judge` in JSONL, the `judge_*` columns in Parquet "
        "(null when not judged).",
        "",
    ]
    return "\n".join(out)


def write_card(path: Path, text: str) -> None:
    write_text(path, text)
