"""On-disk response cache: one JSON file per request, keyed by sha256 of
(model, messages, params, endpoint). Holds the response text and usage only (never the key);
callers store only answers they accepted, so a rejected answer is asked again next time."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from steps_engine.llm.base import Completion
from steps_engine._atomic import write_json

__all__ = ["ResponseCache", "cache_key"]


def cache_key(model: str, messages: list[dict], params: dict, endpoint: str | None = None) -> str:
    """`endpoint` (the base URL) keeps answers of one server from being replayed for another."""
    request = {"model": model, "messages": messages, "params": params}
    if endpoint is not None:
        request["endpoint"] = endpoint.rstrip("/")
    blob = json.dumps(
        request,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, directory: str | Path):
        self.dir = Path(directory)

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> Completion | None:
        try:
            with open(self._path(key), encoding="utf-8") as fh:
                data = json.load(fh)
            return Completion(text=data["text"], usage=dict(data.get("usage") or {}), model=data.get("model"))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or damaged entry: treat as a miss

    def discard(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def put(self, key: str, completion: Completion) -> None:
        write_json(self._path(key), {"text": completion.text, "usage": completion.usage, "model": completion.model})
