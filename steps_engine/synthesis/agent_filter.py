"""Optional LLM pre-filter for the agent template: "can these skills form one agent workflow?"

One request per distinct skill set (sorted), through the same `ChatClient`, retries and
on-disk `ResponseCache` as synthesis (yes / no answers only), so a rerun asks nothing again. The answer is read as
JSON `{"agentic": true|false, "reason": "..."}` (fences and prose around it allowed), else
from a leading YES / NO; anything else is `unclear` and the combination is kept (with the
verdict in provenance) rather than silently dropped. The verdict dict goes into every record's
provenance as `agent_filter`; a `no` makes the runner record the combination as `rejected`
with reason `agent_filter: ...` instead of sending the synthesis request.
"""

from __future__ import annotations

import asyncio
import random
import re

from steps_engine.llm.base import ChatClient, LLMError, scrub
from steps_engine.llm.cache import ResponseCache, cache_key
from steps_engine.llm.retry import RetryPolicy, complete_with_retries
from steps_engine.synthesis.parsing import json_values

__all__ = ["FILTER_PROMPT", "filter_messages", "parse_filter_answer", "filter_combinations"]

FILTER_PROMPT = """\
Decide whether these skills can be combined into ONE goal-oriented agent workflow: a concrete
task with real input data where an assistant plans, acts in several steps and checks its result,
and every skill is needed. Simple question answering, pure creative writing or plain
translation do not count.

Skills: {skill_list}

Answer with JSON only: {"agentic": true or false, "reason": "<one sentence>"}
"""

PARAMS = {"temperature": 0.0, "max_tokens": 120}


def filter_messages(skills: list[str]) -> list[dict]:
    return [{"role": "user", "content": FILTER_PROMPT.replace("{skill_list}", ", ".join(sorted(skills)))}]


def parse_filter_answer(text: str) -> tuple[str, str]:
    """("yes" | "no" | "unclear", reason)."""
    for data in json_values(text or ""):
        if isinstance(data, dict) and isinstance(data.get("agentic"), bool):
            return ("yes" if data["agentic"] else "no"), str(data.get("reason") or "")[:300]
    m = re.match(r"\W*(yes|no)\b", text or "", re.I)
    if m:
        return m.group(1).lower(), (text or "")[m.end():].strip()[:300]
    return "unclear", (text or "")[:300]


async def filter_combinations(skill_sets: list[list[str]], client: ChatClient, *, cache: ResponseCache | None,
                              policy: RetryPolicy, concurrency: int = 4, seed: int = 0,
                              secrets: tuple = ()) -> dict[tuple, dict]:
    """{sorted skill tuple: {"model", "verdict", "reason", "cached"} or {"model", "verdict": "error", "reason"}}."""
    keys = list(dict.fromkeys(tuple(sorted(s)) for s in skill_sets))
    out: dict[tuple, dict] = {}
    rng = random.Random(seed)
    queue = iter(keys)
    endpoint = getattr(client, "endpoint", None)

    async def worker() -> None:
        for key in queue:
            messages = filter_messages(list(key))
            ck = cache_key(client.model, messages, PARAMS, endpoint)
            completion = cache.get(ck) if cache is not None else None
            cached = completion is not None
            if completion is None:
                try:
                    completion, _ = await complete_with_retries(client, messages, PARAMS, policy, rng)
                except LLMError as exc:
                    out[key] = {"model": client.model, "verdict": "error", "reason": scrub(exc.reason, *secrets)}
                    continue
            verdict, reason = parse_filter_answer(completion.text)
            if cache is not None and not cached and verdict != "unclear":  # only usable answers are kept
                cache.put(ck, completion)
            out[key] = {"model": client.model, "verdict": verdict, "reason": scrub(reason, *secrets), "cached": cached}

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(keys))))]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
    return out
