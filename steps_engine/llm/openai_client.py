"""`OpenAIChatClient`: chat completions through the `openai` package (AsyncOpenAI).

Works with any OpenAI-compatible endpoint via `base_url` (OpenAI, vLLM, Ollama,
llama.cpp server). The package's own retries are off (max_retries=0): the runner
retries, so attempts are counted and tested. `timeout` is a total deadline per request
(httpx's timeout is per read, so a server trickling bytes could hold a request forever).
The API key is kept only in memory and scrubbed from every error message and every answer
(a server may echo it back).
"""

from __future__ import annotations

import asyncio
import json

from steps_engine.llm.base import ChatClient, Completion, LLMError, scrub

__all__ = ["OpenAIChatClient"]


def _retry_after(headers) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form) or retry-after-ms."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            from email.utils import parsedate_to_datetime
            from datetime import datetime, timezone

            try:
                when = parsedate_to_datetime(value)
                return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
            except (TypeError, ValueError):
                return None
    return None


class OpenAIChatClient(ChatClient):
    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None = None,
        timeout: float = 60.0,
    ):
        if not model:
            raise ValueError(f"model must be a non-empty string, got {model!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        import openai

        self._openai = openai
        self.model = model
        self._key = api_key
        self.timeout = float(timeout)
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "unused",
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
        )
        self.endpoint = str(self._client.base_url)

    def _error(self, reason: str, *, retryable: bool, retry_after: float | None = None, answered: bool = True) -> LLMError:
        return LLMError(scrub(reason, self._key), retryable=retryable, retry_after=retry_after, answered=answered)

    async def complete(self, messages: list[dict], params: dict) -> Completion:
        oa = self._openai
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self._client.chat.completions.create(
                    model=self.model, messages=messages, **params
                )
        except (oa.APITimeoutError, TimeoutError):
            raise self._error(f"timeout (no complete answer within {self.timeout:g} s)", retryable=True, answered=False) from None
        except oa.APIConnectionError as exc:
            raise self._error(f"connection error: {exc}", retryable=True, answered=False) from None
        except oa.APIStatusError as exc:
            code = exc.status_code
            retryable = code in (408, 409, 429) or code >= 500
            after = _retry_after(exc.response.headers) if retryable else None
            raise self._error(f"HTTP {code}: {exc.message}", retryable=retryable, retry_after=after) from None
        except (oa.APIResponseValidationError, json.JSONDecodeError, ValueError) as exc:
            raise self._error(f"invalid response body: {exc}", retryable=True) from None
        except oa.OpenAIError as exc:
            raise self._error(f"{type(exc).__name__}: {exc}", retryable=False) from None
        try:
            text = resp.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            text = None
        if not isinstance(text, str):
            raise self._error("response has no choices[0].message.content", retryable=True)
        usage = {}
        if getattr(resp, "usage", None) is not None:
            for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
                v = getattr(resp.usage, name, None)
                if isinstance(v, int):
                    usage[name] = v
        model = getattr(resp, "model", None)
        return Completion(text=scrub(text, self._key), usage=usage, model=scrub(model, self._key))

    async def aclose(self) -> None:
        await self._client.close()
