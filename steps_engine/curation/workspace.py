"""A studio workspace: one folder holding everything a curation session produces.

    WS/workspace.json      {"format": "steps-workspace/1", "position": k, "updated": ...}
    WS/taxonomy/           the source taxonomy (taxonomy.json, graph.csv, skills.csv, input.json)
    WS/edits.jsonl         the edit log, one edit per line (records past `position` are redo-able)
    WS/history/NNNN.json   the tree after edit N (0000 = the source tree)
    WS/current/            a taxonomy folder with the current (edited) tree in taxonomy.json
                           and copies of the source's other files: what selection, synthesis
                           and `steps combos WS/current` use
    WS/combos/ WS/results/ WS/exports/
    WS/archive/<time>/     an earlier taxonomy with its edit history, kept when a new one replaces it

Every file is written atomically (tmp file, fsync, os.replace), so a crash leaves the
previous state. Reopening the folder restores the edited tree and its undo/redo history.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
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


class Workspace:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"workspace must be a folder, got file {self.root}")
        for sub in ("taxonomy", "current", "history", "combos", "results", "exports"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
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
        atomic_write(p, b"".join(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS) + b"\n" for r in records))
        return p

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
        ({} for a workspace written before this was recorded)."""
        return dict((self.read_json("workspace.json", {}) or {}).get("source") or {})

    def set_source(self, kind: str, path: str | Path) -> None:
        state = self.read_json("workspace.json", {}) or {}
        state["source"] = {"kind": kind, "path": str(Path(path).resolve()) if kind != "demo" else str(path)}
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
    def set_taxonomy(self, source_dir: str | Path) -> None:
        """Copy a taxonomy folder in as the new source; the edit history starts over
        (`archive()` first to keep the old one)."""
        source_dir = Path(source_dir).resolve()
        for f in ("taxonomy.json", "graph.csv"):
            if not (source_dir / f).exists():
                raise ValueError(f"source_dir: {source_dir} has no {f}")
        if source_dir != self.taxonomy_dir:
            for f in TAXONOMY_FILES:
                if (source_dir / f).exists():
                    atomic_write(self.taxonomy_dir / f, (source_dir / f).read_bytes())
                elif (self.taxonomy_dir / f).exists():
                    (self.taxonomy_dir / f).unlink()
        self.reset_history()

    def reset_history(self) -> None:
        """Forget all edits: the source taxonomy becomes tree 0."""
        shutil.rmtree(self.path("history"), ignore_errors=True)
        self.path("history").mkdir()
        if self.path("edits.jsonl").exists():
            self.path("edits.jsonl").unlink()
        self._copy_source_files()
        self._graph = None
        self._graph_sha = None
        self._log = None
        self._corpus = None
        self._write_state(0)
        if self.has_taxonomy:
            data = (self.taxonomy_dir / "taxonomy.json").read_bytes()
            atomic_write(self.path("history", "0000.json"), data)

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

    def _snapshot(self, k: int) -> Path:
        return self.path("history", f"{k:04d}.json")

    def _load_tree(self, k: int) -> EncodingTree:
        p = self._snapshot(k)
        if k == 0 and not p.exists():
            p = self.taxonomy_dir / "taxonomy.json"
        return EncodingTree.from_json(orjson.loads(p.read_bytes()), self.graph.skills)

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
            records = self.read_jsonl("edits.jsonl")
            # only records whose snapshot exists are usable (a crash may cut the tail)
            n = 0
            while n < len(records) and self._snapshot(n + 1).exists():
                n += 1
            records = records[:n]
            position = min(int((self.read_json("workspace.json", {}) or {}).get("position", n)), n)
            self._stamp = self._state_stamp()
            self._log = EditLog(self.graph, None, records, position, self._load_tree)
            self._log.namer = self.refresh_names
            if not (self.current_dir / "taxonomy.json").exists():  # e.g. a folder from an older layout
                self._copy_source_files()
                self._after_move()
        return self._log

    @property
    def tree(self) -> EncodingTree:
        """The current (edited) tree."""
        return self.log.current

    @property
    def tree_key(self) -> str:
        """Content hash of the current tree (cache key)."""
        log = self.log
        if log.position == 0:
            p = self._snapshot(0)
            p = p if p.exists() else self.taxonomy_dir / "taxonomy.json"
            return self.graph_key + ":" + _sha(p.read_bytes())
        return self.graph_key + ":" + log.records[log.position - 1]["tree_sha"]

    # ---- edits -----------------------------------------------------------
    def apply(self, edit: Edit) -> EditResult:
        """Apply an edit to the current tree and persist tree, snapshot and log."""
        log = self.log
        res = log.apply(edit)
        data = orjson.dumps(res.tree.to_json())
        log.records[-1]["tree_sha"] = _sha(data)
        k = log.position
        atomic_write(self._snapshot(k), data)
        for stale in self.path("history").glob("*.json"):  # drop the discarded redo tail
            if stale.stem.isdigit() and int(stale.stem) > k:
                stale.unlink()
        self.write_jsonl("edits.jsonl", log.records)
        self._write_state(k)
        atomic_write(self.current_dir / "taxonomy.json", data)
        return res

    def undo(self) -> EncodingTree:
        tree = self.log.undo()
        self._after_move()
        return tree

    def redo(self) -> EncodingTree:
        tree = self.log.redo()
        self._after_move()
        return tree

    def _after_move(self) -> None:
        k = self.log.position
        src = self._snapshot(k)
        src = src if src.exists() else self.taxonomy_dir / "taxonomy.json"
        self._write_state(k)
        atomic_write(self.current_dir / "taxonomy.json", src.read_bytes())

    def _copy_source_files(self) -> None:
        for f in TAXONOMY_FILES:
            src, dst = self.taxonomy_dir / f, self.current_dir / f
            if src.exists():
                atomic_write(dst, src.read_bytes())
            elif dst.exists():
                dst.unlink()

    def _write_state(self, position: int) -> None:
        state = {"format": FORMAT, "position": position, "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        source = (self.read_json("workspace.json", {}) or {}).get("source")
        if source:
            state["source"] = source
        self.write_json("workspace.json", state)
        self._stamp = self._state_stamp()
