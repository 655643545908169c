"""A studio workspace: one folder holding everything a curation session produces.

    WS/workspace.json      the pointer: {"format", "position", "log_sha", "source_sha", "updated"}
    WS/taxonomy/           the source taxonomy (taxonomy.json, graph.csv, skills.csv, input.json)
    WS/edits.jsonl         the edit log, one edit per line (records past `position` are redo-able)
    WS/history/SHA.json    the tree after an edit, named by the sha256 its log record holds
    WS/current/            a taxonomy folder with the current (edited) tree in taxonomy.json
                           and copies of the source's other files: what selection, synthesis
                           and `steps combos WS/current` use
    WS/combos/ WS/results/ WS/exports/ WS/uploads/
    WS/archive/<time>/     an earlier taxonomy with its edit history, kept when a new one replaces it

Crash consistency: every change is one atomic step after writing the new state aside.
- An edit writes its snapshot (a new file), then replaces edits.jsonl (the commit), then the
  pointer; undo/redo replace only the pointer. A pointer whose `log_sha` is not the log's
  sha belongs to the log before the last edit, so the position is the log's end.
- A new source is staged in a hidden folder, renamed to `taxonomy.next` (the commit), then
  swapped in by renames; a pointer whose `source_sha` is not the source's belongs to the
  previous source, so the log starts over.
- `current/` is derived and is checked against the log and the source whenever the log is
  loaded (on open and after another session's change) and rewritten when it differs;
  temp files and staging folders of dead processes are removed.
Reopening the folder restores the edited tree and its undo/redo history.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
import uuid
from pathlib import Path

import orjson

from steps_engine._atomic import atomic_write
from steps_engine.curation.edits import Edit, EditLog, EditResult
from steps_engine.taxonomy.graph import SkillGraph, read_graph
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["FORMAT", "Workspace", "default_dir"]

FORMAT = "steps-workspace/1"
TAXONOMY_FILES = ("taxonomy.json", "graph.csv", "skills.csv", "input.json", "ingest_report.json")


def default_dir() -> Path:
    """$STEPS_WORKSPACE, else ./workspace."""
    return Path(os.environ.get("STEPS_WORKSPACE") or "workspace").resolve()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_LOCKS: dict[Path, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()
_TEMP = re.compile(r"^\..+\.(\d+)\.[0-9a-f]+\.tmp$")  # _atomic's temp names: .NAME.PID.HEX.tmp
_STAGING = re.compile(r"^\.taxonomy\.(?:staging|old)-(\d+)-[0-9a-f]+$")


def _lock(root: Path) -> threading.RLock:
    """One lock per workspace folder in this process (studio sessions are threads)."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(root, threading.RLock())


def _dead(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class Workspace:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"workspace must be a folder, got file {self.root}")
        self._lock = _lock(self.root)
        with self._lock:
            for sub in ("taxonomy", "current", "history", "combos", "results", "exports"):
                if sub == "taxonomy" and self._next_dir.is_dir():
                    continue  # a switch to finish: taxonomy.next becomes taxonomy
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            self._finish_switch()
        self._graph: SkillGraph | None = None
        self._graph_sha: str | None = None
        self._log: EditLog | None = None
        self._stamp: tuple = ()
        self._corpus = None

    @classmethod
    def open(cls, root: str | Path | None = None) -> "Workspace":
        return cls(default_dir() if root is None else root)

    # ---- paths and plain files -------------------------------------------
    @property
    def taxonomy_dir(self) -> Path:
        """The source taxonomy folder (as built or loaded, before edits)."""
        return self.root / "taxonomy"

    @property
    def current_dir(self) -> Path:
        """A taxonomy folder holding the current (edited) tree."""
        return self.root / "current"

    @property
    def _next_dir(self) -> Path:
        return self.root / "taxonomy.next"

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def has_taxonomy(self) -> bool:
        return all((self.taxonomy_dir / f).exists() for f in ("taxonomy.json", "graph.csv"))

    def write_json(self, rel: str, obj) -> Path:
        p = self.path(rel)
        atomic_write(p, orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS))
        return p

    def read_json(self, rel: str, default=None):
        p = self.path(rel)
        if not p.exists():
            return default
        return orjson.loads(p.read_bytes())

    def write_jsonl(self, rel: str, records) -> Path:
        p = self.path(rel)
        atomic_write(p, self._jsonl(records))
        return p

    @staticmethod
    def _jsonl(records) -> bytes:
        return b"".join(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS) + b"\n" for r in records)

    def read_jsonl(self, rel: str) -> list[dict]:
        p = self.path(rel)
        if not p.exists():
            return []
        out = []
        for line in p.read_bytes().splitlines():
            if line.strip():
                out.append(orjson.loads(line))
        return out

    def input_info(self) -> dict:
        """The taxonomy's input.json (where the original records are), or {}."""
        return self.read_json("taxonomy/input.json", {}) or {}

    @property
    def source(self) -> dict:
        """Where the open taxonomy came from: {"kind": "demo" | "file" | "folder", "path"}
        ({} when not recorded, or recorded for another source than the one now open)."""
        src = dict((self.read_json("workspace.json", {}) or {}).get("source") or {})
        return src if src and src.get("for") == self._source_sha() else {}

    def set_source(self, kind: str, path: str | Path) -> None:
        """Record where the source just set came from (kept with the source's sha, so a later
        switch to another source never inherits it)."""
        with self._lock:
            state = self.read_json("workspace.json", {}) or {}
            state["source"] = {"kind": kind, "path": str(Path(path).resolve()) if kind != "demo" else str(path),
                               "for": self._source_sha()}
            self.write_json("workspace.json", state)
            self._stamp = self._state_stamp()

    @property
    def n_edits(self) -> int:
        """Edits in the history (applied or undone); 0 without a taxonomy."""
        return len(self.read_jsonl("edits.jsonl")) if self.has_taxonomy else 0

    def archive(self) -> Path | None:
        """Copy the taxonomy, its edit history and the current tree to archive/<UTC time>/
        (open archive/<time>/current as a taxonomy folder to get it back). None when empty."""
        if not self.has_taxonomy:
            return None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest = self.path("archive", stamp)
        k = 1
        while dest.exists():
            k += 1
            dest = self.path("archive", f"{stamp}-{k}")
        for sub in ("taxonomy", "current", "history"):
            for f in sorted(self.path(sub).glob("*")):
                if f.is_file():
                    atomic_write(dest / sub / f.name, f.read_bytes())
        for f in ("edits.jsonl", "workspace.json"):
            if self.path(f).exists():
                atomic_write(dest / f, self.path(f).read_bytes())
        return dest

    # ---- cluster names ---------------------------------------------------
    @property
    def name_corpus(self):
        """Words of the rows behind each skill (from input.json's file; skill names when
        the file is gone): what keyword names are recomputed from after an edit."""
        if self._corpus is None or self._corpus[0] != self.graph_key:
            from steps_engine.data.rows import mapping_from_spec
            from steps_engine.taxonomy.keyword_names import NameCorpus, corpus_from_file

            spec = self.input_info()
            skills = self.graph.skills
            corpus = None
            if spec.get("path") and spec.get("skills_field"):
                try:
                    corpus = corpus_from_file(spec["path"], mapping_from_spec(spec), skills)
                except ValueError:
                    corpus = None
            self._corpus = (self.graph_key, corpus or NameCorpus.from_skill_names(skills))
        return self._corpus[1]

    def refresh_names(self, tree: EncodingTree) -> EncodingTree:
        from steps_engine.taxonomy.naming import refresh_names

        return refresh_names(tree, self.graph, self.name_corpus)

    def what_if(self, edit: Edit) -> EditResult:
        """The edit's result and entropy cost on the current tree, without applying it."""
        from steps_engine.curation.edits import apply_edit

        log = self.log
        before = log.records[log.position - 1]["entropy_after"] if log.position else None
        return apply_edit(log.current, self.graph, edit, before)

    # ---- source taxonomy -------------------------------------------------
    def staging_dir(self) -> Path:
        """A new hidden folder inside the workspace to build a source in; pass it to
        `set_taxonomy`, which moves it in with one rename (no copy, no half-switched state)."""
        d = self.root / f".taxonomy.staging-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        d.mkdir()
        return d

    def set_taxonomy(self, source_dir: str | Path) -> None:
        """Make a taxonomy folder the new source; the edit history starts over. The new source
        is staged beside the old one and switched in by renames, so a kill at any moment
        leaves the old source with its history or the new one with none (`archive()` first to
        keep the old one)."""
        source_dir = Path(source_dir).resolve()
        for f in ("taxonomy.json", "graph.csv"):
            if not (source_dir / f).exists():
                raise ValueError(f"source_dir: {source_dir} has no {f}")
        with self._lock:
            if source_dir == self.taxonomy_dir:
                self.reset_history()
                return
            self._finish_switch()
            if source_dir.parent == self.root and _STAGING.match(source_dir.name):
                stage = source_dir  # built in place by the caller: nothing to copy
            else:
                stage = self.staging_dir()
                for f in TAXONOMY_FILES:
                    if (source_dir / f).exists():
                        atomic_write(stage / f, (source_dir / f).read_bytes())
            os.rename(stage, self._next_dir)  # the commit: from here on the switch completes
            self._finish_switch()

    def _finish_switch(self) -> None:
        """Roll a committed switch forward (idempotent): taxonomy.next becomes taxonomy."""
        if not self._next_dir.is_dir():
            return
        if self.taxonomy_dir.exists():
            old = self.root / f".taxonomy.old-{os.getpid()}-{uuid.uuid4().hex[:12]}"
            os.rename(self.taxonomy_dir, old)
        os.rename(self._next_dir, self.taxonomy_dir)
        self.reset_history()
        self._remove_stale(all_old=True)

    def reset_history(self) -> None:
        """Forget all edits: the source taxonomy becomes tree 0."""
        with self._lock:
            atomic_write(self.path("edits.jsonl"), b"")
            self._graph = None
            self._graph_sha = None
            self._log = None
            self._corpus = None
            self._write_state(0, _sha(b""), self._source_sha())
            self._sync_current(0, [])
            self._drop_snapshots(keep=set())

    def _source_sha(self) -> str | None:
        parts = [_read(self.taxonomy_dir / f) for f in ("taxonomy.json", "graph.csv")]
        if any(p is None for p in parts):
            return None
        return _sha(_sha(parts[0]).encode() + _sha(parts[1]).encode())

    # ---- graph and trees -------------------------------------------------
    def _require(self) -> None:
        if not self.has_taxonomy:
            raise ValueError(f"workspace {self.root} has no taxonomy yet: build one on the Data page")

    @property
    def graph(self) -> SkillGraph:
        self._require()
        self._refresh()
        if self._graph is None:
            if self._log is None:
                self._stamp = self._state_stamp()
            self._graph = read_graph(self.taxonomy_dir)
            self._graph_sha = _sha((self.taxonomy_dir / "graph.csv").read_bytes())
        return self._graph

    @property
    def graph_key(self) -> str:
        """Content hash of graph.csv (cache key)."""
        _ = self.graph
        return self._graph_sha or ""

    def _snapshot(self, sha: str) -> Path:
        return self.path("history", f"{sha}.json")

    def _tree_bytes(self, k: int, records: list[dict]) -> bytes | None:
        """The stored tree after edit k (0 = the source), None when missing or not matching."""
        if k == 0:
            return _read(self.taxonomy_dir / "taxonomy.json")
        sha = records[k - 1].get("tree_sha")
        if not isinstance(sha, str):
            return None
        for p in (self._snapshot(sha), self.path("history", f"{k:04d}.json")):  # the second: older layout
            data = _read(p)
            if data is not None and _sha(data) == sha:
                return data
        return None

    def _load_tree(self, k: int) -> EncodingTree:
        data = self._tree_bytes(k, self._log.records if self._log is not None else [])
        if data is None:
            raise ValueError(f"workspace {self.root}: the tree after edit {k} is missing")
        return EncodingTree.from_json(orjson.loads(data), self.graph.skills)

    def _state_stamp(self) -> tuple:
        try:
            st = os.stat(self.path("workspace.json"))
        except FileNotFoundError:
            return ()
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _refresh(self) -> None:
        """Another session (or process) changed the workspace: reload from disk."""
        if (self._log is not None or self._graph is not None) and self._state_stamp() != self._stamp:
            self._log = None
            self._graph = None
            self._stamp = self._state_stamp()

    @property
    def log(self) -> EditLog:
        self._refresh()
        if self._log is None:
            self._require()
            with self._lock:
                records, position = self._recover()
                self._stamp = self._state_stamp()
                self._log = EditLog(self.graph, None, records, position, self._load_tree)
                self._log.namer = self.refresh_names
        return self._log

    def _recover(self) -> tuple[list[dict], int]:
        """Read the log and the pointer, repair what a kill left behind, return (records, position)."""
        self._finish_switch()
        self._remove_stale()
        log_bytes = _read(self.path("edits.jsonl")) or b""
        state = self.read_json("workspace.json", {}) or {}
        source = self._source_sha()
        if state.get("source_sha") not in (None, source):  # the log of the previous source
            atomic_write(self.path("edits.jsonl"), b"")
            log_bytes = b""
            state = {"position": 0, "log_sha": _sha(b"")}
        records = []
        for line in log_bytes.splitlines():
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                break  # a damaged line ends the usable log
            if not isinstance(rec, dict) or self._tree_bytes(len(records) + 1, records + [rec]) is None:
                break  # only records whose snapshot exists and matches are usable
            records.append(rec)
        log_sha = _sha(log_bytes)
        if state.get("log_sha") not in (None, log_sha):
            position = len(records)  # an edit committed its log but not the pointer: roll forward
        else:
            position = state.get("position", len(records))
            position = position if isinstance(position, int) and not isinstance(position, bool) else len(records)
            position = max(0, min(position, len(records)))
        if (state.get("position"), state.get("log_sha"), state.get("source_sha")) != (position, log_sha, source):
            self._write_state(position, log_sha, source)
        self._sync_current(position, records)
        return records, position

    @property
    def tree(self) -> EncodingTree:
        """The current (edited) tree."""
        return self.log.current

    @property
    def tree_key(self) -> str:
        """Content hash of the current tree (cache key)."""
        log = self.log
        if log.position == 0:
            return self.graph_key + ":" + _sha((self.taxonomy_dir / "taxonomy.json").read_bytes())
        return self.graph_key + ":" + log.records[log.position - 1]["tree_sha"]

    # ---- edits -----------------------------------------------------------
    def apply(self, edit: Edit) -> EditResult:
        """Apply an edit to the current tree and persist it: snapshot, log (the commit), pointer."""
        with self._lock:
            log = self.log
            res = log.apply(edit)
            data = orjson.dumps(res.tree.to_json())
            sha = _sha(data)
            log.records[-1]["tree_sha"] = sha
            atomic_write(self._snapshot(sha), data)
            log_bytes = self._jsonl(log.records)
            atomic_write(self.path("edits.jsonl"), log_bytes)
            self._write_state(log.position, _sha(log_bytes), self._source_sha())
            atomic_write(self.current_dir / "taxonomy.json", data)
            self._drop_snapshots(keep={r["tree_sha"] for r in log.records})  # the discarded redo tail
            return res

    def undo(self) -> EncodingTree:
        with self._lock:
            tree = self.log.undo()
            self._after_move()
            return tree

    def redo(self) -> EncodingTree:
        with self._lock:
            tree = self.log.redo()
            self._after_move()
            return tree

    def _after_move(self) -> None:
        log = self.log
        self._write_state(log.position, _sha(self._jsonl(log.records)), self._source_sha())
        self._sync_current(log.position, log.records)

    def _sync_current(self, position: int, records: list[dict]) -> None:
        """Make current/ the source's files with the tree at `position` (writes only what differs)."""
        for f in TAXONOMY_FILES:
            src, dst = self.taxonomy_dir / f, self.current_dir / f
            want = self._tree_bytes(position, records) if f == "taxonomy.json" else _read(src)
            have = _read(dst)
            if want is None and have is not None:
                dst.unlink()
            elif want is not None and want != have:
                atomic_write(dst, want)

    def _drop_snapshots(self, keep: set[str]) -> None:
        for p in self.path("history").glob("*.json"):
            if p.stem not in keep:
                p.unlink(missing_ok=True)

    def _remove_stale(self, all_old: bool = False) -> None:
        """Temp files and staging folders left by processes that no longer run."""
        for d in (self.root, self.taxonomy_dir, self.current_dir, self.path("history")):
            try:
                names = os.listdir(d)
            except FileNotFoundError:
                continue
            for name in names:
                m = _TEMP.match(name)
                if m and _dead(int(m.group(1))):
                    (d / name).unlink(missing_ok=True)
                m = _STAGING.match(name) if d == self.root else None
                if m and (_dead(int(m.group(1))) or (all_old and name.startswith(".taxonomy.old-"))):
                    shutil.rmtree(d / name, ignore_errors=True)

    def _write_state(self, position: int, log_sha: str, source_sha: str | None) -> None:
        state = {"format": FORMAT, "position": position, "log_sha": log_sha, "source_sha": source_sha,
                 "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        source = (self.read_json("workspace.json", {}) or {}).get("source")
        if source:
            state["source"] = source  # where the open taxonomy came from (set_source)
        self.write_json("workspace.json", state)
        self._stamp = self._state_stamp()
