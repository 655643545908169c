"""Parse and check model output. Output is data: json.loads only, never eval.

`parse_conversation(text) -> messages` tries, in order: the whole text as JSON; the
body of each ```json fenced block; each balanced {...} object (string-aware brace
matching), and returns the first that holds a valid conversation. It accepts {"messages": [...]}, {"conversation": [...]} or a bare
list of turns, and raises `OutputError(reason)` otherwise.
Checks: non-empty; roles alternate user/assistant starting with user (one optional
leading system turn); every content a non-empty string.
`normalized_hash(messages)` (lowercase, punctuation stripped, whitespace collapsed)
finds near-duplicates.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata

__all__ = ["OutputError", "parse_conversation", "check_messages", "normalized_hash", "json_values"]

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)


class OutputError(ValueError):
    """Model output that cannot be used; the message is the rejection reason."""


def _balanced_objects(text: str):
    """Yield each top-level balanced {...} substring, scanning left to right."""
    depth, start, in_str, esc = 0, -1, False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"' and depth > 0:
            in_str = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                yield text[start : i + 1]


def _json_candidates(text: str):
    """Parsed JSON values found in `text`, most likely first."""
    strings = [text.strip()] + [m.group(1).strip() for m in _FENCE.finditer(text)]
    for cand in strings:
        if cand:
            try:
                yield json.loads(cand)
            except ValueError:
                pass
    for obj in _balanced_objects(text):
        try:
            yield json.loads(obj)
        except ValueError:
            continue


def json_values(text: str):
    """Every JSON value found in `text` (whole text, fenced blocks, balanced objects), most likely first."""
    return _json_candidates(text)


def _turns(data):
    if isinstance(data, dict):
        for key in ("messages", "conversation", "conversations"):
            if key in data:
                return data[key]
        raise OutputError("JSON object has no 'messages' list")
    return data


def check_messages(messages) -> list[dict]:
    """Validate and normalise a list of turns to [{"role", "content"}, ...]."""
    if not isinstance(messages, list) or not messages:
        raise OutputError("messages must be a non-empty list")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise OutputError(f"message {i} is not an object")
        role, content = m.get("role"), m.get("content")
        if role not in ("system", "user", "assistant"):
            raise OutputError(f"message {i} has role {role!r}, expected user/assistant")
        if not isinstance(content, str) or not content.strip():
            raise OutputError(f"message {i} ({role}) has empty or non-string content")
        out.append({"role": role, "content": content})
    body = out[1:] if out[0]["role"] == "system" else out
    if not body:
        raise OutputError("conversation has no user/assistant turns")
    for i, m in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if m["role"] != expected:
            raise OutputError(f"roles do not alternate: turn {i} is {m['role']!r}, expected {expected!r}")
    if body[-1]["role"] != "assistant":
        raise OutputError("conversation does not end with an assistant turn")
    return out


def parse_conversation(text: str) -> list[dict]:
    """The first JSON value in `text` that holds a valid conversation; otherwise
    OutputError with the reason the first JSON value failed."""
    if not isinstance(text, str) or not text.strip():
        raise OutputError("empty output")
    first_error = None
    for data in _json_candidates(text):
        try:
            return check_messages(_turns(data))
        except OutputError as exc:
            first_error = first_error or exc
    raise first_error or OutputError("no parseable JSON object in output")


_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def normalized_hash(messages: list[dict]) -> str:
    """sha256 of the conversation's non-system text after normalisation."""
    text = "\n".join(_normalise(m["content"]) for m in messages if m.get("role") != "system")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
