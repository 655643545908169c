"""`EndpointPool`: one `ChatClient` over several OpenAI-compatible endpoints (vLLM replicas ...).

Spreading: a request goes to the endpoint with the fewest requests in flight (ties: the one that
has served fewest, then the first listed) among those that are not resting and are below their
own `max_in_flight`; when none is free the call waits until one is.
Health: an endpoint whose last `max_failures` requests all failed (retryable errors: timeouts,
connection errors, 429, 5xx) is rested for `rest_seconds`, doubled at each rest in a row up to
`max_rest`; when the rest is over a single probe request goes to it: success makes it healthy,
failure rests it again. A non-retryable error (400, 401 ...) is raised as it is and not held
against the endpoint.
Failover: a retryable failure is tried again at once on another endpoint that is not resting,
each endpoint at most once per call; when none is left, the last error goes to the caller (the
synthesis runner backs off and calls again), so resume, locking and exactly-once results stay
the runner's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from steps_engine.llm.base import ChatClient, Completion, LLMError

__all__ = ["EndpointPool", "open_chat_client", "read_endpoints", "redact_url"]


def redact_url(url: str) -> str:
    """The URL without user:password (it names an endpoint in messages and stats)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(eq=False)  # compared and hashed by identity
class _Endpoint:
    client: ChatClient
    name: str
    max_in_flight: int | None
    in_flight: int = 0
    served: int = 0  # requests answered
    failures: int = 0  # retryable failures, all told
    in_a_row: int = 0  # failures since the last success
    rests: int = 0
    resting: bool = False
    rest_until: float = 0.0
    rest_level: int = 0  # rests in a row (the rest doubles with each)

    def stats(self) -> dict:
        return {"endpoint": self.name, "served": self.served, "failures": self.failures, "rests": self.rests,
                "resting": self.resting, "in_flight": self.in_flight}


class EndpointPool(ChatClient):
    """Several clients of the same model behind one `complete` (see the module docstring)."""

    def __init__(
        self,
        clients: Sequence[ChatClient],
        names: Sequence[str] | None = None,
        *,
        max_in_flight: int | Sequence[int | None] | None = None,
        max_failures: int = 3,
        rest_seconds: float = 10.0,
        max_rest: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not clients:
            raise ValueError("an endpoint pool needs at least one client")
        names = list(names) if names is not None else [f"endpoint {i + 1}" for i in range(len(clients))]
        if len(names) != len(clients):
            raise ValueError(f"names must have {len(clients)} entries, got {len(names)}")
        limits = list(max_in_flight) if isinstance(max_in_flight, (list, tuple)) else [max_in_flight] * len(clients)
        if len(limits) != len(clients):
            raise ValueError(f"max_in_flight must have {len(clients)} entries, got {len(limits)}")
        for lim in limits:
            if lim is not None and (not isinstance(lim, int) or lim < 1):
                raise ValueError(f"max_in_flight must be an integer >= 1 or None, got {lim!r}")
        if max_failures < 1:
            raise ValueError(f"max_failures must be >= 1, got {max_failures}")
        if rest_seconds <= 0 or max_rest < rest_seconds:
            raise ValueError(f"need 0 < rest_seconds <= max_rest, got {rest_seconds} and {max_rest}")
        models = {c.model for c in clients}
        if len(models) != 1:
            raise ValueError(f"every endpoint of a pool serves the same model, got {sorted(models)}")
        self.model = clients[0].model
        self.endpoints = [_Endpoint(c, redact_url(n), lim) for c, n, lim in zip(clients, names, limits)]
        # the response cache keys on this: replicas' answers are interchangeable within one pool
        self.endpoint = "pool:" + ",".join(sorted(str(getattr(c, "endpoint", n)) for c, n in zip(clients, names)))
        self.max_failures = max_failures
        self.rest_seconds = rest_seconds
        self.max_rest = max_rest
        self.clock = clock
        self._changed: asyncio.Condition | None = None

    # -- choosing ---------------------------------------------------------------------------
    def _free(self, e: _Endpoint, now: float) -> bool:
        if e.resting:
            return now >= e.rest_until and e.in_flight == 0  # one probe after the rest
        return e.max_in_flight is None or e.in_flight < e.max_in_flight

    def pick(self, exclude=()) -> _Endpoint | None:
        """The endpoint the next request goes to, or None when none is free now."""
        now = self.clock()
        free = [(e.in_flight, e.served, i) for i, e in enumerate(self.endpoints)
                if e not in exclude and self._free(e, now)]
        return self.endpoints[min(free)[2]] if free else None

    def _rest(self, e: _Endpoint) -> None:
        e.rest_level = e.rest_level + 1 if e.resting else 0
        e.resting = True
        e.rests += 1
        e.rest_until = self.clock() + min(self.max_rest, self.rest_seconds * 2**e.rest_level)

    def _succeeded(self, e: _Endpoint) -> None:
        e.served += 1
        e.in_a_row = 0
        e.resting, e.rest_level = False, 0

    def _failed(self, e: _Endpoint) -> None:
        e.failures += 1
        e.in_a_row += 1
        if e.resting or e.in_a_row >= self.max_failures:
            self._rest(e)

    # -- calling ----------------------------------------------------------------------------
    async def _acquire(self, tried: set) -> _Endpoint | None:
        if self._changed is None:
            self._changed = asyncio.Condition()
        async with self._changed:
            while True:
                e = self.pick(tried)
                if e is not None:
                    e.in_flight += 1
                    return e
                untried = [e for e in self.endpoints if e not in tried]
                if tried and all(e.resting for e in untried):
                    return None  # failover has nowhere left to go: let the caller back off
                now = self.clock()
                waits = [e.rest_until - now for e in untried if e.resting and e.rest_until > now]
                timeout = min(waits) if waits else None  # else a release will notify
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout)
                except asyncio.TimeoutError:
                    pass

    async def _release(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def complete(self, messages: list[dict], params: dict) -> Completion:
        tried: set = set()
        last: LLMError | None = None
        while len(tried) < len(self.endpoints):
            e = await self._acquire(tried)
            if e is None:
                break
            tried.add(e)
            try:
                completion = await e.client.complete(messages, params)
            except LLMError as exc:
                e.in_flight -= 1
                if exc.retryable:
                    self._failed(e)
                await self._release()
                if not exc.retryable:
                    raise
                last = LLMError(f"{e.name}: {exc.reason}", retryable=True, retry_after=exc.retry_after, answered=exc.answered)
                continue
            except BaseException:
                e.in_flight -= 1
                await self._release()
                raise
            e.in_flight -= 1
            self._succeeded(e)
            await self._release()
            return completion
        raise last or LLMError("every endpoint is resting", retryable=True)

    def stats(self) -> list[dict]:
        """Per endpoint: served, failures, rests, resting, in_flight (no keys, no credentials)."""
        return [e.stats() for e in self.endpoints]

    async def aclose(self) -> None:
        for e in self.endpoints:
            await e.client.aclose()


def read_endpoints(path) -> list[tuple[str, int | None]]:
    """An endpoints file: one `URL [MAX_IN_FLIGHT]` per line; blank lines and # comments skipped.
    ValueError naming the file and line for anything else."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"endpoints file {path}: cannot read it ({exc})") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        url = parts[0]
        if not url.startswith(("http://", "https://")) or len(parts) > 2:
            raise ValueError(f"endpoints file {path}: line {n}: expected 'URL [MAX_IN_FLIGHT]' with an http(s) URL")
        limit = None
        if len(parts) == 2:
            if not parts[1].isdigit() or int(parts[1]) < 1:
                raise ValueError(f"endpoints file {path}: line {n}: MAX_IN_FLIGHT must be an integer >= 1, got {parts[1]!r}")
            limit = int(parts[1])
        out.append((url, limit))
    if not out:
        raise ValueError(f"endpoints file {path}: no endpoint in it")
    return out


def open_chat_client(model: str, *, api_key: str | None, base_url=None, timeout: float = 60.0,
                     max_in_flight: int | Sequence[int | None] | None = None) -> ChatClient:
    """An `OpenAIChatClient` for one base URL (or None: the default endpoint), an
    `EndpointPool` of them for a list of several."""
    from steps_engine.llm.openai_client import OpenAIChatClient

    urls = [base_url] if base_url is None or isinstance(base_url, str) else list(base_url)
    if len(urls) == 1 and max_in_flight is None:
        return OpenAIChatClient(model, api_key=api_key, base_url=urls[0], timeout=timeout)
    clients = [OpenAIChatClient(model, api_key=api_key, base_url=u, timeout=timeout) for u in urls]
    return EndpointPool(clients, [u or "default endpoint" for u in urls], max_in_flight=max_in_flight)
