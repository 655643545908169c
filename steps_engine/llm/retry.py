"""Retries with exponential backoff and full jitter, honouring Retry-After."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from steps_engine.llm.base import ChatClient, Completion, LLMError

__all__ = ["RetryPolicy", "complete_with_retries"]


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5  # retries after the first attempt
    base_delay: float = 1.0  # seconds; attempt n waits up to base * 2**n
    max_delay: float = 60.0  # cap for backoff and for Retry-After

    def __post_init__(self):
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.base_delay < 0:
            raise ValueError(f"base_delay must be >= 0, got {self.base_delay}")
        if self.max_delay < 0:
            raise ValueError(f"max_delay must be >= 0, got {self.max_delay}")

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Wait before retry number `retry` (0-based): Retry-After when given, else a
        uniform draw in [0, base * 2**retry] (full jitter), both capped at max_delay."""
        if retry_after is not None:
            return min(self.max_delay, max(0.0, retry_after))
        return min(self.max_delay, rng.uniform(0.0, self.base_delay * (2**retry)))


async def complete_with_retries(
    client: ChatClient,
    messages: list[dict],
    params: dict,
    policy: RetryPolicy,
    rng: random.Random,
    on_retry=None,
    sleep=asyncio.sleep,
) -> tuple[Completion, int]:
    """Return (completion, retries used). Raises the last LLMError (with `.retries`) when
    attempts run out or the error is not retryable. `on_retry(reason)` is called before each wait."""
    retry = 0
    while True:
        try:
            return await client.complete(messages, params), retry
        except LLMError as exc:
            if not exc.retryable or retry >= policy.max_retries:
                exc.retries = retry
                raise
            if on_retry is not None:
                on_retry(exc.reason)
            await sleep(policy.delay(retry, exc.retry_after, rng))
            retry += 1
