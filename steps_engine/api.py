"""The Python API, `import steps_engine as steps`: thin wrappers over the stages for notebooks.

    data = steps.load("data.jsonl", skills_field="skills")    # a path, folder, glob, URL, DataFrame, Dataset, list
    tax = steps.build_taxonomy(data, height=3)                # Taxonomy: .to_frame(), .skills_frame()
    tax = tax.merge("n12", "n15").rename("n12", "Coding")     # edits return a new Taxonomy (.history, .undo())
    combos = steps.select(tax, k=3, scope="level:1")          # Combinations: .to_frame()
    steps.estimate(tax, combos, model="gpt-4o-mini")          # tokens and cost, nothing sent
    results = steps.synthesize(tax, combos, model="gpt-4o-mini", out="runs/x/results.jsonl")
    results = await steps.synthesize_async(...)               # the same inside a running event loop
    checked = steps.check(results)                            # the quality stage: ok / rejected with reasons
    steps.export_dataset(checked, fmt="chat", out="runs/x/sft.jsonl", curriculum="steps3")

Every object has a short repr and, where it is a table, `to_frame()` (pandas). Synthesis needs
the taxonomy as a folder: `synthesize` saves it (again, after edits) into `tax.folder` or,
when it was never saved, into `<out's folder>/taxonomy`; records given in memory are saved
beside it as `input.jsonl` so seed examples can be found again. Nothing heavy is imported
until a function runs. (Export is `export_dataset`: `steps.export` is the export stage's package.)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Data", "Taxonomy", "Combinations", "Results", "load", "build_taxonomy", "load_taxonomy", "select",
           "estimate", "synthesize", "synthesize_async", "check", "export_dataset"]


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class Data:
    """Records and how to read their skills (see `steps_engine.data.ingest.FieldMapping`)."""

    source: object
    skills_field: str
    skills_sep: str | None = None
    text_field: str | None = None
    casefold: bool = False

    @property
    def mapping(self):
        from steps_engine.data.ingest import FieldMapping

        return FieldMapping(self.skills_field, self.skills_sep, self.text_field, self.casefold)

    def __repr__(self) -> str:
        from steps_engine.data.sources import describe_object, is_in_memory

        if is_in_memory(self.source):
            n = len(self.source) if hasattr(self.source, "__len__") else "?"
            what = f"<{describe_object(self.source)}, {n} rows>"
        else:
            what = repr(str(self.source)) if not isinstance(self.source, (list, tuple)) else f"<{len(self.source)} inputs>"
        return f"Data({what}, skills_field={self.skills_field!r})"

    def preview(self, n: int = 10) -> list[dict]:
        from steps_engine.data.ingest import preview

        return preview(self.source, self.mapping, n=n)

    def to_frame(self, n: int = 20):
        import pandas as pd

        return pd.DataFrame(self.preview(n))


def load(source, skills_field: str = "skills", *, skills_sep: str | None = None, text_field: str | None = None,
         casefold: bool = False) -> Data:
    """Point at records: a file, folder or glob of shards, an fsspec URL, or in memory a
    DataFrame, pyarrow Table, datasets.Dataset or list of dicts (an iterator is read into a list)."""
    from steps_engine.data.sources import is_in_memory

    if is_in_memory(source) and not hasattr(source, "__len__") and type(source).__module__.split(".")[0] != "datasets":
        source = list(source)  # a generator can be read once; the taxonomy and the seeds both read it
    data = Data(source, skills_field, skills_sep, text_field, casefold)
    data.mapping  # validates the fields now
    if not is_in_memory(source):
        from steps_engine.data.sources import _is_url, resolve

        items = source if isinstance(source, (list, tuple)) else [source]
        local = [x for x in items if not (isinstance(x, (str, os.PathLike)) and _is_url(os.fspath(x)))]
        if local:
            resolve(local)  # a missing file or folder, an empty glob: said now, not at build time (URLs are read later)
    return data


# ---------------------------------------------------------------------------------------------
# Taxonomy


@dataclass(repr=False)
class Taxonomy:
    """A built taxonomy (graph, encoding tree, entropies), its edits and where it is saved."""

    inner: object  # steps_engine.taxonomy.build.Taxonomy
    folder: Path | None = None
    data: Data | None = None
    history: list = field(default_factory=list)  # EditResult of each edit, oldest first
    _saved_tree: object = None  # the tree last written to `folder`
    _origin: object = None  # the tree before the first edit

    @property
    def tree(self):
        return self.inner.tree

    @property
    def graph(self):
        return self.inner.graph

    @property
    def structural_entropy(self) -> float:
        return self.inner.structural_entropy

    def __repr__(self) -> str:
        t = self.inner
        top = len(t.tree.children()[0])
        where = f"saved in {self.folder}" if self.folder and self._saved_tree is t.tree else "not saved"
        edits = f", {len(self.history)} edit(s)" if self.history else ""
        return (f"Taxonomy({t.graph.n_skills} skills, {top} top-level clusters, height {t.tree.height}, "
                f"H^T = {t.structural_entropy:.4f} bits, H^1 = {t.one_dim_entropy:.4f}{edits}; {where})")

    def to_frame(self):
        """One row per cluster (root excluded): id, label, depth, parent, skills below, volume, cut, term."""
        import pandas as pd

        t, terms = self.inner.tree, self.inner.terms
        depth, members = t.depth(), t.member_counts()
        rows = [{"id": t.ids[i], "label": t.labels[i], "depth": int(depth[i]), "parent": t.ids[t.parent[i]],
                 "skills": int(members[i]), "volume": float(terms.volume[i]), "cut": float(terms.cut[i]),
                 "term": float(terms.term[i])}
                for i in range(1, t.n_nodes) if t.leaf_skill[i] < 0]
        return pd.DataFrame(rows)

    def skills_frame(self):
        """One row per skill: count in the data, leaf id, top-level cluster."""
        import pandas as pd

        t, g = self.inner.tree, self.inner.graph
        leaf_of = t.leaf_of_skill()
        counts = dict(zip(g.skills, (int(c) for c in g.counts)))
        rows = []
        for s, leaf in zip(t.skills, leaf_of):
            if leaf < 0:
                continue
            path = t.path_to_root(int(leaf))[::-1]
            top = path[1] if len(path) > 2 else None
            rows.append({"skill": s, "count": counts.get(s, 0), "leaf": t.ids[leaf],
                         "top_cluster": None if top is None else t.ids[top],
                         "top_label": None if top is None else t.labels[top]})
        return pd.DataFrame(rows)

    # -- edits (each returns a new Taxonomy; the entropy change is in .history[-1]) --
    def edit(self, op: str, **args) -> "Taxonomy":
        from steps_engine.curation.edits import Edit, apply_edit
        from steps_engine.taxonomy.build import Taxonomy as Inner
        from steps_engine.taxonomy.entropy import node_terms

        res = apply_edit(self.inner.tree, self.inner.graph, Edit(op, args), self.inner.structural_entropy)
        res.tree.meta = dict(self.inner.tree.meta)
        t = self.inner
        inner = Inner(t.graph, res.tree, node_terms(t.graph, res.tree), t.one_dim_entropy, t.ingest_report,
                      t.input_spec, dict(t.extra))
        return Taxonomy(inner, self.folder, self.data, [*self.history, res], self._saved_tree,
                        self._origin if self.history else t.tree)

    def rename(self, node_id: str, label: str) -> "Taxonomy":
        return self.edit("rename", node_id=node_id, label=label)

    def move(self, skills, target_id: str) -> "Taxonomy":
        return self.edit("move", skills=skills, target_id=target_id)

    def merge(self, target_id: str, source_id: str) -> "Taxonomy":
        return self.edit("merge", target_id=target_id, source_id=source_id)

    def split(self, node_id: str) -> "Taxonomy":
        return self.edit("split", node_id=node_id)

    def exclude(self, skills) -> "Taxonomy":
        return self.edit("exclude", skills=skills)

    def create(self, parent_id: str, label: str) -> "Taxonomy":
        return self.edit("create", parent_id=parent_id, label=label)

    def undo(self) -> "Taxonomy":
        """The taxonomy before the last edit."""
        if not self.history:
            raise ValueError("nothing to undo")
        from steps_engine.taxonomy.build import Taxonomy as Inner
        from steps_engine.taxonomy.entropy import node_terms

        before = self.history[-2].tree if len(self.history) > 1 else self._origin
        t = self.inner
        inner = Inner(t.graph, before, node_terms(t.graph, before), t.one_dim_entropy, t.ingest_report,
                      t.input_spec, dict(t.extra))
        return Taxonomy(inner, self.folder, self.data, self.history[:-1], self._saved_tree, self._origin)

    def save(self, folder: str | Path) -> "Taxonomy":
        """Write the taxonomy folder (`steps combos` / `steps synthesize` read it). Records given
        in memory are written to `folder/input.jsonl` first, so seeds can be found."""
        from steps_engine.data.ingest import describe_source
        from steps_engine.taxonomy.build import save_taxonomy

        from steps_engine._atomic import refuse_inputs_in_folder

        folder = Path(folder)
        spec = dict(self.inner.input_spec or {})
        refuse_inputs_in_folder(folder, [spec.get("path")] + [s.get("path") for s in spec.get("shards") or []],
                                what="folder")
        if spec.get("in_memory"):
            if self.data is None:
                raise ValueError("the records of this taxonomy were in memory and are gone; build it again")
            path = folder / "input.jsonl"
            _write_records(path, self.data.source)
            src = describe_source(path)
            spec.update(path=src["path"], format="jsonl", sha256=src["sha256"], shards=src["shards"])
            spec.pop("in_memory", None)
            self.inner.input_spec = spec
        save_taxonomy(self.inner, folder)
        self.folder, self._saved_tree = folder, self.inner.tree
        return self

    def ensure_saved(self, default: Path) -> Path:
        if self.folder is None:
            self.save(default)
        elif self._saved_tree is not self.inner.tree:
            self.save(self.folder)
        return self.folder


def _write_records(path: Path, source) -> None:
    from steps_engine._atomic import atomic_open
    from steps_engine.data.sources import object_records

    with atomic_open(path) as fh:
        for rec in object_records(source):
            fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")


def build_taxonomy(data: Data, *, height: int = 4, weighting: str = "steps", min_count: int = 1,
                   semantic_weight: float = 0.0, builder: str = "multilevel", out: str | Path | None = None) -> Taxonomy:
    """Ingest `data` (from `load`) and build the encoding tree (`builder`: "multilevel" or
    "greedy", as `steps taxonomy --builder`); `out` saves the folder too."""
    from steps_engine.taxonomy.build import build_taxonomy as _build

    if not isinstance(data, Data):
        raise TypeError(f"build_taxonomy takes the result of steps.load(...), got {type(data).__name__}")
    inner = _build(data.source, data.mapping, weighting=weighting, min_count=min_count, height=height,
                   semantic_weight=semantic_weight, builder=builder)
    _warn_skipped(getattr(inner, "ingest_report", None))
    tax = Taxonomy(inner, data=data)
    if out is not None:
        tax.save(out)
    return tax


def _warn_skipped(rep: dict | None) -> None:
    """A UserWarning naming the first skipped rows (the CLI prints them; a notebook saw nothing)."""
    if not rep or not rep.get("rows_skipped"):
        return
    import warnings

    shown = "; ".join(f"{b.get('unit', 'row')} {b.get('line')}: {b.get('reason')}" for b in rep["skipped"][:3])
    warnings.warn(f"{rep['rows_skipped']} of {rep['rows_read']} rows skipped ({shown}); "
                  "all of them: tax.inner.ingest_report['skipped']", UserWarning, stacklevel=3)


def load_taxonomy(folder: str | Path) -> Taxonomy:
    """A taxonomy folder (`steps taxonomy --out`, a studio `workspace/current`)."""
    from steps_engine.taxonomy.build import load_taxonomy as _load

    inner = _load(folder)
    return Taxonomy(inner, Path(folder), None, [], inner.tree)


# ---------------------------------------------------------------------------------------------
# Selection


@dataclass(repr=False)
class Combinations:
    items: list  # selection.search.Combination
    scope: str
    k: int

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def __getitem__(self, i):
        return self.items[i]

    def __repr__(self) -> str:
        mean = sum(c.gain for c in self.items) / len(self.items) if self.items else 0.0
        return f"Combinations({len(self.items)}, k={self.k}, scope {self.scope}, mean gain {mean:.4f} bits)"

    def to_json(self) -> list[dict]:
        return [c.to_json() for c in self.items]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{**c.to_json(), "skills": list(c.skills)} for c in self.items])

    def save(self, path: str | Path) -> Path:
        from steps_engine.selection.combos import write_jsonl

        write_jsonl(path, self.items)
        return Path(path)


def select(tax: Taxonomy, k: int = 3, *, starts="all", scope: str = "level:1", per_start: int = 1,
           strategy: str = "steps", seed: int = 0, budget: int | None = None, **options) -> Combinations:
    """Combinations on the (edited) taxonomy. Keywords that are `selection.search.Constraints`
    fields (exclude, must_include, never_together, min_support, k_max, similarity thresholds)
    constrain them; the others go to `selection.combos.select_combinations` (max_level, beam, and
    with a budget reuse_discount, max_skill_uses, max_pair_uses, leaf_discount, ...), as the
    `steps combos` flags of the same names."""
    from dataclasses import fields

    from steps_engine.selection.combos import select_combinations
    from steps_engine.selection.search import Constraints, prepare

    if not isinstance(tax, Taxonomy):
        raise TypeError(f"select takes a Taxonomy (steps.build_taxonomy or steps.load_taxonomy), got {type(tax).__name__}")
    for name, value in (("k", k), ("per_start", per_start), ("seed", seed), ("budget", budget)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(f"{name} must be an integer, got {value!r}")
    names = {f.name for f in fields(Constraints)}
    constraints = {key: options.pop(key) for key in list(options) if key in names}
    ctx = prepare(tax.tree, tax.graph, Constraints(k=k, **constraints))
    run = select_combinations(ctx, k, starts=starts, per_start=per_start, scope=scope, strategy=strategy,
                              seed=seed, budget=budget, **options)
    return Combinations(run.combinations, scope, k)


# ---------------------------------------------------------------------------------------------
# Synthesis, checks, export


@dataclass(repr=False)
class Results:
    path: Path
    records: list[dict]
    report: object | None = None  # SynthesisReport of the run that wrote them (CheckReport after check)
    taxonomy_dir: Path | None = None  # the taxonomy folder of the run: where check finds seed texts

    def __len__(self) -> int:
        return len(self.records)

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        from collections import Counter

        from steps_engine.synthesis.runner import RESULT_STATUSES

        if getattr(self.report, "dry_run", False):  # nothing was sent: say so, not "0 records"
            why = "no API key (OPENAI_API_KEY), nothing sent" if self.report.status == "no_key" else "nothing sent"
            return f"Results(dry run: {self.report.todo} prompts in {self.path.name}; {why})"
        c = Counter(r.get("status") for r in self.records)
        counts = ", ".join(f"{c[s]} {s}" for s in RESULT_STATUSES if c[s])
        return f"Results({len(self.records)} in {self.path.name}: {counts or 'none'})"

    def to_frame(self):
        import pandas as pd

        keep = ("id", "status", "k", "skills", "start", "gain", "reason", "model")
        rows = [{**{k: r.get(k) for k in keep}, "turns": len(r.get("messages") or [])} for r in self.records]
        return pd.DataFrame(rows)

    @classmethod
    def read(cls, path: str | Path, report=None, taxonomy_dir: str | Path | None = None) -> "Results":
        from steps_engine.synthesis.runner import read_results

        return cls(Path(path), read_results(path)[0], report, Path(taxonomy_dir) if taxonomy_dir is not None else None)


def _combos_arg(combos) -> list:
    if isinstance(combos, Combinations):
        combos = combos.to_json()
    if isinstance(combos, (list, tuple)) and not combos:
        raise ValueError("no combinations to synthesize (steps.select found none? loosen its constraints)")
    return combos  # a path or a list of dicts, as synthesize takes


def estimate(tax: Taxonomy, combos, *, model: str, out: str | Path, **kwargs):
    """Tokens and cost of synthesizing `combos` into `out` (an `llm.cost.Estimate`); sends nothing.
    Combinations already in `out` are left out, as a run would skip them."""
    from steps_engine.synthesis.estimate import estimate_run

    combos = _combos_arg(combos)
    folder = tax.ensure_saved(Path(out).parent / "taxonomy")
    est, _ = estimate_run(folder, combos, model=model, out=out, **kwargs)
    return est


async def synthesize_async(tax: Taxonomy, combos, *, model: str, out: str | Path, **kwargs) -> Results:
    """`await` form of `synthesize` for code already inside an event loop."""
    from steps_engine.synthesis.runner import synthesize_async as _run

    combos = _combos_arg(combos)
    folder = tax.ensure_saved(Path(out).parent / "taxonomy")
    report = await _run(folder, combos, model=model, out=out, **kwargs)
    return _results_of(out, report, folder)


def synthesize(tax: Taxonomy, combos, *, model: str, out: str | Path, **kwargs) -> Results:
    """Run synthesis (keyword options as `synthesis.runner.synthesize`); works in a notebook
    cell too (a running event loop is left alone)."""
    from steps_engine.synthesis.runner import synthesize as _run

    combos = _combos_arg(combos)
    folder = tax.ensure_saved(Path(out).parent / "taxonomy")
    report = _run(folder, combos, model=model, out=out, **kwargs)
    return _results_of(out, report, folder)


def _results_of(out, report, taxonomy_dir) -> Results:
    if report.dry_run:
        return Results(Path(report.prompts_path), [], report, taxonomy_dir)
    return Results.read(out, report, taxonomy_dir)


def _results_path(results, what: str) -> Path:
    if isinstance(results, Results):
        return results.path
    if isinstance(results, (str, os.PathLike)):
        return Path(results)
    raise TypeError(f"{what} takes Results (steps.synthesize / steps.check) or a results file path, "
                    f"got {type(results).__name__}")


def check(results: Results | str | Path, *, out: str | Path | None = None, taxonomy=None, config=None,
          **options) -> Results:
    """Quality-check every record: the `steps check` stage (`quality.check`) with its near-duplicate,
    seed-copy, benchmark-overlap (`decontaminate=[files]`) and rule checks, and an LLM judge when
    `judge_model` is given.

    Settings are `quality.CheckConfig` fields as keywords (seed_threshold, decontaminate,
    judge_model, min_score, ...; dedup_threshold for `DedupConfig(threshold=...)`; min_chars,
    max_chars, min_turns, max_turns and disabled_rules for `RuleConfig`) or `config=CheckConfig(...)`; the other keywords are run options of `quality.check` (base_url,
    api_key, client, concurrency, cache_dir, progress, ...). Seed texts come from `taxonomy` (a
    Taxonomy or its folder; default: the run's, for Results of `synthesize`). Every record is
    written to `out` (default `<results>.checked.jsonl`; a rerun resumes) with status ok or
    rejected and its reasons, and returned; `export_dataset` keeps the ok ones. `.report` is the
    `CheckReport` (counts per reason, problems)."""
    from dataclasses import fields

    from steps_engine.quality import CheckConfig, DedupConfig, RuleConfig
    from steps_engine.quality import check as _check

    path = _results_path(results, "check")
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    names = {f.name for f in fields(CheckConfig)}
    settings = {k: options.pop(k) for k in list(options) if k in names}
    if "dedup_threshold" in options:
        settings["dedup"] = DedupConfig(threshold=options.pop("dedup_threshold"))
    rule_names = {f.name for f in fields(RuleConfig)} - {"disabled"}
    rules = {k: options.pop(k) for k in list(options) if k in rule_names}
    if "disabled_rules" in options:
        rules["disabled"] = tuple(options.pop("disabled_rules"))
    if rules:
        settings["rules"] = RuleConfig(**rules)
    if config is not None and settings:
        raise ValueError(f"give either config= or CheckConfig fields ({', '.join(sorted(settings))}), not both")
    if config is None:
        config = CheckConfig(**{k: tuple(v) if k == "decontaminate" else v for k, v in settings.items()})
    if isinstance(taxonomy, Taxonomy):
        taxonomy = taxonomy.folder
    if taxonomy is None and isinstance(results, Results):
        taxonomy = results.taxonomy_dir
    out = Path(out) if out is not None else path.with_name(path.stem + ".checked.jsonl")
    report = _check(path, out, config=config, taxonomy_dir=taxonomy, **options)
    return Results.read(out, report, taxonomy)


def export_dataset(results: Results | str | Path, *, fmt: str = "chat", out: str | Path, curriculum=None,
           push_to_hub: str | None = None, private: bool = False, **kwargs):
    """Write a training file and its dataset card (`export.export`); optionally push to the Hub."""
    from steps_engine.export import export as _export

    path = _results_path(results, "export_dataset")
    report = _export(path, fmt=fmt, out=out, curriculum=curriculum, **kwargs)
    if push_to_hub:
        from steps_engine.export.hub import push_to_hub as _push

        report.hub_commit = _push(Path(out).parent, push_to_hub, private=private)
    return report
