"""The LLM judge: a rubric prompt per sample, a JSON verdict, tolerant parsing, a decision.

The rubric is an editable template (placeholders `{k}`, `{skills}` bulleted, `{skill_list}`,
`{conversation}`; unknown `{names}` are an error, other braces stay). The default asks, for
every skill of the combination, whether it is essential to the task and actually exercised,
with a short quote as evidence; whether the instruction is self-contained; whether the answer
is correct and complete; and an overall score from 1 to 10, as JSON matching `VERDICT_SCHEMA`.
`response_format()` is that schema in the OpenAI `json_schema` form, sent where the endpoint
accepts it (the check runner drops it after the first 400 that names it).

`parse_verdict(text, skills)` reads the answer: any JSON value holding a `score` (whole
text, ```json fences, a balanced object inside prose: `synthesis.parsing.json_values`);
otherwise, for prose and broken JSON, `score: 7`, `7/10` and per-skill `name: yes/no` lines by
regular expressions. Nothing is evaluated. It raises `VerdictError` when no score is found.
`decide(verdict, ...)` gives the reason codes `judge_low_score` and `skill_missing`.
"""

from __future__ import annotations

import re
from pathlib import Path

from steps_engine.synthesis.parsing import json_values
from steps_engine.synthesis.prompts import render_template, validate_template

__all__ = [
    "DEFAULT_RUBRIC",
    "RUBRIC_FIELDS",
    "VERDICT_SCHEMA",
    "VerdictError",
    "build_judge_messages",
    "decide",
    "load_rubric",
    "parse_verdict",
    "response_format",
]

RUBRIC_FIELDS = ("k", "skills", "skill_list", "conversation")

DEFAULT_RUBRIC = """\
You grade synthetic training conversations for a chat assistant. The conversation below was
written to need ALL of these {k} skills:
{skills}

Conversation:
{conversation}

For EVERY skill above decide: is it essential (the task cannot be done well without it) and is
it actually exercised in the assistant's turns? Quote a few words of the conversation as
evidence (empty when not exercised). Then decide: is the first user turn self-contained (all
data and context needed is in it)? Is the assistant's answer correct? Is it complete? Give an
overall score from 1 (unusable) to 10 (excellent training data).

Answer with JSON only, in exactly this form:
{"skills": [{"skill": "<name>", "essential": true, "exercised": true, "evidence": "<quote>"}],
 "self_contained": true, "correct": true, "complete": true, "score": 8, "rationale": "<one sentence>"}
"""

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "skills": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "skill": {"type": "string"},
                    "essential": {"type": "boolean"},
                    "exercised": {"type": "boolean"},
                    "evidence": {"type": "string"},
                },
                "required": ["skill", "essential", "exercised", "evidence"],
                "additionalProperties": False,
            },
        },
        "self_contained": {"type": "boolean"},
        "correct": {"type": "boolean"},
        "complete": {"type": "boolean"},
        "score": {"type": "integer"},
        "rationale": {"type": "string"},
    },
    "required": ["skills", "self_contained", "correct", "complete", "score", "rationale"],
    "additionalProperties": False,
}


class VerdictError(ValueError):
    """A judge answer without a usable score; the message says why."""


def response_format() -> dict:
    return {"type": "json_schema", "json_schema": {"name": "sample_verdict", "strict": True, "schema": VERDICT_SCHEMA}}


def load_rubric(path: str | Path | None) -> str:
    if path is None:
        return DEFAULT_RUBRIC
    if not Path(path).is_file():
        raise ValueError(f"rubric {str(path)!r}: " + ("a folder, expected a template file" if Path(path).is_dir()
                                                      else "no such file"))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"rubric {str(path)!r}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        validate_template(text, RUBRIC_FIELDS)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return text


def _conversation_block(messages: list[dict]) -> str:
    return "\n\n".join(f"[{m.get('role')}]\n{m.get('content')}" for m in messages if m.get("role") != "system")


def build_judge_messages(record: dict, rubric: str = DEFAULT_RUBRIC) -> list[dict]:
    skills = [str(s) for s in record.get("skills") or []]
    fields = {
        "k": len(skills),
        "skills": "\n".join(f"- {s}" for s in skills),
        "skill_list": ", ".join(skills),
        "conversation": _conversation_block(record.get("messages") or []),
    }
    return [{"role": "user", "content": render_template(rubric, fields, RUBRIC_FIELDS)}]


# ---------------------------------------------------------------------------------------
# Parsing


def _key(name: str) -> str:
    return re.sub(r"[\W_]+", " ", str(name).lower()).strip()


def _truth(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("yes", "true", "y", "1"):
            return True
        if v in ("no", "false", "n", "0"):
            return False
    return None


def _score(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        score = float(value)
    elif isinstance(value, str):
        m = re.match(r"\s*(\d+(?:\.\d+)?)", value)
        if not m:
            return None
        score = float(m.group(1))
    else:
        return None
    return score if 0 <= score <= 10 else None


def _from_json(data: dict, skills: list[str]) -> dict | None:
    score = _score(data.get("score", data.get("overall_score", data.get("overall"))))
    if score is None:
        return None
    by_key = {_key(s): s for s in skills}
    verdicts = {}
    items = data.get("skills")
    if isinstance(items, dict):  # {"skill": {...}} form
        items = [{"skill": k, **v} if isinstance(v, dict) else {"skill": k, "exercised": v} for k, v in items.items()]
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        name = by_key.get(_key(item.get("skill", item.get("name", ""))))
        if name is None or name in verdicts:
            continue
        exercised = _truth(item.get("exercised", item.get("used")))
        verdicts[name] = {
            "essential": _truth(item.get("essential")),
            "exercised": exercised,
            "evidence": str(item.get("evidence") or "")[:300],
        }
    return {
        "score": score,
        "skills": verdicts,
        "self_contained": _truth(data.get("self_contained")),
        "correct": _truth(data.get("correct")),
        "complete": _truth(data.get("complete")),
        "rationale": str(data.get("rationale") or "")[:500],
    }


_SCORE_TEXT = re.compile(r"\b(?:overall\s*)?score\W{0,4}(?:is\s*|of\s*)?(\d+(?:\.\d+)?)(?:\s*(?:/|out of)\s*10)?", re.I)
_SCORE_FRACTION = re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", re.I)
_YES_NO = re.compile(r"\b(yes|no|true|false)\b", re.I)
_QUOTE = re.compile(r"[\"“]([^\"”]{3,200})[\"”]")


def _flag_text(text: str, name: str) -> bool | None:
    m = re.search(name.replace("_", r"[_ -]?") + r"\W{0,6}(yes|no|true|false)\b", text, re.I)
    return None if m is None else _truth(m.group(1))


def _from_text(text: str, skills: list[str]) -> dict | None:
    matches = list(_SCORE_TEXT.finditer(text)) or list(_SCORE_FRACTION.finditer(text))
    score = None
    for m in reversed(matches):  # the last stated score is the overall one
        score = _score(m.group(1))
        if score is not None:
            break
    if score is None:
        return None
    verdicts = {}
    lines = text.splitlines()
    for s in skills:
        pattern = re.compile(re.escape(s).replace(r"\_", "[_ ]").replace("_", "[_ ]"), re.I)
        for line in lines:
            m = pattern.search(line)
            if not m:
                continue
            rest = line[m.end():]
            answers = [_truth(a) for a in _YES_NO.findall(rest)]
            if not answers:
                continue
            quote = _QUOTE.search(rest)
            ess = _flag_text(rest, "essential")
            exe = _flag_text(rest, "exercised")
            verdicts[s] = {"essential": answers[0] if ess is None else ess,
                           "exercised": (answers[-1] if len(answers) > 1 else answers[0]) if exe is None else exe,
                           "evidence": quote.group(1) if quote else ""}
            break
    return {
        "score": score,
        "skills": verdicts,
        "self_contained": _flag_text(text, "self_contained"),
        "correct": _flag_text(text, "correct"),
        "complete": _flag_text(text, "complete"),
        "rationale": "",
    }


def parse_verdict(text: str, skills: list[str]) -> dict:
    """The judge's verdict: score (0-10), per-skill essential / exercised / evidence,
    self_contained, correct, complete (None when not stated), rationale, and `parsed`
    ("json" or "text")."""
    if not isinstance(text, str) or not text.strip():
        raise VerdictError("empty judge answer")
    for data in json_values(text):
        if isinstance(data, dict):
            verdict = _from_json(data, skills)
            if verdict is not None:
                return {**verdict, "parsed": "json"}
    verdict = _from_text(text, skills)
    if verdict is None:
        raise VerdictError("no score (0-10) found in the judge answer")
    return {**verdict, "parsed": "text"}


def decide(verdict: dict, skills: list[str], *, min_score: float | None = None,
           require_all_skills: bool = False) -> list[tuple[str, str]]:
    """Reason codes with details: `judge_low_score` below `min_score`; `skill_missing` when a
    skill is judged not essential or not exercised, or has no verdict, with `require_all_skills`."""
    out = []
    if min_score is not None and verdict["score"] < min_score:
        out.append(("judge_low_score", f"score {verdict['score']:g} < {min_score:g}"))
    if require_all_skills:
        missing = []
        for s in skills:
            v = verdict["skills"].get(s)
            if v is None:
                missing.append(f"{s} (no verdict)")
            elif v.get("exercised") is not True:
                missing.append(f"{s} (not exercised)")
            elif v.get("essential") is False:
                missing.append(f"{s} (not essential)")
        if missing:
            out.append(("skill_missing", ", ".join(missing)))
    return out
