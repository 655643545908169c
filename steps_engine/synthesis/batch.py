"""Dry runs and the OpenAI Batch API.

- `write_dry_run(jobs, directory, ...)` writes `prompts.jsonl` (one line per combination:
  id, skills, start, k, seeds, messages, model, template_hash) and `batch_input.jsonl`
  (Batch API input: {"custom_id", "method": "POST", "url": "/v1/chat/completions",
  "body": {"model", "messages", ...params}}), both atomically. custom_id is the
  combination id, so a Batch output file maps back to its combinations.
- Batch input files hold at most `MAX_REQUESTS` (50,000) lines and `MAX_BYTES` (200 MB)
  each (the Batch API's limits): one `batch_input.jsonl` when everything fits, else
  `batch_input-00001-of-0000N.jsonl` parts (`split_lines`); parts of an earlier run that
  are no longer written are removed. `batch_input_files(directory)` lists the current ones.
- `read_batch_output(path)` reads a Batch output file into {custom_id: (Completion or
  None, error or None)}; `synthesize(..., import_batch=path)` turns it into result records.
- `check_batch_input_line(obj)` raises ValueError when a line breaks the input format.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from steps_engine.llm.base import Completion
from steps_engine._atomic import atomic_open, write_jsonl

__all__ = ["BATCH_URL", "MAX_REQUESTS", "MAX_BYTES", "write_dry_run", "read_batch_output", "check_batch_input_line",
           "batch_line", "split_lines", "batch_input_files"]

BATCH_URL = "/v1/chat/completions"
MAX_REQUESTS = 50_000  # lines per Batch input file
MAX_BYTES = 200_000_000  # bytes per Batch input file (200 MB)
_PART = re.compile(r"^batch_input-(\d{5})-of-(\d{5})\.jsonl$")


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


def split_lines(lines, max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES) -> list[list[bytes]]:
    """Encoded JSONL lines (each ending in a newline) in consecutive groups of at most
    `max_requests` lines and `max_bytes` bytes; ValueError for a single line over `max_bytes`."""
    if max_requests < 1 or max_bytes < 1:
        raise ValueError(f"max_requests and max_bytes must be >= 1, got {max_requests}, {max_bytes}")
    parts: list[list[bytes]] = [[]]
    size = 0
    for i, line in enumerate(lines, 1):
        if len(line) > max_bytes:
            raise ValueError(f"batch request {i} is {len(line)} bytes, more than a Batch file may hold ({max_bytes})")
        if len(parts[-1]) >= max_requests or size + len(line) > max_bytes:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line)
    return parts if parts[0] else []


def batch_input_files(directory: str | Path) -> list[Path]:
    """The Batch input files of the dry run in `directory`, in order."""
    directory = Path(directory)
    parts = sorted(p for p in directory.glob("batch_input-*-of-*.jsonl") if _PART.match(p.name))
    single = directory / "batch_input.jsonl"
    return parts or ([single] if single.is_file() else [])


def write_dry_run(jobs, directory: str | Path, *, model: str, template_hash_: str, params: dict,
                  max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES) -> tuple[Path, Path]:
    """Write prompts.jsonl and the Batch input file(s); returns (prompts, first batch file)."""
    directory = Path(directory)
    prompts = directory / "prompts.jsonl"
    _write_jsonl_atomic(prompts, (j.provenance(model, template_hash_) | {"messages": j.messages} for j in jobs))
    encoded = ((json.dumps(batch_line(j.id, model, j.messages, j.request_params(params)), ensure_ascii=False) + "\n").encode("utf-8")
               for j in jobs)
    parts = split_lines(encoded, max_requests, max_bytes) or [[]]
    if len(parts) == 1:
        names = ["batch_input.jsonl"]
    else:
        names = [f"batch_input-{i:05d}-of-{len(parts):05d}.jsonl" for i in range(1, len(parts) + 1)]
    for name, lines in zip(names, parts):
        with atomic_open(directory / name, "wb") as fh:
            fh.writelines(lines)
    for old in [directory / "batch_input.jsonl", *directory.glob("batch_input-*-of-*.jsonl")]:
        if old.name not in names and (old.name == "batch_input.jsonl" or _PART.match(old.name)) and old.is_file():
            old.unlink()  # a part of an earlier dry run that this one does not write
    return prompts, directory / names[0]


def read_batch_output(path: str | Path) -> tuple[dict, list[str]]:
    """{custom_id: (Completion, None) or (None, reason)} and problems (bad lines)."""
    path = Path(path)
    out, problems = {}, []
    if path.is_dir():
        raise ValueError(f"batch output file {str(path)!r} is a folder, expected the Batch API's output JSONL")
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
