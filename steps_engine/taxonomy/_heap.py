"""Keep the builder's big temporary arrays on the heap (glibc only; elsewhere a no-op).

glibc serves every allocation above 32 MiB with a fresh mmap and unmaps it on free, so each
such array costs a page fault and a zeroed page per 4 KiB when it is first written. The
builder allocates and frees arrays of the graph's size (12 bytes per edge end) dozens of times
per build: from about 1.4M edges up they pass 32 MiB and those faults were a fifth to a third
of a 50,000-skill build's CPU time (measured 2026-12-01). Inside `heap_reuse()` large blocks come
from the heap instead and are reused; on leaving, mmap is allowed again (above 32 MiB, the cap
glibc's own adaptive threshold grows to) and free memory is returned to the system
(`malloc_trim`). The settings are process-wide, so nested and concurrent uses are counted and
only the last one out restores them.
"""

from __future__ import annotations

import contextlib
import ctypes
import platform
import threading

__all__ = ["heap_reuse"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_MMAP_MAX_DEFAULT = 65536
_MMAP_THRESHOLD_AFTER = 32 * 1024 * 1024  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
_TRIM_THRESHOLD_AFTER = 2 * _MMAP_THRESHOLD_AFTER  # what glibc's adaptive rule pairs with it
_TRIM_NEVER = 2**62

_lock = threading.Lock()
_users = 0
_libc = None


def _glibc():
    global _libc
    if _libc is None:
        _libc = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                lib = ctypes.CDLL("libc.so.6")
                lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                lib.malloc_trim.argtypes = [ctypes.c_size_t]
                _libc = lib
            except (OSError, AttributeError):
                _libc = False
    return _libc or None


def _set(libc, param: int, value: int) -> None:
    libc.mallopt(param, min(value, 2**31 - 1))


@contextlib.contextmanager
def heap_reuse():
    """Within the block, allocations of any size come from the heap and are reused."""
    global _users
    libc = _glibc()
    if libc is None:
        yield
        return
    with _lock:
        _users += 1
        if _users == 1:
            _set(libc, _M_TRIM_THRESHOLD, _TRIM_NEVER)
            _set(libc, _M_MMAP_MAX, 0)
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _set(libc, _M_MMAP_MAX, _MMAP_MAX_DEFAULT)
                _set(libc, _M_MMAP_THRESHOLD, _MMAP_THRESHOLD_AFTER)
                _set(libc, _M_TRIM_THRESHOLD, _TRIM_THRESHOLD_AFTER)
                libc.malloc_trim(0)
