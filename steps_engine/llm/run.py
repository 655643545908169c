"""`run_sync(coro)`: run a coroutine to completion from synchronous code, also inside a running
event loop (a notebook cell), where `asyncio.run` refuses: the coroutine then runs in a worker
thread with its own loop while the caller waits."""

from __future__ import annotations

import asyncio
import concurrent.futures

__all__ = ["run_sync"]


def run_sync(coro):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="steps-run-sync") as pool:
        return pool.submit(asyncio.run, coro).result()
