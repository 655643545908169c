"""Helpers shared by the synthesis tests (the `server` fixture is in conftest.py)."""

from __future__ import annotations

import uuid


def fast(**kw):
    """Runner options for tests: tiny backoff, short timeout, a fresh fake key."""
    base = dict(api_key="sk-test-" + uuid.uuid4().hex, backoff=0.01, max_backoff=0.05, timeout=5.0)
    base.update(kw)
    return base
