"""The adversarial pass behind README's reliability table (issue 12).

    .venv/bin/python benchmarks/bench_reliability.py [--kills 8] [--json]

1. bad inputs: CLI calls with broken files and arguments; handled = a documented exit status,
   a one-line message, no traceback;
2. kills: SIGKILL of `steps synthesize` mid-run and mid `--retry-failed` (then a rerun must hold
   every combination exactly once), and of the workspace before every file operation of an edit,
   an undo, a redo and a taxonomy switch (then it must open consistent, before or after);
3. faults: every behaviour of tests/fake_openai_server.py plus an unreachable endpoint; handled =
   the run ends, every combination has a record with the expected status;
4. key scans: every byte written by 2 and 3 (results, caches, history, exports, cards) searched
   for every key used.
Writes only into a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "benchmarks")]

from _machine import machine_line  # noqa: E402
from fake_openai_server import FakeOpenAI  # noqa: E402
from steps_engine.cli import main  # noqa: E402
from steps_engine.synthesis.runner import read_results, synthesize  # noqa: E402
from test_synthesis import make_combos, make_taxonomy  # noqa: E402

KEYS: list[str] = []


def new_key() -> str:
    KEYS.append("sk-bench-" + uuid.uuid4().hex)
    return KEYS[-1]


# ---- 1. bad inputs ------------------------------------------------------------------------
def bad_input_cases(tmp: Path, tax: Path, combos: Path) -> list[tuple[str, list[str], set[int]]]:
    d = tmp / "bad"
    d.mkdir()

    def w(name: str, data) -> str:
        (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        return str(d / name)

    fifo = d / "fifo.jsonl"
    os.mkfifo(fifo)
    (d / "loop.jsonl").symlink_to(d / "loop.jsonl")
    (d / "dangling.jsonl").symlink_to(d / "gone.jsonl")
    (d / "folder.jsonl").mkdir()
    ok_rows = "".join(json.dumps({"skills": ["a", "b", "c"][: 1 + i % 3]}) + "\n" for i in range(30))
    res = tmp / "results_ok.jsonl"
    synthesize(tax, combos, model="m", out=tmp / "dry" / "r.jsonl", dry_run=True, limit=2)
    recs = [{"id": f"r{i}", "status": "ok", "skills": ["alpha", "beta"], "k": 2,
             "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]} for i in range(3)]
    res.write_text("".join(json.dumps(r) + "\n" for r in recs))
    (tmp / "link.jsonl").symlink_to(res)
    three = w("three.jsonl", json.dumps({**recs[0], "k": "three"}) + "\n" + json.dumps(recs[1]) + "\n")
    (d / "README.md").write_text("# my project\n")
    real = tmp / "tax_real"  # a complete taxonomy folder for the combos cases
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(["taxonomy", w("ok.jsonl", ok_rows), "--skills-field", "skills", "--height", "2", "--out", str(real), "--quiet"])
    tx = lambda src, *extra: ["taxonomy", src, "--skills-field", "skills", "--out", str(tmp / "tx"), "--quiet", *extra]
    sy = lambda *extra: ["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--quiet", "--dry-run",
                         "--out", str(tmp / "sy" / "r.jsonl"), *extra]
    ex = lambda src, *extra: ["export", src, "--format", "chat", "--out", str(tmp / "ex" / "t.jsonl"), *extra]
    return [
        ("taxonomy: missing file", tx(str(d / "none.jsonl")), {2}),
        ("taxonomy: a folder", tx(str(d / "folder.jsonl")), {2}),
        ("taxonomy: a FIFO", tx(str(fifo)), {2}),
        ("taxonomy: /dev/null", tx("/dev/null"), {2}),
        ("taxonomy: symlink loop", tx(str(d / "loop.jsonl")), {2}),
        ("taxonomy: dangling symlink", tx(str(d / "dangling.jsonl")), {2}),
        ("taxonomy: empty file", tx(w("empty.jsonl", "")), {2}),
        ("taxonomy: binary garbage", tx(w("bin.jsonl", bytes(range(256)) * 8)), {2}),
        ("taxonomy: only bad rows", tx(w("allbad.jsonl", "{x\n[1]\n\"s\"\n")), {2}),
        ("taxonomy: wrong skills field", tx(w("ok.jsonl", ok_rows), "--skills-field", "tags"), {2}),
        ("taxonomy: some bad rows", tx(w("some.jsonl", ok_rows + "{broken\n\xff\xfe\n")), {0}),
        ("taxonomy: damaged JSON array", tx(w("arr.json", '[{"skills": ["a","b"]}, {"skills": ["a, c]}]')), {0}),
        ("taxonomy: array of non-objects", tx(w("nums.json", "[1, 2, 3]")), {2}),
        ("taxonomy: CSV with no rows", tx(w("h.csv", "skills\n")), {2}),
        ("taxonomy: CSV header not UTF-8", tx(w("bad.csv", b"sk\xffills\na\n")), {2}),
        ("taxonomy: not Parquet", tx(w("x.parquet", "not parquet")), {2}),
        ("taxonomy: unknown extension", tx(w("x.xml", "<a/>")), {2}),
        ("taxonomy: 5,000-skill row", tx(w("big.jsonl", ok_rows + json.dumps({"skills": [f"s{i}" for i in range(5000)]}) + "\n")), {0}),
        ("taxonomy: null items", tx(w("nulls.jsonl", ok_rows + '{"skills": [null, "a", "b"]}\n')), {0}),
        ("taxonomy: dotted key in nested object", tx(w("dot.jsonl", "".join(json.dumps({"m": {"a.b": ["x", "y"]}}) + "\n" for _ in range(3))), "--skills-field", 'm["a.b"]'), {0}),
        ("taxonomy: unclosed bracket path", tx(str(d / "ok.jsonl"), "--skills-field", 'm["a.b'), {2}),
        ("taxonomy: --height 0", tx(str(d / "ok.jsonl"), "--height", "0"), {2}),
        ("taxonomy: --min-count 0", tx(str(d / "ok.jsonl"), "--min-count", "0"), {2}),
        ("taxonomy: --semantic-weight 2", tx(str(d / "ok.jsonl"), "--semantic-weight", "2"), {2}),
        ("taxonomy: --out is a file", ["taxonomy", str(d / "ok.jsonl"), "--skills-field", "skills", "--out", str(d / "ok.jsonl"), "--quiet"], {2}),
        ("combos: no taxonomy folder", ["combos", str(d / "nothing"), "--k", "3", "--out", str(tmp / "c.jsonl")], {2}),
        ("combos: --k 1", ["combos", str(real), "--k", "1", "--out", str(tmp / "c.jsonl")], {2}),
        ("combos: --k above the skills", ["combos", str(real), "--k", "99", "--out", str(tmp / "c.jsonl")], {2}),
        ("combos: bad scope", ["combos", str(real), "--k", "2", "--scope", "nowhere", "--out", str(tmp / "c.jsonl")], {2}),
        ("combos: --out is taxonomy.json", ["combos", str(real), "--k", "2", "--out", str(real / "taxonomy.json")], {2}),
        ("synthesize: no input.json", ["synthesize", str(d), "--combos", str(combos), "--model", "m", "--out", str(tmp / "x.jsonl")], {2}),
        ("synthesize: combos file missing", sy("--combos", str(d / "none.jsonl")), {2}),
        ("synthesize: combos all junk", sy("--combos", w("junk.jsonl", "no\n[1]\n")), {2}),
        ("synthesize: --concurrency 0", sy("--concurrency", "0"), {2}),
        ("synthesize: --timeout 0", sy("--timeout", "0"), {2}),
        ("synthesize: bad template placeholder", sy("--template", w("t.txt", "Use {skils}")), {2}),
        ("synthesize: --show-prompt out of range", sy("--show-prompt", "999"), {2}),
        ("synthesize: --out is the combos file", sy("--out", str(combos)), {2}),
        ("synthesize: --import-batch garbage", ["synthesize", str(tax), "--combos", str(combos), "--model", "m", "--quiet",
                                                "--out", str(tmp / "ib.jsonl"), "--import-batch", w("bo.jsonl", "junk\n")], {3}),
        ("export: results missing", ex(str(d / "none.jsonl")), {2}),
        ("export: results is a folder", ex(str(d / "folder.jsonl")), {2}),
        ("export: no ok record", ex(w("prompts.jsonl", json.dumps({"id": "a", "skills": ["x"]}) + "\n")), {2}),
        ("export: --out is the results", ["export", str(res), "--format", "chat", "--out", str(res)], {2}),
        ("export: --out links to the results", ["export", str(res), "--format", "chat", "--out", str(tmp / "link.jsonl")], {2}),
        ("export: k is 'three'", ex(three), {0}),
        ("export: every ok record bad", ex(w("allbadk.jsonl", json.dumps({**recs[0], "k": "two"}) + "\n")), {3}),
        ("export: unknown format", ["export", str(res), "--format", "xml", "--out", str(tmp / "e.xml")], {2}),
        ("export: bad curriculum weights", ex(str(res), "--curriculum-weights", "2:x"), {2}),
        ("export: unreadable --taxonomy", ex(str(res), "--taxonomy", str(d / "folder.jsonl")), {2}),
        ("export: README.md there is not a card", ["export", str(res), "--format", "chat", "--out", str(d / "t.jsonl")], {2}),
    ]


def run_bad_inputs(tmp: Path, tax: Path, combos: Path) -> dict:
    handled, rows = 0, []
    for name, argv, expected in bad_input_cases(tmp, tax, combos):
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                rc = main(argv)
            except SystemExit as exc:  # argparse
                rc = exc.code
            except Exception as exc:  # noqa: BLE001 - a traceback is what we count
                rc = f"traceback {type(exc).__name__}: {exc}"
        text = err.getvalue()
        ok = rc in expected and "Traceback" not in text and (rc == 0 or text.strip())
        handled += bool(ok)
        rows.append({"case": name, "rc": rc, "expected": sorted(expected), "handled": bool(ok),
                     "message": text.strip().splitlines()[-1][:160] if text.strip() else ""})
    return {"tried": len(rows), "handled": handled, "cases": rows}


# ---- 2. kills ------------------------------------------------------------------------------
def _cli(tax, combos, out, server, key, *extra):
    env = {**os.environ, "OPENAI_API_KEY": key, "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_BASE_URL", None)
    cmd = [sys.executable, "-m", "steps_engine", "synthesize", str(tax), "--combos", str(combos), "--model", "m",
           "--base-url", server.base_url, "--concurrency", "3", "--out", str(out), "--quiet", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def synthesis_kills(tmp: Path, tax: Path, combos: Path, n_kills: int, retry: bool, seed: int) -> dict:
    rng = random.Random(seed)
    key = new_key()
    out = tmp / f"kill_{'retry' if retry else 'run'}" / "r.jsonl"
    out.parent.mkdir()
    total = 20
    if retry:
        with FakeOpenAI(default="500") as srv:
            _cli(tax, combos, out, srv, key, "--max-retries", "0").communicate(timeout=120)
    kills = 0
    with FakeOpenAI(delay=0.05) as srv:
        for _ in range(n_kills):
            start = _lines(out)
            target = start + rng.randint(1, 2)
            proc = _cli(tax, combos, out, srv, key, *(["--retry-failed"] if retry else []))
            deadline = time.monotonic() + 60
            while _lines(out) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.003)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                kills += 1
            else:
                proc.communicate()
        proc = _cli(tax, combos, out, srv, key, *(["--retry-failed"] if retry else []))
        proc.communicate(timeout=120)
    recs, _ = read_results(out)
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    exactly_once = len(lines) == len({r["id"] for r in lines}) == total
    all_ok = all(r["status"] == "ok" for r in recs)
    return {"kills": kills, "final_rc": proc.returncode, "exactly_once": exactly_once, "all_ok": all_ok,
            "survived": kills if exactly_once and all_ok and proc.returncode == 0 else 0}


def workspace_kills(tmp: Path) -> dict:
    import test_workspace_crash as wc
    from steps_engine.curation.edits import Edit
    from steps_engine.curation.workspace import Workspace

    src = tmp / "ws_src1"
    wc._source(src)
    other = tmp / "ws_src2"
    wc._source(other, exclude="f", label="Other")
    template = tmp / "ws_template"
    ws = Workspace(template)
    ws.set_taxonomy(src)
    ws.apply(Edit("move", {"skills": ["c"], "target_id": "n2"}))
    ws.apply(Edit("rename", {"node_id": "n2", "label": "Big"}))
    ws.undo()
    changes = {"edit": lambda w: w.apply(Edit("exclude", {"skills": ["a"]})), "undo": lambda w: w.undo(),
               "redo": lambda w: w.redo(), "switch": lambda w: w.set_taxonomy(other)}
    out = {}
    for name, change in changes.items():
        try:
            points = wc._loop(template, tmp, change)
            out[name] = {"kill_points": points, "consistent": points}
        except AssertionError as exc:
            out[name] = {"kill_points": None, "consistent": 0, "error": str(exc)[:200]}
    return out


# ---- 3. faults -----------------------------------------------------------------------------
FAULTS = [  # behaviour, server options, expected status of the first combination
    ("429 then ok", {"script": ["429", "ok"]}, "ok"),
    ("500 then ok", {"script": ["500", "ok"]}, "ok"),
    ("500 until retries run out", {"default": "500"}, "failed"),
    ("hang past the timeout, then ok", {"script": ["hang", "ok"], "hang_seconds": 3}, "ok"),
    ("hang on every attempt", {"default": "hang", "hang_seconds": 3}, "failed"),
    ("HTTP 200 with a non-JSON body, then ok", {"script": ["bad_body", "ok"]}, "ok"),
    ("malformed JSON content", {"default": "malformed"}, "rejected"),
    ("fenced JSON with chatter", {"default": "fenced"}, "ok"),
    ("roles that do not alternate", {"default": "bad_roles"}, "rejected"),
    ("the same answer every time", {"default": "dup"}, "ok"),  # the second combination is the rejected one
    ("401 echoing the key", {"default": "echo_key"}, "failed"),
    ("normal answer echoing the key", {"default": "echo_key_ok"}, "ok"),
    ("answer trickled past the deadline", {"default": "trickle", "trickle_seconds": 4}, "failed"),
    ("answer trickled within the deadline", {"default": "trickle", "trickle_seconds": 0.3}, "ok"),
]


def run_faults(tmp: Path, tax: Path, combos: Path) -> dict:
    rows, handled = [], 0
    for i, (name, opts, expected) in enumerate(FAULTS):
        opts = dict(opts)
        script = opts.pop("script", [])
        out = tmp / "faults" / f"f{i}" / "r.jsonl"
        with FakeOpenAI(**opts) as srv:
            srv.script += script
            try:
                rep = synthesize(tax, combos, model="m", out=out, base_url=srv.base_url, limit=2, concurrency=1,
                                 api_key=new_key(), backoff=0.01, max_backoff=0.05, timeout=1.0, max_retries=1)
                recs, _ = read_results(out)
                got = recs[0]["status"] if recs else None
                ok = got == expected and len(recs) == 2
            except Exception as exc:  # noqa: BLE001
                got, ok, rep = f"exception {exc!r}", False, None
        handled += ok
        rows.append({"fault": name, "expected": expected, "got": got, "handled": ok,
                     "status": None if rep is None else rep.status})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    rep = synthesize(tax, combos, model="m", out=tmp / "faults" / "dead" / "r.jsonl", base_url=dead, limit=2,
                     api_key=new_key(), backoff=0.01, max_backoff=0.05, timeout=1.0, max_retries=1)
    ok = rep.failed == 2 and rep.status == "nothing"
    handled += ok
    rows.append({"fault": "unreachable endpoint", "expected": "failed", "got": "failed" if rep.failed else rep.status,
                 "handled": ok, "status": rep.status})
    return {"tried": len(rows), "handled": handled, "cases": rows}


# ---- 4. key scans --------------------------------------------------------------------------
def key_scan(tmp: Path) -> dict:
    from steps_engine.export import export

    for res in sorted(tmp.glob("faults/*/r.jsonl")) + sorted(tmp.glob("kill_*/r.jsonl")):
        if any(r.get("status") == "ok" for r in read_results(res)[0]):
            export(res, fmt="chat", out=res.parent / "export" / "train.jsonl")
            export(res, fmt="parquet", out=res.parent / "export_pq" / "train.parquet")
    files = [p for p in tmp.rglob("*") if p.is_file() and not p.is_symlink() and not p.is_fifo()]
    keys = [k.encode() for k in KEYS]
    hits = [str(p) for p in files if any(k in p.read_bytes() for k in keys)]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files), "keys": len(keys), "hits": hits}


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=8, help="SIGKILLs per synthesis scenario (default 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()
    tmp = Path(tempfile.mkdtemp(prefix="steps-reliability-"))
    try:
        tax = make_taxonomy(tmp)
        combos = tmp / "combos.jsonl"
        make_combos(combos)
        result = {"machine": machine_line(), "bad_inputs": run_bad_inputs(tmp, tax, combos)}
        result["kills"] = {"synthesize": synthesis_kills(tmp, tax, combos, args.kills, False, args.seed),
                           "retry_failed": synthesis_kills(tmp, tax, combos, args.kills, True, args.seed + 1),
                           "workspace": workspace_kills(tmp)}
        result["faults"] = run_faults(tmp, tax, combos)
        result["key_scan"] = key_scan(tmp)
        result["seconds"] = round(time.perf_counter() - t0, 1)
        result["cpu_seconds_parent"] = round(time.process_time() - c0, 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    b, k, f, s = result["bad_inputs"], result["kills"], result["faults"], result["key_scan"]
    print(result["machine"])
    for row in b["cases"]:
        if not row["handled"]:
            print("NOT HANDLED:", row)
    for row in f["cases"]:
        if not row["handled"]:
            print("NOT HANDLED:", row)
    ws = k["workspace"]
    print("| check | tried | handled |")
    print("|---|---:|---:|")
    print(f"| bad inputs (CLI: documented exit status, one-line message, no traceback) | {b['tried']} | {b['handled']} |")
    for name in ("synthesize", "retry_failed"):
        r = k[name]
        print(f"| SIGKILL of `steps synthesize{' --retry-failed' if name == 'retry_failed' else ''}`, then rerun: "
              f"every combination exactly once, all ok | {r['kills']} | {r['survived']} |")
    for name, r in ws.items():
        print(f"| workspace {name}: a kill before each file operation, reopened consistent | {r['kill_points']} | {r['consistent']} |")
    print(f"| endpoint faults (fake server behaviours, unreachable endpoint) | {f['tried']} | {f['handled']} |")
    print(f"| key scan: {s['keys']} keys in {s['files']} written files ({s['bytes'] / 1e6:.1f} MB) | {s['files']} | {s['files'] - len(s['hits'])} clean |")
    print(f"total {result['seconds']} s wall; CPU: run under `/usr/bin/time -v` for children too")


if __name__ == "__main__":
    main_()
