"""The chat-client interface the synthesis runner talks to.

A client sends one chat request and either returns a `Completion` or raises
`LLMError` saying whether a retry may help (and after how long). Retries, caching
and concurrency live in the runner, not in clients, so every backend gets them the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

__all__ = ["ChatClient", "Completion", "LLMError", "scrub"]


@dataclass
class Completion:
    text: str
    usage: dict = field(default_factory=dict)  # prompt_tokens, completion_tokens, total_tokens
    model: str | None = None


class LLMError(Exception):
    """A failed request. `retryable` for 429/5xx/timeouts/connection errors;
    `retry_after` (seconds) when the server said how long to wait; `answered` False when no
    server answered at all (a connection error or a timeout), unlike an HTTP error."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None, answered: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.answered = answered


MIN_SECRET = 8  # shorter "keys" ("ollama", "none") are placeholders, not secrets: scrubbing them would mangle text


def scrub(text: str, *secrets: str | None) -> str:
    """Replace every secret (of at least MIN_SECRET characters) in `text` with '***'."""
    if not isinstance(text, str):
        return text
    for s in secrets:
        if s and len(s) >= MIN_SECRET:
            text = text.replace(s, "***")
    return text


class ChatClient(ABC):
    """One chat-completions request per call; no retries inside."""

    model: str
    endpoint: str | None = None  # where requests go (part of the response-cache key)

    @abstractmethod
    async def complete(self, messages: list[dict], params: dict) -> Completion:
        """Send `messages` with extra request `params` (temperature, max_tokens, ...)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
