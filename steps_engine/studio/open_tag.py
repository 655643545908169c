"""Open-vocabulary tagging from the studio's Data page: a file without skill tags is tagged by
an LLM (`semantic.open_tagging`) into the workspace, ready to build a taxonomy from."""

from __future__ import annotations

from pathlib import Path

from steps_engine.curation.workspace import Workspace

__all__ = ["has_no_skills", "open_tag_into_workspace"]


def has_no_skills(preview_rows: list[dict]) -> bool:
    """True when a preview (`data.ingest.preview`) shows rows but none of them with a skill."""
    return bool(preview_rows) and not any(r.get("skills") for r in preview_rows)


def open_tag_into_workspace(ws: Workspace, input_path, model: str, base_url: str | None = None,
                            api_key: str | None = None, text_field: str | None = None,
                            concurrency: int = 4, embedder=None, progress=None):
    """Tag `input_path` with open LLM tags into `<workspace>/tagged/<name>.tagged.jsonl` (field
    "skills") plus `<name>.vocab.txt`; replies cached in `<name>.llm-cache` (a rerun resumes).
    The key is kept in memory only. Returns (tagged path, vocab path, OpenTagReport)."""
    import os

    from steps_engine.llm import ResponseCache
    from steps_engine.llm.openai_client import OpenAIChatClient
    from steps_engine.semantic.open_tagging import open_tag_file
    from steps_engine.semantic.tagging_llm import LLMOpenTagger

    if not model:
        raise ValueError("model: give the chat model that names the tags")
    api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    if api_key is None and base_url is None:
        raise ValueError("an API key or a base URL (e.g. a local server) is needed to reach the model")
    if embedder is None:
        from steps_engine.semantic.embeddings import get_embedder

        embedder = get_embedder()
    import re

    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(input_path).stem).lstrip(".") or "input"
    out = ws.path("tagged", f"{stem}.tagged.jsonl")
    vocab = ws.path("tagged", f"{stem}.vocab.txt")
    client = OpenAIChatClient(model, api_key=api_key, base_url=base_url)
    tagger = LLMOpenTagger(client, concurrency=concurrency, cache=ResponseCache(ws.path("tagged", f"{stem}.llm-cache")))
    report = open_tag_file(input_path, out, vocab, tagger, embedder, text_field=text_field, progress=progress)
    return out, vocab, report
