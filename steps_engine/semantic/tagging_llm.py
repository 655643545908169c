"""Optional LLM tagger: an OpenAI-compatible chat model names the skills a record needs
(open tags), then each open tag is mapped onto the vocabulary by embedding similarity.

    tagger = LLMOpenTagger(client)                       # any steps_engine.llm.ChatClient
    open_tags = tagger(instructions, responses)          # list[list[str]] (or LLMFailure)
    tags = map_to_vocabulary(open_tags, vocab, embedder, min_sim=0.5, top_k=5)

Requests go through the synthesis client's retry policy and (optionally) its on-disk
response cache, `concurrency` at a time; temperature 0 by default.
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

__all__ = ["LLMFailure", "LLMOpenTagger", "build_messages", "parse_open_tags", "map_to_vocabulary"]

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


def parse_open_tags(text: str, limit: int = 10) -> list[str]:
    """Skill names from a reply: the first JSON list of strings in it, else comma / line
    separated items (bullets and numbering stripped); snake_cased, de-duplicated."""
    items: list[str] = []
    m = re.search(r"\[.*?\]", text or "", flags=re.S)
    if m:
        try:
            data = json.loads(m.group(0))
            if isinstance(data, list):
                items = [str(x) for x in data if isinstance(x, (str, int, float))]
        except ValueError:
            items = []
    if not items:
        items = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", p) for p in re.split(r"[,\n;]", text or "")]
    out: list[str] = []
    for it in items:
        s = _snake(it)
        if s and s not in out and len(s) <= 80:
            out.append(s)
    return out[:limit]


class LLMOpenTagger:
    """Callable (instructions, responses) -> per record a list of open tags or an
    `LLMFailure`. `cache`: an `llm.ResponseCache` (None = no cache)."""

    def __init__(self, client, concurrency: int = 4, params: dict | None = None, cache=None,
                 max_retries: int = 5, seed: int = 0, include_response: bool = True):
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        from steps_engine.llm import RetryPolicy

        self.client = client
        self.concurrency = concurrency
        self.params = dict(params if params is not None else {"temperature": 0})
        self.cache = cache
        self.policy = RetryPolicy(max_retries=max_retries)
        self.seed = seed
        self.include_response = include_response

    async def _one(self, sem, rng, instruction: str, response: str):
        from steps_engine.llm import LLMError, cache_key, complete_with_retries

        messages = build_messages(instruction, response if self.include_response else "")
        key = cache_key(self.client.model, messages, self.params, getattr(self.client, "endpoint", None)) if self.cache is not None else None
        if key is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return parse_open_tags(hit.text)
        async with sem:
            try:
                completion, _ = await complete_with_retries(self.client, messages, self.params, self.policy, rng)
            except LLMError as exc:
                return LLMFailure(exc.reason)
        if key is not None:
            self.cache.put(key, completion)
        tags = parse_open_tags(completion.text)
        return tags if tags else LLMFailure("reply had no skill names")

    async def _run(self, instructions, responses):
        sem = asyncio.Semaphore(self.concurrency)
        rng = random.Random(self.seed)
        return await asyncio.gather(*(self._one(sem, rng, i, r) for i, r in zip(instructions, responses)))

    def __call__(self, instructions: Sequence[str], responses: Sequence[str] | None = None):
        responses = list(responses) if responses is not None else [""] * len(instructions)
        return asyncio.run(self._run(list(instructions), responses))


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
