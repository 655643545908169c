"""What the curator reads: the rows behind a cluster or skill, the seed examples of a
combination, and the tree as a collapsible outline.

    load_rows(ws)                                the workspace input's rows (`data.rows.RowTable`)
    rows_behind(rows, tree, node_id | skill)     positions of the rows carrying them
    rows_page_frame(rows, positions, page, ...)  one page: line, instruction, response, other skills
    combination_seeds(ws, skills, start)         the examples synthesis would use (synthesis.seeds)
    outline_html(tree, graph, terms, ...)        nested <details>: name, size, entropy term
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["load_rows", "rows_behind", "rows_page_frame", "combination_seeds", "outline_html"]


def load_rows(ws, max_rows: int = 200_000):
    """Rows of the file the workspace's taxonomy was built from (input.json); ValueError
    naming the problem when there is none (e.g. a planted graph or a moved file)."""
    from steps_engine.data.rows import mapping_from_spec, read_rows

    spec = ws.input_info()
    if not spec.get("path") or not spec.get("skills_field"):
        raise ValueError("this taxonomy has no input.json naming its records (it was not built from a file)")
    return read_rows(spec["path"], mapping_from_spec(spec), max_rows=max_rows)


def rows_behind(rows, tree: EncodingTree, node_id: str | None = None, skill: str | None = None) -> np.ndarray:
    """Sorted positions of the rows carrying `skill`, or any member skill of `node_id`."""
    if (node_id is None) == (skill is None):
        raise ValueError("give exactly one of node_id and skill")
    if skill is not None:
        return rows.of_skills([skill])
    return rows.of_skills(tree.members(tree.node_index(node_id)))


def rows_page_frame(rows, positions, page: int = 0, size: int = 20, focus: set[str] | None = None) -> pd.DataFrame:
    """DataFrame(line, instruction, response, skills here, other skills): `skills here`
    are the row's skills in `focus` (the cluster's members), `other skills` the rest."""
    focus = focus or set()
    recs = rows.page(positions, page, size)
    return pd.DataFrame(
        {
            "line": [r["line"] for r in recs],
            "instruction": [r["instruction"] for r in recs],
            "response": [r["response"] for r in recs],
            "skills here": [", ".join(s for s in r["skills"] if s in focus) for r in recs],
            "other skills": [", ".join(s for s in r["skills"] if s not in focus) for r in recs],
        }
    )


def combination_seeds(ws, skills: list[str], start: str | None = None, seed: int = 0, per_skill: int = 20) -> pd.DataFrame:
    """DataFrame(skill, source id, example) with the seed examples `steps synthesize` would
    pick for this combination (same index and seeded choice as the runner)."""
    from steps_engine.synthesis.seeds import build_seed_index, load_input_spec, pick_seeds

    spec = load_input_spec(ws.taxonomy_dir)
    index = build_seed_index(spec, set(skills), per_skill=per_skill, seed=seed)
    picked = pick_seeds(index, list(skills), start=start or skills[0], seed=seed)
    return pd.DataFrame(
        {
            "skill": [p.skill for p in picked],
            "source id": [p.source_id if p.source_id is not None else "(none)" for p in picked],
            "example": [p.text if p.source_id is not None else "(no example found in the data)" for p in picked],
        }
    )


def outline_html(
    tree: EncodingTree,
    graph: SkillGraph | None,
    terms: np.ndarray,
    root_id: str | None = None,
    max_depth: int = 3,
    max_children: int = 60,
    open_depth: int = 1,
) -> str:
    """The tree below `root_id` as nested <details> (collapsible, no script): per cluster its
    name, id, skill count, frequency and entropy term; skills as list items with their
    count. At most `max_depth` levels and `max_children` children per node are written
    (the rest is summarised), so the page stays small at thousands of skills. Every name
    is HTML-escaped."""
    from steps_engine.studio.plotting.taxonomy import skill_counts

    counts = skill_counts(tree, graph)
    n = tree.n_nodes
    leaf_count = np.zeros(n)
    is_leaf = tree.leaf_skill >= 0
    leaf_count[is_leaf] = counts[tree.leaf_skill[is_leaf]]
    freq = tree.subtree_sum(leaf_count)
    members = tree.member_counts()
    terms = np.asarray(terms, dtype=np.float64)
    ch = tree.children()
    root = 0 if root_id is None else tree.node_index(root_id)
    out: list[str] = []

    def node(i: int, level: int) -> None:
        if tree.leaf_skill[i] >= 0:
            out.append(f"<li>{html.escape(tree.skills[tree.leaf_skill[i]])} <small>({int(freq[i]):,} rows)</small></li>")
            return
        name = html.escape(tree.labels[i] or tree.ids[i])
        head = (
            f"<b>{name}</b> <code>{html.escape(tree.ids[i])}</code> · {int(members[i]):,} skills · "
            f"{int(freq[i]):,} rows · term {terms[i]:.4f} bits"
        )
        attr = " open" if level < open_depth else ""
        out.append(f"<details{attr}><summary>{head}</summary><ul style='margin:0 0 0 1.2em;padding:0'>")
        if level < max_depth:
            kids = sorted(ch[i], key=lambda c: (tree.leaf_skill[c] >= 0, -freq[c]))
            for c in kids[:max_children]:
                node(int(c), level + 1)
            if len(kids) > max_children:
                out.append(f"<li><i>… {len(kids) - max_children} more</i></li>")
        else:
            out.append("<li><i>deeper levels: start the outline from this cluster</i></li>")
        out.append("</ul></details>")

    node(root, 0)
    return "".join(out)
