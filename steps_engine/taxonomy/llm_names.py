"""Cluster names written by an LLM (any OpenAI-compatible endpoint through `llm.ChatClient`).

    result = name_clusters(tree, graph, client, cache_dir=..., examples=rows_by_skill)
    result.names            {node id: (name, description)} for the clusters the model named
    result.failures         {node id: reason} (the keyword name is kept for these)

Bottom-up: the deepest clusters first, so a parent's prompt lists its children's new names.
Each prompt gives the member skills (most frequent first), the cluster's keywords and
central members when recorded, and a few example instructions. The answer must be a JSON
object {"name": <= 60 characters, one line, "description": one sentence <= 300 characters};
anything else is a failure for that cluster, never a label. Answers are cached on disk
(`llm.ResponseCache`, keyed by model, prompt and parameters), so an interrupted run resumes
where it stopped and a rerun costs nothing. The model's text is parsed, never evaluated.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from steps_engine.llm import ChatClient, LLMError, ResponseCache, RetryPolicy, cache_key, complete_with_retries
from steps_engine.llm.run import run_sync
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["NamingResult", "name_clusters", "name_folder", "parse_name", "PROMPT_VERSION"]

PROMPT_VERSION = 1
MAX_NAME = 60
MAX_DESCRIPTION = 300
SYSTEM = (
    "You name clusters of a skill taxonomy for instruction-tuning data. Answer with one JSON object "
    '{"name": "...", "description": "..."}: a short name (2-5 words, no ids) a data curator understands, '
    "and one sentence saying what the skills have in common. No other text."
)


@dataclass
class NamingResult:
    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    cached: int = 0  # answers read from the cache
    requests: int = 0  # answers fetched from the endpoint


def parse_name(text: str) -> tuple[str, str]:
    """(name, description) from a model answer; ValueError saying what is wrong."""
    s = str(text).strip()
    fence = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", s, re.S)
    if fence:
        s = fence.group(1)
    elif not s.startswith("{"):
        m = re.search(r"\{.*\}", s, re.S)
        if not m:
            raise ValueError("the answer holds no JSON object")
        s = m.group(0)
    try:
        obj = json.loads(s)
    except ValueError as exc:
        raise ValueError(f"the answer is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError("the answer is not a JSON object")
    name, desc = obj.get("name"), obj.get("description", "")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("the answer has no 'name' string")
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise ValueError(f"the name is longer than {MAX_NAME} characters")
    if not isinstance(desc, str):
        raise ValueError("'description' is not a string")
    desc = " ".join(desc.split())[:MAX_DESCRIPTION]
    return name, desc


def _prompt(tree: EncodingTree, i: int, counts: np.ndarray, child_names: list[str], examples: list[str], record: dict) -> str:
    pos = {s: k for k, s in enumerate(tree.skills)}
    members = sorted(tree.members(i), key=lambda s: (-counts[pos[s]], s))
    lines = [f"Name this skill cluster ({len(members)} skills)."]
    lines.append("Member skills, most frequent first: " + ", ".join(members[:25]) + (" …" if len(members) > 25 else ""))
    if record.get("by") == "keywords" and record.get("label"):
        lines.append(f"Distinctive words in its rows: {record['label']}")
    if record.get("central"):
        lines.append("Most central skills: " + ", ".join(record["central"]))
    if child_names:
        lines.append("Its sub-clusters are named: " + "; ".join(child_names))
    for k, ex in enumerate(examples[:3], 1):
        lines.append(f"Example instruction {k}: {ex[:300]}")
    return "\n".join(lines)


def name_clusters(
    tree: EncodingTree,
    graph,
    client: ChatClient,
    *,
    cache_dir: str | Path,
    examples: Mapping[str, list[str]] | None = None,
    params: dict | None = None,
    concurrency: int = 4,
    policy: RetryPolicy | None = None,
    only: set[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> NamingResult:
    """Ask `client` for a name of every internal non-root cluster (or the ids in `only`).
    `examples` maps a skill to example instruction texts."""
    return run_sync(
        _name_all(tree, graph, client, Path(cache_dir), examples or {}, params or {"temperature": 0.0, "max_tokens": 120},
                  concurrency, policy or RetryPolicy(), only, progress)
    )


UNREACHABLE_AFTER = 2  # requests no server answered (after their retries) before the rest are not sent


async def _name_all(tree, graph, client, cache_dir, examples, params, concurrency, policy, only, progress) -> NamingResult:
    from steps_engine.taxonomy.naming import name_records

    cache = ResponseCache(cache_dir)
    result = NamingResult()
    depth = tree.depth()
    counts = np.ones(len(tree.skills))
    if graph is not None:
        gp = {s: k for k, s in enumerate(graph.skills)}
        counts = np.array([graph.counts[gp[s]] if s in gp else 0 for s in tree.skills], dtype=np.float64)
    records = name_records(tree)
    todo = [int(i) for i in np.flatnonzero(tree.leaf_skill < 0) if i != 0 and (only is None or tree.ids[i] in only)]
    todo = [i for i in todo if tree.member_counts()[i] > 0]
    total, done = len(todo), 0
    current = {i: tree.labels[i] for i in range(tree.n_nodes)}
    ch = tree.children()
    sem = asyncio.Semaphore(max(1, concurrency))
    rng = random.Random(0)
    answered = 0  # requests the endpoint answered (well-formed or not)
    unreachable: list[str] = []  # reasons of requests that never reached it, while none has

    async def one(i: int) -> None:
        nonlocal done, answered
        kids = [current[c] for c in ch[i] if tree.leaf_skill[c] < 0]
        pos = {s: k for k, s in enumerate(tree.skills)}
        members = sorted(tree.members(i), key=lambda s: (-counts[pos[s]], s))
        ex = [t for s in members[:3] for t in examples.get(s, [])[:1]]
        prompt = _prompt(tree, i, counts, kids, ex, records.get(tree.ids[i], {}))
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        key = cache_key(client.model, messages, {**params, "v": PROMPT_VERSION})
        comp = cache.get(key)
        try:
            if comp is None:
                async with sem:
                    if len(unreachable) >= UNREACHABLE_AFTER and answered == 0:
                        raise LLMError(f"not sent: the endpoint did not answer the first {len(unreachable)} "
                                       f"requests ({unreachable[0]}); rerun when it is up", retryable=False)
                    try:
                        comp, _ = await complete_with_retries(client, messages, params, policy, rng)
                    except LLMError as exc:
                        if exc.answered:
                            answered += 1
                        else:
                            unreachable.append(exc.reason)
                        raise
                    answered += 1
                result.requests += 1
                name, desc = parse_name(comp.text)
                cache.put(key, comp)  # only well-formed answers are cached: a rerun retries the rest
            else:
                result.cached += 1
                name, desc = parse_name(comp.text)
            result.names[tree.ids[i]] = (name, desc)
            current[i] = name
        except (LLMError, ValueError) as exc:
            result.failures[tree.ids[i]] = getattr(exc, "reason", None) or str(exc)
        done += 1
        if progress is not None:
            progress(done, total)

    try:
        for d in sorted({int(depth[i]) for i in todo}, reverse=True):  # bottom-up
            await asyncio.gather(*(one(i) for i in todo if depth[i] == d))
    finally:
        await client.aclose()
    return result


def name_folder(
    folder: str | Path,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    client: ChatClient | None = None,
    cache_dir: str | Path | None = None,
    concurrency: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict, NamingResult | None]:
    """Name the clusters of a taxonomy folder and write the labels into its taxonomy.json
    (atomically). Without `model` / `client`: keyword names (c-TF-IDF over the rows of
    input.json's file, or the skill names). With one: keyword names first, then the LLM's
    names bottom-up; a cluster whose answer is broken keeps its keyword name. Hand-written
    labels are kept either way. Returns ({"named", "by", "kept_hand", "failed"}, result)."""
    from steps_engine.data.rows import mapping_from_spec, read_rows
    from steps_engine.taxonomy.build import load_taxonomy
    from steps_engine.taxonomy.keyword_names import NameCorpus
    from steps_engine.taxonomy.naming import name_by_keywords, name_records, refresh_names, set_names

    folder = Path(folder)
    if model and client is None and not api_key and not base_url:
        raise ValueError("naming with an LLM needs an API key (OPENAI_API_KEY) or the base URL of a local "
                         "OpenAI-compatible server; without --model the clusters get keyword names")
    tax = load_taxonomy(folder)
    rows = None
    spec = tax.input_spec or {}
    if spec.get("path") and spec.get("skills_field"):
        try:
            rows = read_rows(spec["path"], mapping_from_spec(spec), max_rows=50_000, text_chars=4000)
        except (OSError, ValueError):
            rows = None
    if rows is not None and rows.has_text:
        corpus = NameCorpus.from_rows(rows.skills, rows.texts, tax.graph.skills)
    else:
        corpus = NameCorpus.from_skill_names(tax.graph.skills)
    tree = refresh_names(tax.tree, tax.graph, corpus)  # legacy labels become records; hand ones stay
    hand = {k for k, r in name_records(tree).items() if r.get("by") == "hand"}
    idx = {tree.node_index(k) for k in name_records(tree) if k not in hand}
    idx |= {int(i) for i in np.flatnonzero(tree.leaf_skill < 0) if i and tree.ids[i] not in hand}
    tree = name_by_keywords(tree, tax.graph, corpus, only=idx)
    result = None
    by = "keywords"
    if model or client is not None:
        if client is None:
            from steps_engine.llm.openai_client import OpenAIChatClient

            client = OpenAIChatClient(model, api_key=api_key, base_url=base_url)
        if cache_dir is None:
            from steps_engine.semantic.embeddings import default_cache_dir

            cache_dir = default_cache_dir() / "llm-names"
        wanted = {tree.ids[i] for i in idx}
        result = name_clusters(tree, tax.graph, client, cache_dir=cache_dir, examples=rows.examples() if rows else {},
                               concurrency=concurrency, only=wanted, progress=progress)
        if result.names:
            tree = set_names(tree, {k: v[0] for k, v in result.names.items()}, "llm",
                             {k: v[1] for k, v in result.names.items()})
        by = "llm"
    tax.tree = tree
    tree.save(folder / "taxonomy.json", tax.node_info())
    summary = {"named": len(idx) if result is None else len(result.names), "by": by, "kept_hand": len(hand),
               "failed": 0 if result is None else len(result.failures)}
    return summary, result
