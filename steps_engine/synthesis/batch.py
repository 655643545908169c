"""Dry runs and the OpenAI Batch API.

- `write_dry_run(jobs, directory, ...)` writes `prompts.jsonl` (one line per combination:
  id, skills, start, k, seeds, messages, model, template_hash) and `batch_input.jsonl`
  (Batch API input: {"custom_id", "method": "POST", "url": "/v1/chat/completions",
  "body": {"model", "messages", ...params}}), both atomically. custom_id is the
  combination id, so a Batch output file maps back to its combinations.
- `read_batch_output(path)` reads a Batch output file into {custom_id: (Completion or
  None, error or None)}; `synthesize(..., import_batch=path)` turns it into result records.
- `check_batch_input_line(obj)` raises ValueError when a line breaks the input format.
"""

from __future__ import annotations

import json
from pathlib import Path

from steps_engine.llm.base import Completion
from steps_engine._atomic import write_jsonl

__all__ = ["BATCH_URL", "write_dry_run", "read_batch_output", "check_batch_input_line", "batch_line"]

BATCH_URL = "/v1/chat/completions"


def batch_line(custom_id: str, model: str, messages: list[dict], params: dict) -> dict:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": BATCH_URL,
        "body": {"model": model, "messages": messages, **params},
    }


def check_batch_input_line(obj) -> None:
    if not isinstance(obj, dict):
        raise ValueError("batch line must be an object")
    if set(obj) != {"custom_id", "method", "url", "body"}:
        raise ValueError(f"batch line keys must be custom_id, method, url, body; got {sorted(obj)}")
    if not isinstance(obj["custom_id"], str) or not obj["custom_id"]:
        raise ValueError("custom_id must be a non-empty string")
    if obj["method"] != "POST" or obj["url"] != BATCH_URL:
        raise ValueError(f"method/url must be POST {BATCH_URL}, got {obj['method']} {obj['url']}")
    body = obj["body"]
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        raise ValueError("body.model must be a non-empty string")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise ValueError("body.messages must be a non-empty list")
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") or not isinstance(m.get("content"), str):
            raise ValueError(f"bad message in body.messages: {str(m)[:80]}")


def _write_jsonl_atomic(path: Path, rows) -> None:
    write_jsonl(path, rows)


def write_dry_run(jobs, directory: str | Path, *, model: str, template_hash_: str, params: dict) -> tuple[Path, Path]:
    directory = Path(directory)
    prompts = directory / "prompts.jsonl"
    batch = directory / "batch_input.jsonl"
    _write_jsonl_atomic(prompts, (j.provenance(model, template_hash_) | {"messages": j.messages} for j in jobs))
    _write_jsonl_atomic(batch, (batch_line(j.id, model, j.messages, j.request_params(params)) for j in jobs))
    return prompts, batch


def read_batch_output(path: str | Path) -> tuple[dict, list[str]]:
    """{custom_id: (Completion, None) or (None, reason)} and problems (bad lines)."""
    path = Path(path)
    out, problems = {}, []
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ValueError(f"batch output file {str(path)!r} not found") from None
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                cid = obj["custom_id"]
                if not isinstance(cid, str):
                    raise TypeError("custom_id is not a string")
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(f"{path}: line {n}: not a Batch output line ({exc}), skipped")
                continue
            out[cid] = _answer(obj)
    return out, problems


def _answer(obj: dict) -> tuple[Completion | None, str | None]:
    err = obj.get("error")
    if err:
        msg = err.get("message") if isinstance(err, dict) else str(err)
        code = err.get("code") if isinstance(err, dict) else None
        return None, f"batch error {code}: {msg}" if code else f"batch error: {msg}"
    resp = obj.get("response") or {}
    status = resp.get("status_code")
    body = resp.get("body") or {}
    if status != 200:
        msg = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
        return None, f"HTTP {status}: {msg or 'no message'}"
    try:
        text = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None, "batch response has no choices[0].message.content"
    if not isinstance(text, str):
        return None, "batch response content is not a string"
    usage = {k: v for k, v in (body.get("usage") or {}).items() if k in ("prompt_tokens", "completion_tokens", "total_tokens") and isinstance(v, int)}
    return Completion(text=text, usage=usage, model=body.get("model")), None
