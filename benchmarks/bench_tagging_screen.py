"""Screening of tagging methods that were measured and not adopted (docs/embeddings.md, round 2).

Same slices, vocabularies and leave-one-slice-out CV as bench_tagging.py (records 0-999 of
ism_sda_k2_1000.json in `--slice-size` slices; gpt4 and gpt4+claude; the pick per fold is the best
mean over the other slices and both vocabularies). Every method is a small grid on top of the
round-1 parts (2 phrasings, instruction weight 0.4, response max over sentences, word overlap
0.2) and is printed as CV held-out mean / worst per vocabulary. Embeddings come from the on-disk
cache (bench_tagging.py fills it); nothing here touches the outside file.

    .venv/bin/python benchmarks/bench_tagging_screen.py [--slice-size 200] [--only csls,sinkhorn]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import product
from pathlib import Path

import numpy as np
from scipy.special import log_ndtr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_line  # noqa: E402
from bench_tagging import DATA, ROUND1, MemoEmbedder, instruction_text, load_vocabs  # noqa: E402

from steps_engine.semantic.char_ngrams import CharNgramIndex  # noqa: E402
from steps_engine.semantic.crossval import cross_validate, grid_fit  # noqa: E402
from steps_engine.semantic.embeddings import get_embedder  # noqa: E402
from steps_engine.semantic.embeddings.base import normalize_rows  # noqa: E402
from steps_engine.semantic.tagging import _lexical_overlap, skill_vectors, split_sentences  # noqa: E402
from steps_engine.semantic.vocabulary import _STOP, _WORD, Vocabulary, skill_phrase  # noqa: E402

K = 5
VOCABS = ("gpt4", "gpt4+claude")


def recall(score: np.ndarray, truth, k: int = K, pred=None) -> float:
    if pred is None:
        pred = np.argpartition(-score, k - 1, axis=1)[:, :k].tolist()
    return sum(len(set(p[:k]) & set(t)) for p, t in zip(pred, truth)) / sum(len(t) for t in truth)


def zscale(a: np.ndarray, power: float = 1.0) -> np.ndarray:
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) * (sd.mean() / np.maximum(sd, 1e-6)) ** power


class Part:
    """One slice x one vocabulary: cosines per channel and per response sentence, truth."""

    def __init__(self, X, S, owner, vv, lex, truth, n):
        self.n, self.X, self.S, self.owner, self.vv, self.lex, self.truth = n, X, S, owner, vv, lex, truth
        self.instr = X @ vv.T
        self.sent = S @ vv.T
        self.resp = np.full((n, len(vv)), -np.inf, dtype=np.float32)
        np.maximum.at(self.resp, owner, self.sent)
        self.has = np.isfinite(self.resp[:, 0])

    def sim(self, w: float = 0.4, instr=None, resp=None) -> np.ndarray:
        instr = self.instr if instr is None else instr
        resp = self.resp if resp is None else resp
        s = instr.copy()
        s[self.has] = w * instr[self.has] + (1 - w) * resp[self.has]
        return s


def load_slices(size: int, emb, vocabs: dict[str, Vocabulary], extra_templates=()):
    records = json.loads((DATA / "ism_sda_k2_1000.json").read_text(encoding="utf-8"))[:1000]
    full = vocabs["gpt4+claude"]
    n_gpt4 = len(vocabs["gpt4"])
    assert full.skills[:n_gpt4] == vocabs["gpt4"].skills
    vecs = skill_vectors(full, emb, ROUND1).astype(np.float64)
    extra = {t: emb.encode(full.phrases(t)) for t in extra_templates}
    ins = [instruction_text(r) for r in records]
    X = emb.encode(ins)
    sents = [split_sentences(r["output"], max_sentences=ROUND1.max_sentences) for r in records]
    owner = np.repeat(np.arange(len(records)), [len(s) for s in sents])
    S = emb.encode([s for ss in sents for s in ss]) if len(owner) else np.zeros((0, X.shape[1]), np.float32)
    lex = _lexical_overlap(ins, full)
    pos = {s: i for i, s in enumerate(full.skills)}
    slices = {}
    for lo in range(0, len(records), size):
        hi = min(lo + size, len(records))
        m = (owner >= lo) & (owner < hi)
        parts = {}
        for vn, nv in (("gpt4", n_gpt4), ("gpt4+claude", len(full))):
            truth = [[pos[s] for s in r["skills_joined_str"].split(", ") if s in pos and pos[s] < nv]
                     for r in records[lo:hi]]
            parts[vn] = Part(X[lo:hi], S[m], owner[m] - lo, normalize_rows(vecs[:nv]).astype(np.float32),
                             lex[lo:hi, :nv], truth, hi - lo)
        slices[f"{lo}-{hi - 1}"] = {"parts": parts, "lo": lo, "hi": hi, "ins": ins[lo:hi],
                                    "out": [r["output"] for r in records[lo:hi]], "ids": list(range(lo, hi))}
    return slices, extra


# ---------------------------------------------------------------- methods: (part, params) -> recall

def m_round1(p, a):
    return recall(zscale(p.sim()) + 0.2 * p.lex, p.truth)


def m_inverted_softmax(p, a):
    beta, z = a
    s = p.sim().astype(np.float64)
    mx = s.max(axis=0)
    centre = mx + np.log(np.exp(beta * (s - mx)).mean(axis=0)) / beta
    scale = (s.std(axis=0).mean() / s.std(axis=0)) if z else 1.0
    return recall((s - centre) * scale + 0.2 * p.lex, p.truth)


def m_csls(p, a):
    k, z = a
    s = p.sim()
    centre = -np.sort(-s, axis=0)[: min(k, p.n)].mean(axis=0)
    scale = (s.std(axis=0).mean() / s.std(axis=0)) if z else 1.0
    return recall((s - centre) * scale + 0.2 * p.lex, p.truth)


def m_sinkhorn(p, a):
    beta, rounds = a
    L = beta * (zscale(p.sim()) + 0.2 * p.lex).astype(np.float64)
    for _ in range(rounds):
        L = L - np.logaddexp.reduce(L, axis=0, keepdims=True)
        L = L - np.logaddexp.reduce(L, axis=1, keepdims=True)
    return recall(L, p.truth)


def m_mutual_proximity(p, a):
    lw, record_side = a
    s = p.sim()
    zc = (s - s.mean(axis=0)) / s.std(axis=0)
    zr = (s - s.mean(axis=1, keepdims=True)) / s.std(axis=1, keepdims=True)
    return recall(log_ndtr(zc) + record_side * log_ndtr(zr) + lw * p.lex, p.truth)


def m_row_z(p, a):
    s = zscale(p.sim())
    s = (s - s.mean(axis=1, keepdims=True)) / s.std(axis=1, keepdims=True) * s.std()
    return recall(s + a[0] * p.lex, p.truth)


def m_channels_apart(p, a):
    w = a[0]
    s = np.where(p.has[:, None], w * zscale(p.instr) + (1 - w) * zscale(np.where(p.has[:, None], p.resp, 0)),
                 zscale(p.instr))
    return recall(s + 0.2 * p.lex, p.truth)


def m_sentence_z(p, a):
    sd = p.sent.std(axis=0)
    sz = (p.sent - p.sent.mean(axis=0)) * (sd.mean() / np.maximum(sd, 1e-6))
    r = np.full_like(p.resp, -np.inf)
    np.maximum.at(r, p.owner, sz)
    s = np.where(p.has[:, None], 0.4 * zscale(p.instr) + 0.6 * r, zscale(p.instr))
    return recall(s + 0.2 * p.lex, p.truth)


def m_lse_pooling(p, a):
    t = a[0]
    e = np.exp(t * (p.sent.astype(np.float64) - p.resp[p.owner]))
    acc = np.zeros(p.resp.shape)
    np.add.at(acc, p.owner, e)
    cnt = np.maximum(np.bincount(p.owner, minlength=p.n), 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(p.has[:, None], p.resp + np.log(acc / cnt) / t, -np.inf)
    return recall(zscale(p.sim(resp=r)) + 0.2 * p.lex, p.truth)


def m_doc_channel(p, a):
    wi, wd = a
    M = np.zeros_like(p.X)
    np.add.at(M, p.owner, p.S)
    doc = normalize_rows(M.astype(np.float64)).astype(np.float32) @ p.vv.T
    s = np.where(p.has[:, None], wi * p.instr + wd * doc + (1 - wi - wd) * p.resp, p.instr)
    return recall(zscale(s) + 0.2 * p.lex, p.truth)


def m_prf(p, a):
    alpha, margin, top = a
    s0 = zscale(p.sim()) + 0.2 * p.lex
    srt = -np.sort(-s0, axis=1)[:, : top + 1]
    order = np.argsort(-s0, axis=1)[:, :top]
    add = np.zeros(p.vv.shape)
    cnt = np.zeros(len(p.vv))
    for i in np.nonzero(srt[:, top - 1] - srt[:, top] >= margin)[0]:
        add[order[i]] += p.X[i]
        cnt[order[i]] += 1
    vv = p.vv.astype(np.float64).copy()
    ok = cnt > 0
    vv[ok] += alpha * add[ok] / cnt[ok, None]
    vv = normalize_rows(vv).astype(np.float32)
    resp = np.full_like(p.resp, -np.inf)
    np.maximum.at(resp, p.owner, p.S @ vv.T)
    return recall(zscale(p.sim(instr=p.X @ vv.T, resp=resp)) + 0.2 * p.lex, p.truth)


def m_mmr(p, a):
    lam, hard = a
    score = zscale(p.sim()) + 0.2 * p.lex
    N = 30
    cand = np.argsort(-score, axis=1)[:, :N]
    pred = []
    for i in range(p.n):
        c = cand[i]
        sc = score[i, c].astype(np.float64)
        G = p.vv[c] @ p.vv[c].T
        picked, maxsim, free = [], np.full(N, -np.inf), np.ones(N, bool)
        for _ in range(K):
            val = sc - lam * np.maximum(np.where(np.isfinite(maxsim), maxsim, 0.0), 0.0)
            if hard is not None:
                val = np.where(maxsim > hard, -np.inf, val)
            val[~free] = -np.inf
            j = int(np.argmax(val))
            picked.append(int(c[j]))
            free[j] = False
            maxsim = np.maximum(maxsim, G[j])
        pred.append(picked)
    return recall(score, p.truth, pred=pred)


_SUFFIXES = ("ational", "ization", "ations", "ation", "ities", "ness", "ments", "ment", "ings", "ing", "ical", "ally",
             "ics", "ic", "ies", "ive", "ers", "er", "ed", "es", "al", "ly", "s", "y", "e")


def _light_stem(w: str) -> str:
    for suf in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 4:
            return w[: -len(suf)]
    return w


def word_overlap(texts, names, stem, idf_mode=None):
    """[n, V] share of each name's words (stemmed) found in each text, optionally idf-weighted."""
    import scipy.sparse as sp

    def words(t):
        return {stem(w) for w in _WORD.findall(t.lower()) if w not in _STOP and len(w) > 2}

    sw = [words(n) for n in names]
    index: dict[str, int] = {}
    rows, cols = [], []
    for j, ws in enumerate(sw):
        for w in ws:
            rows.append(index.setdefault(w, len(index)))
            cols.append(j)
    W = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(index), len(names)))
    r2, c2 = [], []
    for i, t in enumerate(texts):
        for w in words(t):
            if w in index:
                r2.append(i)
                c2.append(index[w])
    D = sp.csr_matrix((np.ones(len(r2)), (r2, c2)), shape=(len(texts), len(index)))
    if idf_mode == "names":
        df = np.asarray((W > 0).sum(axis=1)).ravel()
        W = sp.diags(np.log((len(names) + 1) / (df + 1)) + 1) @ W
    elif idf_mode == "file":
        df = np.asarray((D > 0).sum(axis=0)).ravel()
        W = sp.diags(np.log((len(texts) + 1) / (df + 1)) + 1) @ W
    den = np.asarray(W.sum(axis=0)).ravel()
    den[den == 0] = 1
    return (D @ W).toarray() / den


def run(label, slices, method, grid):
    cache: dict = {}

    def metric(params, sl):
        key = (params, sl["lo"])
        if key not in cache:
            cache[key] = {vn: method(sl["parts"][vn], params) for vn in VOCABS}
        return cache[key]

    res = cross_validate(slices, grid_fit(grid, metric), metric, ids=lambda sl: sl["ids"])
    cells = []
    for vn in VOCABS:
        vals = res.values(vn)
        cells.append(f"{np.mean(vals):.3f} / {np.min(vals):.3f}")
    picks = sorted({str(f.model) for f in res.folds})
    print(f"| {label} | {cells[0]} | {cells[1]} | {', '.join(picks)} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slice-size", type=int, default=200)
    ap.add_argument("--only", default=None, help="comma-separated method labels' first words to run")
    args = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()
    emb = MemoEmbedder(get_embedder())
    vocabs = load_vocabs()
    templates = ("expertise in {}", "a request that needs {}", "a response demonstrating {}")
    slices, extra = load_slices(args.slice_size, emb, vocabs, templates)
    full_names = [skill_phrase(s) for s in vocabs["gpt4+claude"].skills]
    n_gpt4 = len(vocabs["gpt4"])
    print(f"Screening, {len(slices)} slices of {args.slice_size}; {machine_line()}; {time.strftime('%Y-%m-%d')}\n")
    print("| method | gpt4 held-out mean / worst | gpt4+claude mean / worst | fold picks |\n|---|---|---|---|")

    def want(label):
        return args.only is None or any(label.startswith(w) for w in args.only.split(","))

    runs = [
        ("round-1 default", m_round1, [()]),
        ("inverted softmax", m_inverted_softmax, list(product((5, 10, 20, 30, 50, 100), (False, True)))),
        ("csls", m_csls, list(product((1, 3, 5, 10, 20, 50), (False, True)))),
        ("sinkhorn", m_sinkhorn, list(product((5, 10, 20, 40), (1, 3, 10)))),
        ("mutual proximity", m_mutual_proximity, list(product((0.5, 1, 2, 4), (0, 1)))),
        ("record-side z after skill z", m_row_z, [(0.1,), (0.2,), (0.3,), (0.4,)]),
        ("channels z-scored apart", m_channels_apart, [(0.3,), (0.4,), (0.5,), (0.6,)]),
        ("sentence-level z before max", m_sentence_z, [()]),
        ("lse pooling over sentences", m_lse_pooling, [(10,), (20,), (40,), (80,)]),
        ("doc vector channel", m_doc_channel, list(product((0.3, 0.4), (0.0, 0.1, 0.2, 0.3)))),
        ("prf", m_prf, list(product((0.1, 0.3), (0.0, 0.05, 0.1), (1, 2)))),
        ("mmr diversity", m_mmr, list(product((0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3), (None,)))),
        ("near-duplicate skip", m_mmr, list(product((0.0,), (0.6, 0.7, 0.8, 0.9)))),
    ]
    for label, method, grid in runs:
        if want(label):
            run(label, slices, method, grid)

    # lexical variants: replace the word-overlap matrix
    def lexical_variant(label, stem, idf_mode=None, centred=False, resp_w=0.0):
        if not want(label):
            return
        for sl in slices.values():
            for vn in VOCABS:
                nv = n_gpt4 if vn == "gpt4" else len(full_names)
                L = word_overlap(sl["ins"], full_names[:nv], stem, idf_mode)
                if resp_w:
                    L = L + resp_w * word_overlap(sl["out"], full_names[:nv], stem, idf_mode)
                if centred:
                    L = L - L.mean(axis=0)
                sl["parts"][vn].alt_lex = L

        def m(p, a):
            return recall(zscale(p.sim()) + a[0] * p.alt_lex, p.truth)
        run(label, slices, m, [(0.1,), (0.2,), (0.3,), (0.4,)])

    lexical_variant("word overlap, 5-letter prefixes (as round 1)", lambda w: w[:5])
    lexical_variant("word overlap, light suffix stemming", _light_stem)
    lexical_variant("word overlap, no stemming", lambda w: w)
    lexical_variant("word overlap, idf over names", lambda w: w[:5], "names")
    lexical_variant("word overlap, idf over the file", lambda w: w[:5], "file")
    lexical_variant("word overlap, centred per skill", lambda w: w[:5], centred=True)
    lexical_variant("word overlap + 0.25 x on the response", lambda w: w[:5], resp_w=0.25)
    lexical_variant("word overlap + 0.5 x on the response", lambda w: w[:5], resp_w=0.5)

    # on top of the new default: char n-grams from the file's idf, of the response, more phrasings
    def new_default(p, chars, vv=None, extra_resp=None, rw=0.0):
        if vv is not None:
            resp = np.full_like(p.resp, -np.inf)
            np.maximum.at(resp, p.owner, p.S @ vv.T)
            s = p.sim(0.3, instr=p.X @ vv.T, resp=resp)
        else:
            s = p.sim(0.3)
        m, sd = s.mean(axis=0), s.std(axis=0)
        score = (s - m - 3 * sd) * (sd.mean() / sd) ** 0.5 + 0.2 * p.lex + 0.4 * chars
        if extra_resp is not None:
            score = score + rw * extra_resp
        return recall(score, p.truth)

    for sl in slices.values():
        for vn in VOCABS:
            nv = n_gpt4 if vn == "gpt4" else len(full_names)
            idx = CharNgramIndex(full_names[:nv])
            sl["parts"][vn].chars = idx.similarity(sl["ins"])
            sl["parts"][vn].chars_resp = idx.similarity(sl["out"])
            sl["parts"][vn].chars_file = CharNgramIndex(full_names[:nv] + sl["ins"]).similarity(sl["ins"])[:, :nv]
    if want("new default"):
        run("new default (reference)", slices, lambda p, a: new_default(p, p.chars), [()])
        run("new default, char idf over names + file", slices, lambda p, a: new_default(p, p.chars_file), [()])
        run("new default + char n-grams of the response", slices,
            lambda p, a: new_default(p, p.chars, extra_resp=p.chars_resp, rw=a[0]), [(0.1,), (0.2,), (0.3,), (0.5,)])
        full = vocabs["gpt4+claude"]
        two = emb.encode(full.phrases(ROUND1.template)).astype(np.float64) + emb.encode(full.phrases("{}"))
        for chosen in ([templates[0]], [templates[1]], [templates[2]], list(templates)):
            raw = two + sum(extra[t] for t in chosen)  # a skill's vector: normalised mean of its phrasings
            for sl in slices.values():
                for vn in VOCABS:
                    nv = sl["parts"][vn].vv.shape[0]
                    sl["parts"][vn].vv_more = normalize_rows(raw[:nv]).astype(np.float32)
            run(f"new default + phrasing(s) {', '.join(chosen)}", slices,
                lambda p, a: new_default(p, p.chars, vv=p.vv_more), [()])
    print(f"\n{time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU")


if __name__ == "__main__":
    main()
