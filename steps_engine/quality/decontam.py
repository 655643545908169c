"""Benchmark decontamination by n-gram overlap (the rule of lm-evaluation-harness).

Rule: a sample is contaminated by a benchmark record when they share at least one n-gram of
n = 13 words after `text.words` normalisation (NFKC, lowercase, punctuation removed). A
benchmark prompt shorter than n words (but at least `min_words`, default 8) is matched as a
whole: the sample must contain its entire word sequence. Prompts shorter than `min_words`
are skipped and counted (too short to tell a copy from a coincidence).

`BenchmarkIndex.from_files(paths, text_field=None)` reads benchmark files in any format the
ingest module reads (JSONL, JSON, CSV/TSV, Parquet); the text is `text_field` when given,
else the record shape's instruction (`prompt`, `instruction`, `question`, first user turn...).
Every n-gram keeps the file and line of the first record holding it. `check(texts)` finds,
per sample, the benchmark records it overlaps; every hash hit is verified word by word, so a
hash collision cannot produce a false report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from steps_engine.quality.text import ngram_hashes, token_ids, words

__all__ = ["BenchmarkIndex", "Overlap"]


@dataclass(frozen=True)
class Overlap:
    file: str
    line: int
    ngram: str  # the first shared n-gram, normalised
    shared: int  # distinct shared n-grams with this benchmark record

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "ngram": self.ngram, "shared": self.shared}


@dataclass
class BenchmarkIndex:
    n: int = 13
    min_words: int = 8
    files: list[str] = field(default_factory=list)
    records: list[tuple[int, int, list[str]]] = field(default_factory=list)  # (file index, line, words)
    tables: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # length -> (hashes, record)
    too_short: int = 0
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_files(cls, paths, *, text_field: str | None = None, n: int = 13, min_words: int = 8) -> "BenchmarkIndex":
        from steps_engine.data.ingest import BadRow, check_text_field, extract_text, iter_records

        if n < 1 or min_words < 1:
            raise ValueError(f"n and min_words must be >= 1, got {n}, {min_words}")
        index = cls(n=n, min_words=min(min_words, n))
        parts: dict[int, list[tuple[np.ndarray, int]]] = {}
        for path in paths:
            path = str(path)
            if not Path(path).is_file():
                raise ValueError(f"benchmark file {path!r} not found")
            if text_field is not None:  # a field no record has would index nothing, silently
                try:
                    check_text_field(path, text_field, sample=None, what="--decontaminate-field")
                except ValueError as exc:
                    raise ValueError(f"benchmark file {path!r}: {exc}") from None
            fi = len(index.files)
            index.files.append(path)
            found = 0
            for line, rec in iter_records(path):
                if isinstance(rec, BadRow):
                    index.problems.append(f"{path}: {rec}")
                    continue
                try:
                    text = extract_text(rec, text_field)
                except (ValueError, KeyError, TypeError) as exc:
                    index.problems.append(f"{path}: line {line}: no text ({exc}), skipped")
                    continue
                ws = words(text)
                if len(ws) < index.min_words:
                    index.too_short += 1
                    continue
                found += 1
                length = min(len(ws), n)
                parts.setdefault(length, []).append((ngram_hashes(token_ids(ws), length), len(index.records)))
                index.records.append((fi, line, ws))
            if not found:
                field_ = f"field {text_field!r}" if text_field else "a detected text field (prompt, instruction, ...)"
                index.problems.append(f"{path}: no benchmark text found in {field_}; pass --decontaminate-field")
        for length, items in parts.items():
            hashes = np.concatenate([h for h, _ in items])
            owner = np.concatenate([np.full(len(h), r, dtype=np.int64) for h, r in items])
            order = np.argsort(hashes, kind="stable")  # stable: the first record wins ties
            hashes, owner = hashes[order], owner[order]
            first = np.concatenate([[True], hashes[1:] != hashes[:-1]])
            index.tables[length] = (hashes[first], owner[first])
        return index

    def __len__(self) -> int:
        return len(self.records)

    def check_words(self, ws: list[str]) -> list[Overlap]:
        """The benchmark records sharing a verified n-gram with the word sequence `ws`."""
        if not self.tables or not ws:
            return []
        ids = token_ids(ws)
        hits: dict[int, list] = {}  # record -> [first position, length, count]
        for length, (table, owner) in self.tables.items():
            if len(ws) < length:
                continue
            h = ngram_hashes(ids, length)
            pos = np.searchsorted(table, h)
            pos[pos == len(table)] = 0
            found = np.flatnonzero(table[pos] == h)
            seen: set[tuple[int, int]] = set()
            for p in found.tolist():
                rec = int(owner[pos[p]])
                gram = tuple(ws[p : p + length])
                if (rec, hash(gram)) in seen or not self._contains(rec, gram):
                    continue
                seen.add((rec, hash(gram)))
                entry = hits.setdefault(rec, [p, length, 0])
                entry[2] += 1
        out = []
        for rec, (p, length, count) in hits.items():
            fi, line, _ = self.records[rec]
            out.append(Overlap(self.files[fi], line, " ".join(ws[p : p + length]), count))
        return sorted(out, key=lambda o: (-o.shared, o.file, o.line))  # the most overlapping record first

    def _contains(self, rec: int, gram: tuple[str, ...]) -> bool:
        """Word-by-word check that benchmark record `rec` holds `gram` (guards against collisions)."""
        ws = self.records[rec][2]
        m = len(gram)
        first = gram[0]
        for i in range(len(ws) - m + 1):
            if ws[i] == first and tuple(ws[i : i + m]) == gram:
                return True
        return False

    def check(self, text: str) -> list[Overlap]:
        return self.check_words(words(text))
