"""Cluster names from what distinguishes a cluster: c-TF-IDF keywords plus central members.

    corpus = NameCorpus.from_rows(row_skills, row_texts, skills)   # or NameCorpus.from_skill_names(skills)
    names = keyword_names(tree, graph, corpus)                      # {node index: KeywordName}

A cluster's document is every row carrying at least one of its member skills (each row
once), plus one short document per member skill holding the words of its name; without
row texts only the skill-name documents remain. Words are lower-cased, snake_case split,
stop words and words under three letters dropped, and a trailing plural "s" folded.

Weighting is class-based TF-IDF (c-TF-IDF, as BERTopic), with the classes being the
internal nodes at one depth: for term t and cluster c,

    W(t, c) = tf(t, c) * log(1 + A / f(t)),   tf(t, c) = n(t, c) / sum_t' n(t', c),

n(t, c) the count of t in c's document, f(t) = sum over the depth's clusters of n(t, c),
A the mean number of words per cluster at that depth. Among siblings a term belongs to the
sibling where it scores highest; a cluster's name is its `n_keywords` best owned terms
(then the best others), joined by ", ". Central members are the members with the largest
weighted degree inside the cluster (co-occurrence weight to fellow members). Siblings never
share a name: a clash gets the most central member, then the node id, appended. Nor does a
cluster repeat its parent's name: when its keywords are all the parent's, its best other term
replaces the last one (without one, the most central member is appended).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from steps_engine.taxonomy.graph import SkillGraph
from steps_engine.taxonomy.tree import EncodingTree

__all__ = ["NameCorpus", "KeywordName", "keyword_names", "tokenize", "corpus_from_file"]

_WORD = re.compile(r"[a-z][a-z0-9']+")
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
    now of off on once only or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves one two three
    get got make made use used using want need like give write tell please help explain show list way ways
    thing things something anything every may might must shall let lets many much well also etc via per
    into onto within without would could should you'd i'm it's don't can't what's that's there's
    roughly short asking ask asks old quick simple sure good best new really just""".split()
)


def tokenize(text: str) -> list[str]:
    """Words of `text` for naming: lower case, '_' and '-' split, stop words and short words dropped."""
    out = []
    for w in _WORD.findall(text.lower().replace("_", " ").replace("-", " ")):
        w = w.strip("'")
        if w.endswith("'s"):
            w = w[:-2]
        if len(w) < 3 or w in STOP_WORDS or w.isdigit():
            continue
        out.append(w)
    return out


def _fold(w: str) -> str:
    return w[:-1] if len(w) > 4 and w.endswith("s") and not w.endswith(("ss", "us", "is")) else w


@dataclass
class NameCorpus:
    """Documents as sparse counts: `terms` [docs x vocab], `skills_of` [docs x skills] (0/1)."""

    skills: list[str]
    vocab: list[str]  # display form of each folded term
    terms: sp.csr_matrix
    skills_of: sp.csr_matrix
    has_text: bool = False
    _index: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_rows(cls, row_skills, row_texts, skills: list[str], min_docs: int = 2, max_vocab: int = 20_000) -> "NameCorpus":
        """One document per row (its text) plus one per skill (its name's words)."""
        pos = {s: i for i, s in enumerate(skills)}
        docs_tokens: list[list[str]] = []
        rows, cols = [], []
        has_text = False
        for r, (sk, text) in enumerate(zip(row_skills, row_texts)):
            toks = tokenize(text or "")
            has_text = has_text or bool(toks)
            docs_tokens.append(toks)
            for s in sk:
                if s in pos:
                    rows.append(r)
                    cols.append(pos[s])
        base = len(docs_tokens)
        for k, s in enumerate(skills):
            docs_tokens.append(tokenize(s))
            rows.append(base + k)
            cols.append(k)
        return cls._build(skills, docs_tokens, rows, cols, has_text, min_docs, max_vocab)

    @classmethod
    def from_skill_names(cls, skills: list[str]) -> "NameCorpus":
        return cls.from_rows([], [], skills, min_docs=1)

    @classmethod
    def _build(cls, skills, docs_tokens, rows, cols, has_text, min_docs, max_vocab) -> "NameCorpus":
        surface: dict[str, Counter] = {}
        df: Counter = Counter()
        folded_docs = []
        for toks in docs_tokens:
            f = [_fold(w) for w in toks]
            for w, fw in zip(toks, f):
                surface.setdefault(fw, Counter())[w] += 1
            df.update(set(f))
            folded_docs.append(f)
        keep = [t for t, c in df.items() if c >= min_docs] or list(df)
        keep.sort(key=lambda t: (-df[t], t))
        keep = sorted(keep[:max_vocab])
        index = {t: i for i, t in enumerate(keep)}
        tr, tc, tv = [], [], []
        for d, f in enumerate(folded_docs):
            for t, c in Counter(f).items():
                j = index.get(t)
                if j is not None:
                    tr.append(d)
                    tc.append(j)
                    tv.append(c)
        n_docs = len(docs_tokens)
        terms = sp.csr_matrix((np.asarray(tv, np.float64), (tr, tc)), shape=(n_docs, len(keep)))
        skills_of = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_docs, len(skills)))
        skills_of.data[:] = 1.0
        vocab = [surface[t].most_common(1)[0][0] for t in keep]
        return cls(list(skills), vocab, terms, skills_of, has_text)


@dataclass
class KeywordName:
    name: str
    keywords: list[str]
    central: list[str]


def _ancestor_at(tree: EncodingTree, depth: np.ndarray, d: int) -> np.ndarray:
    """Ancestor at depth d of every node (-1 where the node is shallower)."""
    anc = np.where(depth == d, np.arange(tree.n_nodes), -1)
    for i in range(1, tree.n_nodes):
        if depth[i] > d:
            anc[i] = anc[tree.parent[i]]
    return anc


def _skill_weights(tree: EncodingTree, graph: SkillGraph | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges as tree-skill indices (src, dst, weight) and per-skill counts."""
    n = len(tree.skills)
    if graph is None:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0), np.ones(n)
    pos = {s: i for i, s in enumerate(tree.skills)}
    gmap = np.array([pos.get(s, -1) for s in graph.skills], dtype=np.int64)
    src, dst = gmap[graph.src], gmap[graph.dst]
    ok = (src >= 0) & (dst >= 0)
    counts = np.zeros(n)
    known = gmap >= 0
    counts[gmap[known]] = np.asarray(graph.counts, np.float64)[known]
    return src[ok], dst[ok], np.asarray(graph.weight, np.float64)[ok], counts


def keyword_names(
    tree: EncodingTree,
    graph: SkillGraph | None,
    corpus: NameCorpus,
    n_keywords: int = 3,
    n_central: int = 3,
) -> dict[int, KeywordName]:
    """A KeywordName for every internal non-root node that has members."""
    if n_keywords < 1 or n_central < 1:
        raise ValueError(f"n_keywords and n_central must be >= 1, got {n_keywords}, {n_central}")
    n = tree.n_nodes
    depth = tree.depth()
    ls = tree.leaf_skill
    leaves = tree.leaves()
    # corpus skill columns -> tree skills
    cpos = {s: i for i, s in enumerate(corpus.skills)}
    col_of_tree_skill = np.array([cpos.get(s, -1) for s in tree.skills], dtype=np.int64)
    src, dst, w, counts = _skill_weights(tree, graph)
    members = tree.member_counts()
    out: dict[int, KeywordName] = {}
    ch = tree.children()
    for d in range(1, int(depth.max(initial=0)) + 1):
        anc = _ancestor_at(tree, depth, d)
        nodes = np.flatnonzero((depth == d) & (ls < 0) & (members > 0))
        if nodes.shape[0] == 0:
            continue
        col = {int(a): k for k, a in enumerate(nodes)}
        # skill -> cluster column at this depth (-1: none)
        skill_node = np.full(len(tree.skills), -1, dtype=np.int64)
        lv = leaves[anc[leaves] >= 0]
        ok = np.array([int(anc[x]) in col for x in lv], dtype=bool) if lv.size else np.zeros(0, bool)
        lv = lv[ok]
        skill_node[ls[lv]] = [col[int(anc[x])] for x in lv]
        # corpus skills x clusters indicator
        rows = col_of_tree_skill[ls[lv]]
        good = rows >= 0
        member = sp.csr_matrix(
            (np.ones(int(good.sum())), (rows[good], skill_node[ls[lv]][good])), shape=(len(corpus.skills), nodes.shape[0])
        )
        in_doc = (corpus.skills_of @ member).tocsr()
        in_doc.data[:] = 1.0  # each row counts once per cluster
        tf_raw = np.asarray((in_doc.T @ corpus.terms).todense())  # clusters x vocab
        totals = tf_raw.sum(axis=1)
        f_t = tf_raw.sum(axis=0)
        a = float(totals.mean()) if totals.size else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            tf = np.where(totals[:, None] > 0, tf_raw / np.maximum(totals[:, None], 1e-12), 0.0)
            idf = np.where(f_t > 0, np.log1p(a / np.maximum(f_t, 1e-12)), 0.0)
        score = tf * idf[None, :]
        # central members: weighted degree to fellow members at this depth
        inner = np.zeros(len(tree.skills))
        if src.size:
            same = (skill_node[src] >= 0) & (skill_node[src] == skill_node[dst])
            np.add.at(inner, src[same], w[same])
            np.add.at(inner, dst[same], w[same])
        order = np.lexsort((np.array(tree.skills, dtype=object).astype(str), -counts, -inner))
        central: dict[int, list[str]] = {k: [] for k in range(nodes.shape[0])}
        for s in order:
            k = skill_node[s]
            if k >= 0 and len(central[k]) < n_central:
                central[k].append(tree.skills[s])
        # keywords, sibling by sibling
        parents = {int(tree.parent[a]) for a in nodes}
        for p in sorted(parents):
            sib = [col[c] for c in ch[p] if c in col]
            block = score[sib]
            owner = np.argmax(block, axis=0) if block.size else np.zeros(0, np.int64)
            for j, k in enumerate(sib):
                row = block[j]
                ranked = np.lexsort((np.arange(row.shape[0]), -row))
                ranked = ranked[row[ranked] > 0]
                owned = [t for t in ranked if owner[t] == j]
                rest = [t for t in ranked if owner[t] != j]
                pick = (owned + rest)[:n_keywords]
                kws = [corpus.vocab[t] for t in pick]
                parent = out.get(p)
                if parent is not None and kws and set(kws) <= set(parent.keywords):
                    # the parent's own words say nothing about the child: its best other term replaces the last
                    other = next((corpus.vocab[t] for t in owned + rest if corpus.vocab[t] not in parent.keywords), None)
                    if other is not None:
                        kws = kws[:-1] + [other]
                name = ", ".join(kws) if kws else " / ".join(central[k][:2])
                if parent is not None and name == parent.name:
                    name = f"{name} ({central[k][0]})" if central[k] else f"{name} ({tree.ids[int(nodes[k])]})"
                out[int(nodes[k])] = KeywordName(name, kws, central[k])
            _dedupe(out, [int(nodes[k]) for k in sib], tree)
    return out


def _dedupe(out: dict[int, KeywordName], sibs: list[int], tree: EncodingTree) -> None:
    """Siblings never share a name: append the most central member, then the id."""
    for step in ("central", "id"):
        seen: Counter = Counter(out[i].name for i in sibs)
        for i in sibs:
            if seen[out[i].name] > 1:
                extra = out[i].central[0] if step == "central" and out[i].central else tree.ids[i]
                out[i].name = f"{out[i].name} ({extra})"


def corpus_from_file(path, mapping, skills: list[str], max_rows: int = 50_000) -> NameCorpus:
    """The naming corpus of an input file (its first `max_rows` usable rows); skill names
    alone when the file is gone or its rows carry no text."""
    from steps_engine.data.rows import read_rows

    try:
        rows = read_rows(path, mapping, max_rows=max_rows, text_chars=4000)
    except (OSError, ValueError):
        return NameCorpus.from_skill_names(skills)
    if not rows.has_text:
        return NameCorpus.from_skill_names(skills)
    return NameCorpus.from_rows(rows.skills, rows.texts, skills)
