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


def test_two_threads_writing_one_file_never_fail_and_a_reader_never_sees_a_partial_file(tmp_path):
    # the old helper named its temp file .NAME.PID.tmp: two threads of one process shared it and
    # one thread's os.replace took the other's file away (FileNotFoundError), or moved a half-written one
    import threading

    target = tmp_path / "state.json"
    write_json(target, {"writer": -1, "i": -1, "pad": ""})
    errors, torn, reads = [], [], [0]
    stop = threading.Event()

    def writer(w: int) -> None:
        for i in range(300):
            try:
                write_json(target, {"writer": w, "i": i, "pad": "x" * (20_000 + 37 * i)})
            except Exception as exc:  # noqa: BLE001 - the test counts every failure
                errors.append(repr(exc))

    def reader() -> None:
        while not stop.is_set():
            data = target.read_bytes()
            reads[0] += 1
            try:
                doc = json.loads(data)
                assert len(doc["pad"]) in (0, 20_000 + 37 * doc["i"])
            except (ValueError, AssertionError, KeyError):
                torn.append(len(data))

    threads = [threading.Thread(target=writer, args=(w,)) for w in (0, 1)]
    r = threading.Thread(target=reader)
    r.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    r.join()
    assert errors == [] and torn == [] and reads[0] > 0
    assert json.loads(target.read_text())["i"] == 299
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left behind
