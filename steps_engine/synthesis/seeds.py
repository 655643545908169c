"""Seed examples: one real record per skill of a combination.

`DIR/input.json` (written by `steps taxonomy`) says where the original records are.
`build_seed_index` streams them once through `steps_engine.data.ingest` and keeps, per skill,
at most `per_skill` candidates: those with the fewest tags, ties broken by a seeded
random priority (bottom-k sampling, so ties are sampled uniformly and memory stays
bounded on big inputs). `pick_seeds` then picks one candidate per skill: among the
unused candidates with the fewest tags, uniformly at random from a generator seeded by
(seed, sorted skills, start); a record is never used twice within one combination.
With a `usage` counter shared across the combinations of a dataset (the runner passes
one), the candidates used least so far come first, then the fewest tags: N combinations
that contain a skill rotate through its examples instead of all citing the same one.
Still reproducible: the same combinations in the same order give the same seeds.

A seed's `source_id` is the record's id field ("id", else "key", or `id_field`) when
present, else its 1-based line (record) number.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from steps_engine._atomic import read_json_object

__all__ = ["Seed", "SeedIndex", "load_input_spec", "build_seed_index", "pick_seeds"]

DEFAULT_ID_FIELDS = ("id", "key")
MAX_TEXT_CHARS = 4000


@dataclass(frozen=True)
class Seed:
    skill: str
    source_id: str | int | None  # None when no example was available
    text: str
    n_tags: int = 0

    def to_json(self) -> dict:
        return {"skill": self.skill, "source_id": self.source_id}


@dataclass
class SeedIndex:
    candidates: dict[str, list[Seed]] = field(default_factory=dict)  # sorted by n_tags
    n_records: int = 0
    problems: list[str] = field(default_factory=list)  # bad rows, input warnings

    def __len__(self) -> int:
        return len(self.candidates)


def load_input_spec(taxonomy_dir: str | Path) -> dict:
    """Read and check DIR/input.json; `spec["shard_paths"]` lists where each input shard is now.

    A local shard that is not where it was is looked for by name in DIR, DIR's parent and the
    working folder and accepted when its sha256 matches (noted in `spec["relocated"]`)."""
    path = Path(taxonomy_dir) / "input.json"
    if not path.exists():
        raise ValueError(f"{path}: not found (run `steps taxonomy` first)")
    spec = read_json_object(path, str(path), "a JSON object (as `steps taxonomy` writes it)")
    if spec.get("in_memory") and not spec.get("path"):
        raise ValueError(f"{path}: the taxonomy was built from {spec['in_memory']} in memory, so its records "
                         "cannot be found again; build it from a file, or save it with "
                         "`steps_engine.build_taxonomy(..., out=DIR)`, which keeps a copy")
    for key in ("path", "skills_field"):
        if not spec.get(key):
            raise ValueError(f"{path}: missing {key!r}")
        if not isinstance(spec[key], str):
            raise ValueError(f"{path}: {key!r} must be a string, got {spec[key]!r}")
    shards = spec.get("shards") or [{"path": spec["path"], "sha256": spec.get("sha256")}]
    if not isinstance(shards, list) or not all(isinstance(x, dict) for x in shards):
        raise ValueError(f"{path}: 'shards' must be a list of {{\"path\", \"sha256\"}} objects")
    spec["shard_paths"], spec["relocated"] = [], []
    for shard in shards:
        spec["shard_paths"].append(_locate(shard, Path(taxonomy_dir), path, spec["relocated"]))
    if len(spec["shard_paths"]) == 1 and not spec.get("shards"):
        spec["path"] = spec["shard_paths"][0]
    return spec


def _locate(shard: Mapping, taxonomy_dir: Path, spec_path: Path, relocated: list) -> str:
    where = str(shard.get("path") or "")
    if "://" in where:
        return where
    data = Path(where)
    if not data.is_absolute() and not data.exists():
        data = taxonomy_dir / data  # a relative path is relative to DIR
    if data.exists():
        return str(data)
    from steps_engine.data.ingest import file_sha256

    want = shard.get("sha256")
    places = [taxonomy_dir, taxonomy_dir.parent, Path.cwd()]
    if want:
        for folder in places:
            cand = folder / Path(where).name
            if cand.is_file() and file_sha256(cand) == want:
                relocated.append(f"{where}: moved; found the same bytes (sha256) at {cand}")
                return str(cand)
    looked = ", ".join(str(p) for p in dict.fromkeys(places))
    raise ValueError(
        f"{spec_path}: input data {where!r} does not exist"
        + (f" (no file {Path(where).name!r} with the recorded sha256 in {looked})" if want else "")
        + f"; put it back or write its new location into {spec_path}"
    )


def _records(path, fmt: str | None):
    """(line, record or BadRow) pairs from the ingest module (`path`: one path or a shard list)."""
    from steps_engine.data import ingest

    yield from ingest.iter_records(path, fmt)


def _priority(seed: int, line: int) -> float:
    h = hashlib.blake2b(f"{seed}:{line}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def build_seed_index(
    spec: Mapping,
    skills: Iterable[str] | None = None,
    *,
    per_skill: int = 20,
    seed: int = 0,
    id_field: str | None = None,
    check_hash: bool = True,
) -> SeedIndex:
    """One streaming pass over the input described by `spec` (DIR/input.json contents).
    Only `skills` are indexed (all skills when None)."""
    if per_skill < 1:
        raise ValueError(f"per_skill must be >= 1, got {per_skill}")
    from steps_engine.data.ingest import BadRow, FieldMapping, extract_skills, extract_text, file_sha256

    wanted = None if skills is None else set(skills)
    mapping = FieldMapping(
        skills_field=spec["skills_field"],
        skills_sep=spec.get("skills_sep"),
        text_field=spec.get("text_field") or None,
        casefold=bool(spec.get("casefold", False)),
    )
    text_field = mapping.text_field
    index = SeedIndex()
    shards = spec.get("shards") or [{"path": spec["path"], "sha256": spec.get("sha256")}]
    paths = spec.get("shard_paths") or [s["path"] for s in shards]
    index.problems += spec.get("relocated") or []
    for shard, where in zip(shards, paths):
        if check_hash and shard.get("sha256") and "://" not in where and file_sha256(where) != shard["sha256"]:
            index.problems.append(f"{where}: changed since the taxonomy was built (sha256 differs)")
    heaps: dict[str, list] = {}
    no_text = 0
    source = paths[0] if len(paths) == 1 else paths
    for line, record in _records(source, spec.get("format") if len(paths) == 1 else None):
        index.n_records += 1
        if isinstance(record, BadRow):
            _note(index, f"{spec['path']}: {record}")
            continue
        try:
            tags = extract_skills(record, mapping)
        except ValueError as exc:
            _note(index, f"{spec['path']}: line {line}: {exc}")
            continue
        hits = [t for t in tags if wanted is None or t in wanted]
        if not hits:
            continue
        source_id = _source_id(record, line, id_field)
        try:
            text = extract_text(record, text_field)
        except (ValueError, KeyError):
            text = ""
        if not text.strip():  # an example without text would be cited but not shown
            no_text += 1
            continue
        cand = Seed(skill="", source_id=source_id, text=text[:MAX_TEXT_CHARS], n_tags=len(tags))
        pri = _priority(seed, line)
        for skill in hits:
            heap = heaps.setdefault(skill, [])
            entry = (-len(tags), -pri, line, cand)  # root = worst kept candidate
            if len(heap) < per_skill:
                heapq.heappush(heap, entry)
            elif entry > heap[0]:
                heapq.heapreplace(heap, entry)
    if no_text:
        where = f"field {text_field!r}" if text_field else "the record shape's text field"
        index.problems.append(f"{spec['path']}: {no_text} record(s) with these skills have no text in {where}; "
                              "not used as examples")
    lines_of: dict[str, set] = {}  # source id -> lines of the kept candidates carrying it
    for heap in heaps.values():
        for e in heap:
            lines_of.setdefault(str(e[3].source_id), set()).add(e[2])
    shared = sorted((sid, sorted(lines)) for sid, lines in lines_of.items() if len(lines) > 1)
    if shared:
        sid, lines = shared[0]
        index.problems.append(f"{spec['path']}: {len(shared)} id(s) of example records name more than one record "
                              f"(e.g. {sid!r} on lines {', '.join(map(str, lines[:3]))}): the results' source ids "
                              "and the seed-copy check of `steps check` cannot tell them apart; give the records "
                              "distinct ids")
    for skill, heap in heaps.items():
        kept = sorted(heap, key=lambda e: (-e[0], -e[1]))
        index.candidates[skill] = [
            Seed(skill=skill, source_id=e[3].source_id, text=e[3].text, n_tags=e[3].n_tags) for e in kept
        ]
    return index


def _note(index: SeedIndex, problem: str, limit: int = 100) -> None:
    if len(index.problems) < limit:
        index.problems.append(problem)


def _source_id(record: Mapping, line: int, id_field: str | None):
    names = (id_field,) if id_field else DEFAULT_ID_FIELDS
    for name in names:
        v = record.get(name)
        if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v) != "":
            return v
    return line


def pick_seeds(index: SeedIndex, skills: list[str], *, start: str | None = None, seed: int = 0,
               usage: dict | None = None) -> list[Seed]:
    """One seed per skill, in the order of `skills`; never the same record twice. `usage`
    (source_id -> times used, updated here) ranks the least-used candidates first."""
    key = json.dumps([seed, sorted(skills), start], ensure_ascii=False)
    rng = random.Random(hashlib.sha256(key.encode("utf-8")).hexdigest())
    used: set = set()
    out = []
    for skill in skills:
        free = [c for c in index.candidates.get(skill, []) if c.source_id not in used]
        if not free:
            out.append(Seed(skill=skill, source_id=None, text="", n_tags=0))
            continue
        rank = (lambda c: (usage.get(c.source_id, 0), c.n_tags)) if usage is not None else (lambda c: c.n_tags)
        low = min(rank(c) for c in free)
        choice = rng.choice([c for c in free if rank(c) == low])
        used.add(choice.source_id)
        if usage is not None:
            usage[choice.source_id] = usage.get(choice.source_id, 0) + 1
        out.append(choice)
    return out
