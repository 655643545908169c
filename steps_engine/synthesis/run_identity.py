"""Which run a results file belongs to, so a resume never appends to another run's file.

A synthesis record's id already names its combination, model and template
(`runner.combination_id`); `run_fingerprint` names what else shapes the record: the taxonomy's
input data (the seed examples' source), `seed`, the request parameters and the agent pre-filter
model. Every record written carries it as `run`. Before anything is appended, `refuse_foreign`
raises a ValueError naming the file and the reason when `out`

- holds a line that is not a result record (another JSONL: data, combinations, a tagged set),
  or holds no result record at all while not empty;
- holds records of `steps check` (its output, not a results file);
- holds records whose combination is not in this run's combinations (another --combos,
  --model or --template), when `plan` (the base ids of this run) is given;
- holds records whose `run` differs from this run's.

Records written before fingerprints existed have no `run`: they are accepted when they are
result records of this plan (their seed and parameters cannot be checked), and counted in the
returned note.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["base_id", "run_fingerprint", "refuse_foreign"]

_GENERATION = re.compile(r"-g\d+$")
RESULT_STATUSES = ("ok", "rejected", "failed")  # a results record's status (check writes ok / rejected too)


def base_id(record_id: str) -> str:
    """The combination id of a record id (generation g > 0 ends in `-g<g>`)."""
    return _GENERATION.sub("", record_id)


def _input_identity(taxonomy_dir: Path) -> dict:
    """What of DIR/input.json says which records the seeds come from (not where they are now)."""
    from steps_engine._atomic import read_json_object

    path = taxonomy_dir / "input.json"
    if not path.is_file():
        return {}
    spec = read_json_object(path, str(path), "a JSON object (as `steps taxonomy` writes it)")
    shards = spec.get("shards") if isinstance(spec.get("shards"), list) else []
    keys = ("format", "skills_field", "skills_sep", "text_field", "casefold", "sha256")
    return {**{k: spec.get(k) for k in keys},
            "shards": [s.get("sha256") for s in shards if isinstance(s, dict)]}


def run_fingerprint(taxonomy_dir, *, seed: int, params: dict, agent_filter_model: str | None,
                    per_skill: int = 20) -> str:
    """sha256 (16 hex) of the taxonomy's input data, `seed`, `per_skill`, the request
    parameters and the agent pre-filter model."""
    blob = json.dumps({"input": _input_identity(Path(taxonomy_dir)), "seed": seed, "per_skill": per_skill,
                       "params": params, "agent_filter": agent_filter_model}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


_WHAT_TO_DO = "choose a new --out (or move that file away); nothing was written"


def refuse_foreign(path, records: list[dict], bad_lines: list[tuple[int, str]], *, run: str | None,
                   plan: Iterable[str] | None = None, nonempty: bool = False) -> str | None:
    """ValueError when `path` (its parsed `records` and its `bad_lines` = (line, reason) of
    lines that are JSON but not result records) is not a results file of this run; see the
    module docstring. Returns a note about records without a fingerprint, or None."""
    path = Path(path)
    if bad_lines:
        n, reason = bad_lines[0]
        more = f" (and {len(bad_lines) - 1} more line(s))" if len(bad_lines) > 1 else ""
        raise ValueError(f"{path}: line {n} is not a `steps synthesize` result record ({reason}){more}: "
                         f"the file is not a results file; {_WHAT_TO_DO}")
    if nonempty and not records:
        raise ValueError(f"{path}: not empty but holds no result record (no JSON line with an 'id'): "
                         f"the file is not a results file; {_WHAT_TO_DO}")
    checked = [r for r in records if isinstance(r.get("quality"), dict) and "config" in r["quality"]]
    if checked:
        raise ValueError(f"{path}: holds {len(checked)} record(s) written by `steps check` (e.g. {checked[0]['id']}): "
                         f"a checked file, not a results file; {_WHAT_TO_DO}")
    odd = [r for r in records if r.get("status") not in RESULT_STATUSES]
    if odd:
        raise ValueError(f"{path}: record {odd[0]['id']} has status {odd[0].get('status')!r}, not one of "
                         f"{', '.join(RESULT_STATUSES)}: the file is not a results file; {_WHAT_TO_DO}")
    if plan is not None:
        plan = set(plan)
        other = [r["id"] for r in records if base_id(r["id"]) not in plan]
        if other:
            raise ValueError(f"{path}: {len(other)} of its {len(records)} record(s) are not combinations of this run "
                             f"(e.g. {other[0]}): it holds another run's results (another --combos, --model or "
                             f"--template); {_WHAT_TO_DO}, or rerun with the run's own options")
    if run is not None:
        other = [r["id"] for r in records if r.get("run") is not None and r.get("run") != run]
        if other:
            raise ValueError(f"{path}: {len(other)} of its {len(records)} record(s) were written by a run with other "
                             f"options (e.g. {other[0]}): another --seed, request parameters (--temperature, "
                             f"--max-tokens, --request-seed, --param), --agent-filter, or other taxonomy input data; "
                             f"{_WHAT_TO_DO}, or rerun with the options that wrote it")
    legacy = sum(r.get("run") is None for r in records)
    if legacy:
        return (f"{path}: {legacy} record(s) carry no run fingerprint (written before fingerprints): "
                "resumed as this run's; their --seed and request parameters could not be checked")
    return None
