"""Atomic writes: the target holds the old or the new content, never a torn file."""

import json

import pytest

from steps_engine._atomic import atomic_open, write_json, write_jsonl, write_text


def test_writes_appear_whole_and_leave_no_temporary_file(tmp_path):
    write_text(tmp_path / "a" / "t.txt", "hello")
    write_json(tmp_path / "j.json", {"x": [1, 2]})
    assert write_jsonl(tmp_path / "r.jsonl", ({"i": i} for i in range(3))) == 3
    assert (tmp_path / "a" / "t.txt").read_text() == "hello"
    assert json.loads((tmp_path / "j.json").read_text()) == {"x": [1, 2]}
    assert [json.loads(l)["i"] for l in (tmp_path / "r.jsonl").read_text().splitlines()] == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["j.json", "r.jsonl", "t.txt"]


def test_an_error_mid_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "data.jsonl"
    target.write_text("old\n")

    def rows():
        yield {"ok": 1}
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        write_jsonl(target, rows())
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]


def test_binary_mode(tmp_path):
    with atomic_open(tmp_path / "b.bin", "wb") as fh:
        fh.write(b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
