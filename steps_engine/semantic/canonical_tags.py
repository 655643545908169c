"""Canonical tags from free-form (open) tags, the InsTag recipe: normalise, merge
synonyms, fold or drop rare tags.

    canon = canonicalise(tag_lists, embedder)        # one list of raw tags per record
    canon.apply(["Public Speaking", "budgeting"])    # -> canonical tags, in order, de-duplicated
    canon.vocab_txt()                                # the vocabulary file text

Steps, in order (counts are numbers of records carrying a tag):
1. `normalise_tag`: Unicode NFKC, lower case, "&" -> "and", every run of other characters
   -> "_", British -> American spelling (a fixed word list and -isation -> -ization),
   plural words -> singular (rules with exceptions: -ics, -ss, -us, -is words, "series",
   "news", a few irregular plurals), a trailing "skill(s)" / "ability" dropped. Raw tags
   with the same normal form are one tag from here on.
2. Synonyms: tags are taken by count, most frequent first; each joins the most similar
   group head (cosine of the names as words) when that cosine is >= `merge_sim`
   (default 0.85) and the two are not named together for the same record in more than
   `max_cooc` (default 0.1) of the rarer tag's records - a tagger that lists both for one
   record treats them as different skills. Only heads are compared (no chaining: a group
   cannot drift away from its head). The head names the group.
3. Rare tags: a group with fewer than `min_count` records (default 2) is mapped onto the
   most similar group with at least `min_count` when that cosine is >= `rare_sim`
   (default 0.7), else dropped. Both are reported.

Thresholds: on all-MiniLM-L6-v2, names that mean the same thing in other words
(`budget_planning` / `budgeting`) mostly score above 0.8, while related but different
skills in the same domain (`sql` / `database_design`) mostly score 0.5-0.8; see
docs/embeddings.md for the measured pairs.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from steps_engine.semantic.embeddings.base import Embedder
from steps_engine.semantic.vocabulary import skill_phrase

__all__ = ["CanonConfig", "CanonicalTag", "Canonicalisation", "normalise_tag", "canonicalise"]

_UK_STEMS = ("organ", "optim", "priorit", "summar", "visual", "categor", "custom", "standard", "recogn",
             "minim", "maxim", "emphas", "special", "util", "real", "final", "normal", "personal", "memor",
             "apolog", "critic", "character", "general", "monet", "local", "modern", "author", "central")
_SPELLING = {
    "analyse": "analyze", "analysed": "analyzed", "analysing": "analyzing", "colour": "color",
    "colours": "colors", "behaviour": "behavior", "behavioural": "behavioral", "favour": "favor",
    "labour": "labor", "honour": "honor", "humour": "humor", "neighbour": "neighbor", "modelling": "modeling",
    "labelling": "labeling", "travelling": "traveling", "cancelled": "canceled", "centre": "center",
    "theatre": "theater", "programme": "program", "catalogue": "catalog", "defence": "defense",
    "licence": "license", "judgement": "judgment", "ageing": "aging", "jewellery": "jewelry",
    "grey": "gray", "fulfil": "fulfill", "enrol": "enroll", "paediatric": "pediatric", "mould": "mold",
}
for _stem in _UK_STEMS:
    for _a, _b in (("ise", "ize"), ("ised", "ized"), ("ises", "izes"), ("ising", "izing")):
        _SPELLING[_stem + _a] = _stem + _b
_IRREGULAR = {"analyses": "analysis", "hypotheses": "hypothesis", "crises": "crisis", "diagnoses": "diagnosis",
              "theses": "thesis", "syntheses": "synthesis", "children": "child", "criteria": "criterion",
              "phenomena": "phenomenon", "indices": "index", "matrices": "matrix", "women": "woman", "men": "man",
              "lives": "life", "leaves": "leaf", "wolves": "wolf", "knives": "knife", "halves": "half"}
_KEEP = frozenset("news series species data media always various previous gas bias yes chaos atlas "
                  "canvas lens thus plus corps".split())
_TRAILING = frozenset({"skill", "ability"})


def _singular(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word in _KEEP or not word.endswith("s"):
        return word
    if word.endswith(("ss", "us", "is", "ics", "ous")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    return word[:-1]


def _spell(word: str) -> str:
    if word.endswith(("isation", "isations")):
        return word.replace("isation", "ization")
    return _SPELLING.get(word, word)


def normalise_tag(raw: str) -> str:
    """The normal form of a raw tag (snake_case; "" when nothing is left). See step 1."""
    text = unicodedata.normalize("NFKC", str(raw)).lower().replace("&", " and ")
    words = [w for w in re.split(r"[^0-9a-z+#]+", text) if w]
    words = [_spell(_singular(_spell(w))) for w in words]
    while len(words) > 1 and words[-1] in _TRAILING:
        words.pop()
    return "_".join(words)


@dataclass(frozen=True)
class CanonConfig:
    merge_sim: float = 0.85
    max_cooc: float = 0.1
    min_count: int = 2
    rare_sim: float = 0.7
    neighbours: int = 20  # candidate heads looked at per tag (nearest by cosine)

    def validate(self) -> None:
        for name in ("merge_sim", "rare_sim"):
            v = getattr(self, name)
            if not -1.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [-1, 1], got {v}")
        if not 0.0 <= self.max_cooc <= 1.0:
            raise ValueError(f"max_cooc must be in [0, 1], got {self.max_cooc}")
        if self.min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {self.min_count}")
        if self.neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {self.neighbours}")


@dataclass
class CanonicalTag:
    name: str
    count: int  # records carrying any of its raw tags
    absorbed: dict[str, int] = field(default_factory=dict)  # raw tag -> records carrying it


@dataclass
class Canonicalisation:
    tags: list[CanonicalTag]  # most frequent first
    mapping: dict[str, str | None]  # raw tag -> canonical name (None: dropped)
    normal_merges: list[tuple[str, str]]  # (raw, normal form) where the two differ
    synonym_merges: list[tuple[str, str, float]]  # (normal form, head, cosine)
    rare_mapped: list[tuple[str, str, float]]  # (rare group, frequent group, cosine)
    dropped: list[tuple[str, int]]  # (rare group, records)
    config: CanonConfig = CanonConfig()

    def apply(self, raw_tags: Sequence[str]) -> list[str]:
        out: list[str] = []
        for t in raw_tags:
            c = self.mapping.get(t)
            if c is not None and c not in out:
                out.append(c)
        return out

    def summary(self) -> str:
        raw = len(self.mapping)
        return (f"{raw} raw tags -> {len(self.tags)} canonical: {len(self.normal_merges)} respelled, "
                f"{len(self.synonym_merges)} merged as synonyms, {len(self.rare_mapped)} rare mapped onto a "
                f"frequent tag, {len(self.dropped)} rare dropped")

    def vocab_txt(self) -> str:
        """One canonical tag per line: `name<TAB>records<TAB>raw (n); raw (n)`; '#' lines are
        comments (settings, and the dropped tags at the end). `load_vocabulary` reads it."""
        c = self.config
        lines = [f"# canonical tags built by steps tag --open: {self.summary()}",
                 f"# merge_sim={c.merge_sim} max_cooc={c.max_cooc} min_count={c.min_count} rare_sim={c.rare_sim}",
                 "# tag\trecords\tabsorbed raw tags (records)"]
        for t in self.tags:
            absorbed = "; ".join(f"{r} ({n})" for r, n in sorted(t.absorbed.items(), key=lambda kv: (-kv[1], kv[0])))
            lines.append(f"{t.name}\t{t.count}\t{absorbed}")
        for name, n in self.dropped:
            lines.append(f"# dropped (rare, nothing similar): {name} ({n})")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        return {"tags": [{"name": t.name, "count": t.count, "absorbed": t.absorbed} for t in self.tags],
                "mapping": self.mapping, "synonym_merges": self.synonym_merges, "rare_mapped": self.rare_mapped,
                "dropped": self.dropped, "config": self.config.__dict__}


def _top_neighbours(vecs: np.ndarray, m: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the m most similar other rows (indices, cosines), best first; blocked."""
    n = len(vecs)
    m = max(1, min(m, n - 1))
    idx = np.zeros((n, m), dtype=np.int64)
    val = np.zeros((n, m), dtype=np.float32)
    for lo in range(0, n, block):
        sim = vecs[lo: lo + block] @ vecs.T
        np.fill_diagonal(sim[:, lo: lo + block], -np.inf)
        part = np.argpartition(-sim, m - 1, axis=1)[:, :m]
        ps = np.take_along_axis(sim, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        idx[lo: lo + block] = np.take_along_axis(part, order, axis=1)
        val[lo: lo + block] = np.take_along_axis(ps, order, axis=1)
    return idx, val


def canonicalise(tag_lists: Sequence[Sequence[str]], embedder: Embedder, config: CanonConfig = CanonConfig()) -> Canonicalisation:
    """Canonical tags for the raw tags of every record (see the module docstring)."""
    config.validate()
    normal_of: dict[str, str] = {}
    raw_count: Counter = Counter()
    records: list[list[str]] = []  # normal forms per record, de-duplicated
    for tags in tag_lists:
        row: list[str] = []
        for raw in dict.fromkeys(tags):
            norm = normal_of.setdefault(raw, normalise_tag(raw))
            raw_count[raw] += 1
            if norm and norm not in row:
                row.append(norm)
        records.append(row)
    count = Counter(t for row in records for t in row)
    names = sorted(count, key=lambda t: (-count[t], t))  # most frequent first
    pos = {t: i for i, t in enumerate(names)}
    head = list(range(len(names)))
    synonym_merges: list[tuple[str, str, float]] = []
    rare_mapped: list[tuple[str, str, float]] = []
    dropped: list[tuple[str, int]] = []
    if len(names) > 1:
        vecs = embedder.encode([skill_phrase(t) for t in names])
        nb_idx, nb_sim = _top_neighbours(vecs, config.neighbours)
        pair: Counter = Counter()  # co-occurrence of normal forms in one record
        for row in records:
            ids = sorted(pos[t] for t in row)
            for a in range(len(ids)):
                for b in range(a + 1, len(ids)):
                    pair[ids[a], ids[b]] += 1
        is_head = np.zeros(len(names), dtype=bool)
        for i in range(len(names)):  # by count, most frequent first
            for j, s in zip(nb_idx[i], nb_sim[i]):
                if s < config.merge_sim:
                    break
                if j < i and is_head[j]:
                    both = pair.get((int(j), i), 0)
                    if both <= config.max_cooc * min(count[names[i]], count[names[j]]):
                        head[i] = int(j)
                        synonym_merges.append((names[i], names[j], round(float(s), 4)))
                        break
            is_head[i] = head[i] == i
        # group counts: records carrying any member
        group_count: Counter = Counter()
        for row in records:
            for g in {head[pos[t]] for t in row}:
                group_count[g] += 1
        heads = [i for i in range(len(names)) if is_head[i]]
        frequent = [i for i in heads if group_count[i] >= config.min_count]
        rare = [i for i in heads if group_count[i] < config.min_count]
        final = {i: i for i in frequent}
        if rare and frequent:
            sim = vecs[rare] @ vecs[frequent].T
            best = sim.argmax(axis=1)
            for r, b in zip(rare, best):
                s = float(sim[rare.index(r), b])
                if s >= config.rare_sim:
                    final[r] = frequent[b]
                    rare_mapped.append((names[r], names[frequent[b]], round(s, 4)))
        for r in rare:
            if r not in final:
                dropped.append((names[r], group_count[r]))
        group_of = {i: final.get(head[i]) for i in range(len(names))}
    else:
        group_of = {i: (i if count[names[i]] >= config.min_count else None) for i in range(len(names))}
        dropped = [(names[i], count[names[i]]) for i in range(len(names)) if group_of[i] is None]
    mapping: dict[str, str | None] = {}
    for raw, norm in normal_of.items():
        g = group_of.get(pos[norm]) if norm else None
        mapping[raw] = None if g is None else names[g]
    tag_count: Counter = Counter()
    absorbed: dict[str, dict[str, int]] = {}
    for tags in tag_lists:
        for c in {mapping[r] for r in tags if mapping.get(r) is not None}:
            tag_count[c] += 1
    for raw, c in mapping.items():
        if c is not None:
            absorbed.setdefault(c, {})[raw] = raw_count[raw]
    tags_out = [CanonicalTag(c, tag_count[c], absorbed.get(c, {})) for c in sorted(tag_count, key=lambda c: (-tag_count[c], c))]
    normal_merges = [(raw, norm) for raw, norm in normal_of.items() if raw != norm]
    return Canonicalisation(tags_out, mapping, normal_merges, synonym_merges, rare_mapped, dropped, config)
