"""Prompt templates for synthesis.

A template is plain text with named placeholders in braces, filled by a small explicit
renderer (no str.format attribute access, no eval). Placeholders:

  {k}            number of skills
  {skills}       the skills as a bulleted list
  {skill_list}   the skills, comma-separated
  {start}        the start skill of the combination
  {examples}     one real example per skill (text, or a note when none was found)
  {taxonomy_path} labels from the top-level cluster down to the combination's LCA

Any other `{identifier}` is an error (catches typos); other braces, such as a JSON
example, are left as they are. The rendered text is the single user message.
`template_hash(text)` (sha256 hex of the template text) goes into every record's provenance.
Built-in templates (`TEMPLATES`, chosen by name with `load_template("agent")`): `default`, one
multi-turn conversation in which every skill is essential; `agent`, the paper's agent-task mode
(a concrete goal no single skill reaches, real data in the user turn, an assistant that plans,
acts on that data and checks its result); see docs/quality.md for how it differs from the
reference script.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "AGENT_TEMPLATE",
    "DEFAULT_TEMPLATE",
    "FIELDS",
    "TEMPLATES",
    "build_messages",
    "load_template",
    "render_template",
    "template_hash",
    "validate_template",
]

FIELDS = ("k", "skills", "skill_list", "start", "examples", "taxonomy_path")

DEFAULT_TEMPLATE = """\
You write training data for a chat assistant.

Below are {k} skills and one real example for each. Fuse them into ONE new, realistic,
multi-turn conversation between a user and an assistant in which every listed skill is
essential: the task must be impossible to complete well without using all {k} of them.
Do not copy the examples; invent a fresh scenario that combines them naturally.

Skills:
{skills}

Examples:
{examples}

Write 2 to 6 turns, starting with the user and alternating user/assistant, ending with an
assistant turn. Answer with JSON only, in exactly this form:
{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
"""

AGENT_TEMPLATE = """\
You write training data for an AI agent that carries out multi-step work on real material.

Below are {k} skills and one real example for each. Design ONE concrete goal that no single
skill can reach alone: reaching it must need all {k} skills working together.

Skills:
{skills}

Examples (they show the kind of work each skill covers; do not copy them):
{examples}

Write exactly one user turn and one assistant turn:
- The user turn states the goal and carries the material to work on: a small table (markdown
  or CSV), a JSON object, a code snippet or a log excerpt, with concrete values. Invent
  realistic data when the examples have none. Everything needed must be in the user turn.
- The assistant turn works as an agent: a short numbered plan first; then it carries out each
  step on the user's data, showing the computations, code or edits and their results, using
  each skill where the work needs it (interleaved, not one skill per paragraph); it ends by
  checking the result against the goal and stating the outcome.
- Never mention skills, examples or these instructions inside the conversation.

Answer with JSON only, in exactly this form:
{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
"""

TEMPLATES = {"default": DEFAULT_TEMPLATE, "agent": AGENT_TEMPLATE}

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_hash(template: str) -> str:
    return hashlib.sha256(template.encode("utf-8")).hexdigest()


def validate_template(template: str, allowed: Sequence[str] = FIELDS) -> None:
    """Raise ValueError if `template` is not a string or uses a placeholder not in `allowed`."""
    if not isinstance(template, str) or not template.strip():
        raise ValueError("template must be a non-empty string")
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - set(allowed))
    if unknown:
        raise ValueError(f"template has unknown placeholder(s) {unknown}; allowed: {list(allowed)}")


def load_template(path: str | Path | None) -> str:
    """The template text from `path`; a built-in by name ("default", "agent") when no file of
    that name exists; the default when `path` is None."""
    if path is None:
        return DEFAULT_TEMPLATE
    if str(path) in TEMPLATES and not Path(path).is_file():
        return TEMPLATES[str(path)]
    if not Path(path).is_file():
        raise ValueError(f"template {str(path)!r}: no such file, and not a built-in template "
                         f"({', '.join(sorted(TEMPLATES))})")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"template {str(path)!r}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        validate_template(text)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return text


def render_template(template: str, fields: Mapping[str, object], allowed: Sequence[str] = FIELDS) -> str:
    validate_template(template, allowed)
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - set(fields))
    if missing:
        raise ValueError(f"fields missing for placeholders {missing}")
    return _PLACEHOLDER.sub(lambda m: str(fields[m.group(1)]), template)


def _combo_dict(combination) -> dict:
    if isinstance(combination, Mapping):
        return dict(combination)
    if hasattr(combination, "to_json"):
        return dict(combination.to_json())
    raise ValueError(f"combination must be a mapping or have to_json(), got {type(combination).__name__}")


def _example_block(seeds: Sequence, max_chars: int) -> str:
    parts = []
    for i, s in enumerate(seeds, 1):
        text = (s.text or "").strip()
        if not text:
            body = "(no example found in the data; rely on the skill name)"
        elif len(text) > max_chars:
            body = text[:max_chars].rstrip() + " [...]"
        else:
            body = text
        parts.append(f"Example {i} - skill: {s.skill}\n{body}")
    return "\n\n".join(parts)


def build_messages(combination, seeds: Sequence, template: str = DEFAULT_TEMPLATE, *, max_example_chars: int = 1500) -> list[dict]:
    """The exact chat messages sent for `combination` (a combos JSONL line or object
    with to_json) with `seeds` (one `seeds.Seed` per skill, in skill order)."""
    combo = _combo_dict(combination)
    skills = [str(s) for s in combo.get("skills") or []]
    if not skills:
        raise ValueError("combination has no skills")
    path = combo.get("taxonomy_labels") or []
    fields = {
        "k": len(skills),
        "skills": "\n".join(f"- {s}" for s in skills),
        "skill_list": ", ".join(skills),
        "start": combo.get("start") or skills[0],
        "examples": _example_block(seeds, max_example_chars),
        "taxonomy_path": " > ".join(str(p) for p in path) if path else "(whole taxonomy)",
    }
    return [{"role": "user", "content": render_template(template, fields)}]
