"""Rule checks on one conversation; each failed rule gives the reason code `rule:<name>`.

- `empty_turn`: a turn whose content is empty or whitespace.
- `truncated`: the record says `finish_reason: length`; a turn has an odd number of ``` fences
  (an unclosed code block); or the last assistant turn ends on a character or word that cannot
  end a text (`,` `:` `;` `(` `-`, or "and", "the", "to", ...).
- `refusal`: an assistant turn that refuses ("I'm sorry, but I can't", "I cannot help with",
  "I am unable to ...").
- `meta_commentary`: text about the data rather than the task ("Skill 1:", "as an AI",
  "this conversation demonstrates", "the required skills", "Example 2 - skill").
- `skill_list_in_prompt`: the user turns name at least two of the combination's skills as
  their raw identifiers (a name with `_`, `:`, `/` or `.` written out, e.g. python_programming)
  or as a bare "- skill" list line: the prompt's skill list was pasted instead of used.
- `length`: non-system text shorter than `min_chars` or longer than `max_chars`, or fewer
  than `min_turns` / more than `max_turns` turns.

`check_rules(record, config) -> [(name, detail)]` runs all of them; nothing is evaluated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["RuleConfig", "check_rules", "RULES"]

RULES = ("empty_turn", "truncated", "refusal", "meta_commentary", "skill_list_in_prompt", "length")


@dataclass(frozen=True)
class RuleConfig:
    min_chars: int = 100
    max_chars: int = 30_000
    min_turns: int = 2
    max_turns: int = 16
    disabled: tuple[str, ...] = ()

    def __post_init__(self):
        unknown = sorted(set(self.disabled) - set(RULES))
        if unknown:
            raise ValueError(f"unknown rule(s) {unknown}; rules: {list(RULES)}")
        if self.min_chars < 0 or self.max_chars < self.min_chars:
            raise ValueError(f"need 0 <= min_chars <= max_chars, got {self.min_chars}, {self.max_chars}")
        if self.min_turns < 1 or self.max_turns < self.min_turns:
            raise ValueError(f"need 1 <= min_turns <= max_turns, got {self.min_turns}, {self.max_turns}")


_REFUSAL = re.compile(
    r"\b(?:I'?m sorry,? but I (?:can(?:no|')t|won'?t|am unable)|I (?:cannot|can'?t|won'?t) "
    r"(?:help|assist|comply|provide|do that)|I am (?:unable|not able) to (?:help|assist|comply|provide)|"
    r"I must (?:decline|refuse))",
    re.IGNORECASE,
)
_META = re.compile(
    r"^[ \t*]*skill[ \t]*\d+[ \t*]*[:\-]|\bas an ai\b|\bas a language model\b|"
    r"\bthis (?:conversation|dialogue|exchange) (?:demonstrates|showcases|combines|uses|illustrates)\b|"
    r"\b(?:the|all) (?:listed|required|given|above) skills\b|\bexample\s*\d+\s*-\s*skill\b|"
    r"\bhere is (?:a|the) (?:new )?(?:conversation|training example)\b",
    re.IGNORECASE | re.MULTILINE,
)
_BAD_END_CHARS = ",:;(-[{/"
_BAD_END_WORDS = {"and", "or", "but", "the", "a", "an", "to", "of", "with", "for", "which", "that", "because", "is", "are"}
_LAST_WORD = re.compile(r"([A-Za-z]+)\W*$")


def _truncated(record: dict, messages: list[dict]) -> str | None:
    if record.get("finish_reason") == "length":
        return "finish_reason is length"
    for i, m in enumerate(messages):
        if m["content"].count("```") % 2:
            return f"turn {i} has an unclosed ``` code block"
    last = next((m for m in reversed(messages) if m["role"] == "assistant"), None)
    if last is None:
        return None
    text = last["content"].rstrip()
    if text and text[-1] in _BAD_END_CHARS:
        return f"last assistant turn ends with {text[-1]!r}"
    if text and text[-1].isalpha():
        m = _LAST_WORD.search(text[-40:])
        if m and m.group(1).lower() in _BAD_END_WORDS:
            return f"last assistant turn ends with the word {m.group(1)!r}"
    return None


def _skill_list(record: dict, messages: list[dict]) -> str | None:
    skills = [s for s in record.get("skills") or [] if isinstance(s, str)]
    if len(skills) < 2:
        return None
    user = "\n".join(m["content"] for m in messages if m["role"] == "user")
    low = user.lower()
    lines = {ln.strip().lstrip("-*• ").strip().lower() for ln in user.splitlines()}
    named = []
    for s in skills:
        raw = s.lower()
        if any(c in raw for c in "_:/.") and raw in low:
            named.append(s)
        elif raw in lines or raw.replace("_", " ") in lines:
            named.append(s)
    if len(named) >= 2:
        return f"user turns name the skills {named}"
    return None


def check_rules(record: dict, config: RuleConfig = RuleConfig()) -> list[tuple[str, str]]:
    messages = [{"role": m.get("role"), "content": m.get("content") if isinstance(m.get("content"), str) else ""}
                for m in record.get("messages") or [] if isinstance(m, dict)]
    body = [m for m in messages if m["role"] != "system"]
    found: list[tuple[str, str]] = []
    off = set(config.disabled)

    def add(name: str, detail: str | None) -> None:
        if detail and name not in off:
            found.append((name, detail))

    empty = [i for i, m in enumerate(messages) if not m["content"].strip()]
    add("empty_turn", f"turn(s) {empty} are empty" if empty else None)
    add("truncated", _truncated(record, body))
    for i, m in enumerate(body):
        if m["role"] == "assistant":
            hit = _REFUSAL.search(m["content"])
            if hit:
                add("refusal", f"turn {i}: {hit.group(0)!r}")
                break
    for i, m in enumerate(body):
        hit = _META.search(m["content"])
        if hit:
            add("meta_commentary", f"turn {i}: {hit.group(0).strip()!r}")
            break
    add("skill_list_in_prompt", _skill_list(record, body))
    chars = sum(len(m["content"]) for m in body)
    detail = None
    if chars < config.min_chars:
        detail = f"{chars} characters < {config.min_chars}"
    elif chars > config.max_chars:
        detail = f"{chars} characters > {config.max_chars}"
    elif len(body) < config.min_turns:
        detail = f"{len(body)} turns < {config.min_turns}"
    elif len(body) > config.max_turns:
        detail = f"{len(body)} turns > {config.max_turns}"
    add("length", detail)
    return found
