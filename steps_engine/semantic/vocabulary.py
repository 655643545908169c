"""Skill names as text: the phrase embedded for a name, and a vocabulary of skill names."""

from __future__ import annotations

import re
from typing import Sequence

__all__ = ["Vocabulary", "skill_phrase", "skill_texts"]


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def skill_phrase(skill: str, template: str = "{}") -> str:
    """'public_speaking' -> 'public speaking' (also kebab-case and camelCase), in `template`."""
    words = _CAMEL.sub(" ", skill)
    words = re.sub(r"[_\-./]+", " ", words)
    words = re.sub(r"\s+", " ", words).strip().lower()
    return template.format(words)


def skill_texts(skills: Sequence[str]) -> list[str]:
    """The text embedded for each skill name (snake_case -> words)."""
    return [skill_phrase(s) for s in skills]


_STOP = frozenset(
    "a an and the of for to in on with by or as at from into skill skills task tasks "
    "management techniques technique analysis".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    return word[:5]  # crude but language-agnostic enough for overlap counting


def _content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


class Vocabulary:
    """Skill names (exact duplicates and blanks removed, first occurrence kept)."""

    def __init__(self, skills: Sequence[str]):
        seen: dict[str, None] = {}
        for s in skills:
            s = str(s).strip()
            if s and s not in seen:
                seen[s] = None
        if not seen:
            raise ValueError("vocabulary is empty")
        self.skills = list(seen)
        self._words: list[set[str]] | None = None
        self._chars = None

    def __len__(self) -> int:
        return len(self.skills)

    def phrases(self, template: str = "{}", phrase_names: bool = True) -> list[str]:
        if not phrase_names:
            return list(self.skills)
        return [skill_phrase(s, template) for s in self.skills]

    def content_words(self) -> list[set[str]]:
        if self._words is None:
            self._words = [_content_words(skill_phrase(s)) for s in self.skills]
        return self._words

    def char_index(self):
        """The character n-gram tf-idf index of the skills' words (built once)."""
        if self._chars is None:
            from steps_engine.semantic.char_ngrams import CharNgramIndex

            self._chars = CharNgramIndex([skill_phrase(s) for s in self.skills])
        return self._chars
