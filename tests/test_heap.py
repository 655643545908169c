"""heap_reuse: big arrays come from the heap inside the block, from mmap again after it."""

import platform

import numpy as np
import pytest

from steps_engine.taxonomy import _heap
from steps_engine.taxonomy._heap import heap_reuse

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)

SIZE = 96 * 2**20  # above glibc's 32 MiB mmap cap


def _big_anonymous_maps() -> set[str]:
    """Address ranges of anonymous mappings of at least SIZE bytes (the heap excluded)."""
    out = set()
    with open("/proc/self/maps") as fh:
        for line in fh:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if hi - lo >= SIZE and len(parts) == 5:  # no path: anonymous, not [heap]
                out.add(parts[0])
    return out


def _maps_added_by_allocating() -> int:
    before = _big_anonymous_maps()
    block = np.ones(SIZE // 8)  # written, so it is really there
    added = len(_big_anonymous_maps() - before)
    del block
    return added


def test_big_blocks_come_from_the_heap_inside_and_from_mmap_after():
    assert _maps_added_by_allocating() == 1  # glibc's default: its own mapping
    with heap_reuse():
        assert _maps_added_by_allocating() == 0
    assert _maps_added_by_allocating() == 1
    assert _heap._users == 0


def test_nested_blocks_restore_only_when_the_last_one_leaves():
    with heap_reuse():
        with heap_reuse():
            assert _maps_added_by_allocating() == 0
        assert _maps_added_by_allocating() == 0
    assert _maps_added_by_allocating() == 1


def test_settings_are_restored_when_the_block_raises():
    with pytest.raises(RuntimeError):
        with heap_reuse():
            raise RuntimeError("boom")
    assert _heap._users == 0
    assert _maps_added_by_allocating() == 1
