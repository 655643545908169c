"""Seed rotation: combinations that share a skill draw on its examples least-used first."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from steps_engine.synthesis.seeds import build_seed_index, pick_seeds

IFEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "ifeval" / "input_data.jsonl"


@pytest.mark.skipif(not IFEVAL.exists(), reason="../shared/data not present")
def test_rotation_spreads_each_skills_examples_and_is_reproducible():
    spec = {"path": str(IFEVAL), "format": "jsonl", "skills_field": "instruction_id_list", "text_field": "prompt"}
    idx = build_seed_index(spec, None, per_skill=20, seed=0)
    skills = sorted(idx.candidates)
    rng = random.Random(3)
    combos = [rng.sample(skills, 3) for _ in range(300)]

    def draw(usage):
        return [[s.source_id for s in pick_seeds(idx, c, start=c[0], seed=4, usage=usage)] for c in combos]

    usage: dict = {}
    rotated = draw(usage)
    assert rotated == draw({})  # same combinations, same order: same seeds
    plain = draw(None)
    # replay: every pick is a least-used free candidate of its skill (usage counts records,
    # whichever skill they were drawn for)
    seen: dict = {}
    for c, ids in zip(combos, rotated):
        taken = set()
        for s, sid in zip(c, ids):
            free = [x.source_id for x in idx.candidates[s] if x.source_id not in taken]
            assert sid in free and seen.get(sid, 0) == min(seen.get(x, 0) for x in free)
            taken.add(sid)
            seen[sid] = seen.get(sid, 0) + 1
    assert seen == usage and sum(usage.values()) == 3 * len(combos)
    distinct = lambda draws: len({sid for ids in draws for sid in ids})  # noqa: E731
    pool = len({x.source_id for s in skills for x in idx.candidates[s]})
    assert distinct(rotated) > distinct(plain)
    assert distinct(rotated) >= 0.95 * min(pool, 3 * len(combos))
