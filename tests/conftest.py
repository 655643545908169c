"""Fixtures shared by several test files (a file's own fixture of the same name wins)."""

from __future__ import annotations

import pytest

from fake_openai_server import FakeOpenAI


@pytest.fixture()
def server():
    """A scripted OpenAI-compatible server on a free loopback port (tests/fake_openai_server.py)."""
    srv = FakeOpenAI().start()
    yield srv
    srv.stop()
