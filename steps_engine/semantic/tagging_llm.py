"""Optional LLM tagger: an OpenAI-compatible chat model names the skills a record needs
(open tags), then each open tag is mapped onto the vocabulary by embedding similarity.

    tagger = LLMOpenTagger(client)                       # any steps_engine.llm.ChatClient
    open_tags = tagger(instructions, responses)          # list[list[str]] (or LLMFailure)
    tags = map_to_vocabulary(open_tags, vocab, embedder, min_sim=0.5, top_k=5)
    reranked = LLMReranker(client)(instructions, candidates)   # per record: chosen candidates

Requests go through the synthesis client's retry policy and (optionally) its on-disk
response cache, `concurrency` at a time; temperature 0 by default. A reply with no usable
answer is reported as an `LLMFailure` and not cached (a rerun asks again).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from steps_engine.semantic.embeddings.base import Embedder
from steps_engine.semantic.vocabulary import Vocabulary, skill_phrase

__all__ = ["LLMFailure", "LLMOpenTagger", "LLMReranker", "build_messages", "build_rerank_messages",
           "parse_open_tags", "map_to_vocabulary"]

SYSTEM = (
    "You label instruction-tuning examples with the skills they require. Reply with only a JSON "
    "list of 1 to 5 short skill names in snake_case, most important first, e.g. "
    '["public_speaking", "budget_planning"].'
)


@dataclass
class LLMFailure:
    reason: str


def build_messages(instruction: str, response: str = "", max_chars: int = 4000) -> list[dict]:
    body = f"Instruction:\n{instruction[:max_chars]}"
    if response:
        body += f"\n\nResponse:\n{response[:max_chars]}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": body}]


def _snake(tag: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", tag.strip().lower()).strip("_")


_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
_PROSE = re.compile(r"[.!?](?:\s|$)")


def parse_open_tags(text: str, limit: int = 10) -> list[str]:
    """Skill names from a reply: the first JSON list of strings in it; else bulleted or
    numbered lines; else comma / semicolon / line separated items when the reply is not
    prose (no sentence ends). Items longer than 6 words are dropped; snake_cased,
    de-duplicated. A refusal or chatter gives []."""
    text = text or ""
    items: list[str] = []
    m = re.search(r"\[.*?\]", text, flags=re.S)
    if m:
        try:
            data = json.loads(m.group(0))
            if isinstance(data, list):
                items = [str(x) for x in data if isinstance(x, (str, int, float))]
        except ValueError:
            items = []
    if not items:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        bullets = [_BULLET.sub("", ln) for ln in lines if _BULLET.match(ln)]
        if bullets:
            items = bullets
        elif not _PROSE.search(text):
            items = re.split(r"[,\n;]", text)
    out: list[str] = []
    for it in items:
        s = _snake(it)
        if s and s not in out and len(s) <= 80 and s.count("_") < 6:
            out.append(s)
    return out[:limit]


class _LLMBatch:
    """Shared request loop: `_messages(item)` -> messages, `_parse(text, item)` -> answer or
    None (unusable reply). Calls are concurrent, cached per reply, retried per the policy."""

    def __init__(self, client, concurrency: int = 4, params: dict | None = None, cache=None,
                 max_retries: int = 5, seed: int = 0):
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        from steps_engine.llm import RetryPolicy

        self.client = client
        self.concurrency = concurrency
        self.params = dict(params if params is not None else {"temperature": 0})
        self.cache = cache
        self.policy = RetryPolicy(max_retries=max_retries)
        self.seed = seed

    async def _one(self, sem, rng, item):
        from steps_engine.llm import LLMError, cache_key, complete_with_retries

        messages = self._messages(item)
        key = (cache_key(self.client.model, messages, self.params, getattr(self.client, "endpoint", None))
               if self.cache is not None else None)
        if key is not None:
            hit = self.cache.get(key)
            if hit is not None:
                answer = self._parse(hit.text, item)
                if answer is not None:
                    return answer
        async with sem:
            try:
                completion, _ = await complete_with_retries(self.client, messages, self.params, self.policy, rng)
            except LLMError as exc:
                return LLMFailure(exc.reason)
        answer = self._parse(completion.text, item)
        if answer is None:
            return LLMFailure(f"reply had no usable answer: {completion.text[:80]!r}")
        if key is not None:
            self.cache.put(key, completion)
        return answer

    async def _run(self, items):
        sem = asyncio.Semaphore(self.concurrency)
        rng = random.Random(self.seed)
        return await asyncio.gather(*(self._one(sem, rng, it) for it in items))


class LLMOpenTagger(_LLMBatch):
    """Callable (instructions, responses) -> per record a list of open tags or an
    `LLMFailure`. `cache`: an `llm.ResponseCache` (None = no cache)."""

    def __init__(self, client, concurrency: int = 4, params: dict | None = None, cache=None,
                 max_retries: int = 5, seed: int = 0, include_response: bool = True):
        super().__init__(client, concurrency, params, cache, max_retries, seed)
        self.include_response = include_response

    def _messages(self, item):
        instruction, response = item
        return build_messages(instruction, response if self.include_response else "")

    def _parse(self, text, item):
        return parse_open_tags(text) or None

    def __call__(self, instructions: Sequence[str], responses: Sequence[str] | None = None):
        responses = list(responses) if responses is not None else [""] * len(instructions)
        from steps_engine.llm.run import run_sync

        return run_sync(self._run(list(zip(instructions, responses))))


RERANK_SYSTEM = (
    "You label instruction-tuning examples with the skills they require. You get an instruction and "
    "a numbered list of candidate skills. Reply with only a JSON list of the candidates the "
    "instruction needs, most important first, at most {k}, copied exactly from the list."
)


def build_rerank_messages(instruction: str, candidates: Sequence[str], k: int = 5, max_chars: int = 4000) -> list[dict]:
    listing = "\n".join(f"{i + 1}. {c}" for i, c in enumerate(candidates))
    return [{"role": "system", "content": RERANK_SYSTEM.format(k=k)},
            {"role": "user", "content": f"Instruction:\n{instruction[:max_chars]}\n\nCandidates:\n{listing}"}]


class LLMReranker(_LLMBatch):
    """Callable (instructions, candidates per record) -> per record the candidates the model
    chose, best first (names outside the candidate list are ignored). A failed or unusable
    reply keeps that record's candidate order (and is counted in `failures`)."""

    def __init__(self, client, k: int = 5, **kw):
        super().__init__(client, **kw)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k
        self.failures: list[tuple[int, str]] = []

    def _messages(self, item):
        return build_rerank_messages(item[0], item[1], self.k)

    def _parse(self, text, item):
        by_snake = {_snake(c): c for c in item[1]}
        picked = []
        for t in parse_open_tags(text, limit=len(item[1])):
            c = by_snake.get(t)
            if c is not None and c not in picked:
                picked.append(c)
        return picked[: self.k] or None

    def __call__(self, instructions: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[list[str]]:
        if len(instructions) != len(candidates):
            raise ValueError(f"candidates must have {len(instructions)} entries, got {len(candidates)}")
        from steps_engine.llm.run import run_sync

        answers = run_sync(self._run([(i, list(c)) for i, c in zip(instructions, candidates)]))
        self.failures = [(i, a.reason) for i, a in enumerate(answers) if isinstance(a, LLMFailure)]
        return [list(c)[: self.k] if isinstance(a, LLMFailure) else a for a, c in zip(answers, candidates)]


def map_to_vocabulary(
    open_tags: Sequence[Sequence[str] | LLMFailure],
    vocab: Vocabulary,
    embedder: Embedder,
    min_sim: float = 0.5,
    top_k: int = 5,
) -> list[list[tuple[str, float]]]:
    """Each open tag -> its most similar vocabulary skill (names compared as words), kept
    when the cosine is >= `min_sim`; per record de-duplicated in tag order, at most `top_k`.
    Failures map to []."""
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if not -1.0 <= min_sim <= 1.0:
        raise ValueError(f"min_sim must be in [-1, 1], got {min_sim}")
    uniq = sorted({t for tags in open_tags if not isinstance(tags, LLMFailure) for t in tags})
    out: list[list[tuple[str, float]]] = []
    if uniq:
        vv = embedder.encode(vocab.phrases("{}"))
        tv = embedder.encode([skill_phrase(t) for t in uniq])
        sim = tv @ vv.T
        best = sim.argmax(axis=1)
        best_sim = sim[np.arange(len(uniq)), best]
        index = {t: i for i, t in enumerate(uniq)}
    for tags in open_tags:
        row: list[tuple[str, float]] = []
        if not isinstance(tags, LLMFailure):
            for t in tags:
                i = index[t]
                name = vocab.skills[best[i]]
                if best_sim[i] >= min_sim and all(name != n for n, _ in row):
                    row.append((name, float(best_sim[i])))
                if len(row) == top_k:
                    break
        out.append(row)
    return out
