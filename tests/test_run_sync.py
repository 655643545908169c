"""`llm.run_sync`: a coroutine run from synchronous code, with or without a running event loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from steps_engine.llm import run_sync


async def _where(x):
    await asyncio.sleep(0)
    return x * 2, threading.current_thread().name


async def _fails():
    raise KeyError("boom")


def test_without_a_loop_it_runs_here():
    assert run_sync(_where(21)) == (42, threading.current_thread().name)


def test_inside_a_running_loop_it_runs_in_a_worker_thread():
    async def cell():  # what a notebook cell is: sync code called while a loop runs
        return run_sync(_where(4))

    value, thread = asyncio.run(cell())
    assert value == 8 and thread.startswith("steps-run-sync")


def test_errors_reach_the_caller_in_both_cases():
    with pytest.raises(KeyError, match="boom"):
        run_sync(_fails())

    async def cell():
        return run_sync(_fails())

    with pytest.raises(KeyError, match="boom"):
        asyncio.run(cell())
