"""LLM clients behind one small interface (`ChatClient`), one implementation per file.

- `base`: `ChatClient`, `Completion`, `LLMError`, `scrub`.
- `openai_client`: `OpenAIChatClient` for any OpenAI-compatible endpoint
  (OpenAI, vLLM, Ollama, llama.cpp server).
- `cache`: `ResponseCache`, an on-disk cache keyed by sha256 of (model, messages, params).
- `retry`: `complete_with_retries`, exponential backoff with jitter honouring Retry-After.
- `pool`: `EndpointPool`, one client over several endpoints (least outstanding requests,
  per-endpoint limits, failing endpoints rested), and `open_chat_client`.
- `run`: `run_sync`, a coroutine run from synchronous code, also inside a notebook's event loop.
"""

from steps_engine.llm.base import ChatClient, Completion, LLMError, scrub
from steps_engine.llm.cache import ResponseCache, cache_key
from steps_engine.llm.pool import EndpointPool, open_chat_client
from steps_engine.llm.retry import RetryPolicy, complete_with_retries
from steps_engine.llm.run import run_sync

__all__ = [
    "ChatClient",
    "Completion",
    "LLMError",
    "scrub",
    "EndpointPool",
    "ResponseCache",
    "cache_key",
    "RetryPolicy",
    "complete_with_retries",
    "open_chat_client",
    "run_sync",
]
