"""LLM clients behind one small interface (`ChatClient`), one implementation per file.

- `base`: `ChatClient`, `Completion`, `LLMError`, `scrub`.
- `openai_client`: `OpenAIChatClient` for any OpenAI-compatible endpoint
  (OpenAI, vLLM, Ollama, llama.cpp server).
- `cache`: `ResponseCache`, an on-disk cache keyed by sha256 of (model, messages, params).
- `retry`: `complete_with_retries`, exponential backoff with jitter honouring Retry-After.
"""

from steps_engine.llm.base import ChatClient, Completion, LLMError, scrub
from steps_engine.llm.cache import ResponseCache, cache_key
from steps_engine.llm.retry import RetryPolicy, complete_with_retries

__all__ = [
    "ChatClient",
    "Completion",
    "LLMError",
    "scrub",
    "ResponseCache",
    "cache_key",
    "RetryPolicy",
    "complete_with_retries",
]
