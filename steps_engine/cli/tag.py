"""`steps tag INPUT --vocab FILE [--text-field PATH] [--top-k K] [--min-sim S] --out FILE`:
tag every record with its closest skills from a vocabulary (embedding similarity).
`steps tag INPUT --open --llm-model M [--llm-base-url URL] --out FILE`: no vocabulary; an LLM
names open tags per record, canonicalised into a vocabulary written beside the output.
`--rerank-model M`: an LLM reorders each record's top candidates by similarity (cached in
<out>.llm-cache, so a rerun asks only what is missing; a failed request keeps the similarity
order and is reported; exit 4 when some failed).
Without --open, a killed or interrupted run keeps its finished chunks in <out>.partial/ and
the same command resumes there (`semantic.tag_checkpoint`)."""

from __future__ import annotations

import json
import sys
import time

from steps_engine.cli import EXIT_NOTHING_DONE, EXIT_OK, EXIT_PARTIAL, CLIError
from steps_engine.cli.args import input_source, number, print_first


def add_parser(sub) -> None:
    p = sub.add_parser("tag", help="tag records with skills from a vocabulary (embedding similarity), or build one with --open")
    p.add_argument("input", help="records: .jsonl / .json / .csv / .parquet")
    p.add_argument("--vocab", default=None,
                   help="skills: a text file (one per line), a taxonomy folder (skills.csv) or a tagged dataset "
                        "(required unless --open)")
    p.add_argument("--open", action="store_true",
                   help="no vocabulary: the LLM (--llm-model) names open tags, canonicalised into --vocab-out")
    p.add_argument("--vocab-out", default=None, help="with --open: where the built vocabulary goes (default vocab.txt beside --out)")
    p.add_argument("--merge-sim", default="0.85", help="with --open: cosine at which two tags are merged as synonyms (default 0.85)")
    p.add_argument("--min-count", default="2", help="with --open: records a tag needs to stay on its own (default 2)")
    p.add_argument("--rare-sim", default="0.7", help="with --open: cosine to fold a rare tag into a frequent one, else dropped (default 0.7)")
    p.add_argument("--vocab-field", default="skills", help="skills field when --vocab is a dataset (default skills)")
    p.add_argument("--vocab-sep", default=None, help="separator when that field is a delimited string, e.g. ', '")
    p.add_argument("--text-field", default=None, help="dotted path of the instruction text (default: detected)")
    p.add_argument("--response-field", default=None, help="dotted path of the response text (default: detected)")
    p.add_argument("--no-response", action="store_true", help="use the instruction text only")
    p.add_argument("--top-k", default="5", help="skills per record (default 5)")
    p.add_argument("--min-sim", default=None, help="drop skills with similarity below this (-1..1)")
    p.add_argument("--field", default="skills", help="name of the added field (default skills)")
    p.add_argument("--scores", action="store_true", help="also write <field>_scores (similarities)")
    p.add_argument("--model", default=None, help="sentence-transformers model name or folder (default bundled all-MiniLM-L6-v2)")
    p.add_argument("--cache-dir", default=None, help="embedding cache folder (default $STEPS_CACHE_DIR or ~/.cache/steps-studio)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    p.add_argument("--llm-model", default=None,
                   help="tag with this chat model (open tags mapped onto the vocabulary) instead of similarity ranking")
    p.add_argument("--llm-base-url", "--base-url", default=None, help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL or OpenAI)")
    p.add_argument("--llm-concurrency", default="4", help="LLM requests in flight (default 4)")
    p.add_argument("--rerank-model", default=None,
                   help="rerank each record's top candidates with this chat model (key from $OPENAI_API_KEY)")
    p.add_argument("--rerank-candidates", default="20", help="with --rerank-model: candidates shown to the model (default 20)")
    p.add_argument("--llm-min-sim", default="0.5", help="min similarity of an open tag to its vocabulary skill (default 0.5)")
    p.add_argument("--llm-cache-dir", default=None, help="LLM response cache folder (default <out>.llm-cache)")
    p.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="where records are embedded: this process (default) or an actor pool on a Ray cluster")
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster to join (default $RAY_ADDRESS, else a local Ray); e.g. auto, ray://head:10001")
    p.add_argument("--batch-size", default="2000", help="records per batch (default 2000; equal values give equal tags)")
    p.add_argument("--concurrency", default="2", help="with --engine ray: actors, each holding the model (default 2)")
    p.add_argument("--num-gpus", default="0", help="with --engine ray: GPUs per actor (default 0; e.g. 1 or 0.5)")
    p.add_argument("--out", required=True, help="output JSONL file")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _llm_client(args, model: str, flag: str):
    """(chat client, response cache) for `model`; the key comes from the environment only."""
    import os

    from steps_engine.llm import ResponseCache
    from steps_engine.llm.openai_client import OpenAIChatClient

    api_key = os.environ.get("OPENAI_API_KEY") or None
    base_url = args.llm_base_url or os.environ.get("OPENAI_BASE_URL") or None
    if api_key is None and base_url is None:
        raise CLIError(f"{flag} needs OPENAI_API_KEY or an --llm-base-url (e.g. a local server)")
    client = OpenAIChatClient(model, api_key=api_key, base_url=base_url)
    return client, ResponseCache(args.llm_cache_dir or f"{args.out}.llm-cache")


def _llm_tagger(args):
    from steps_engine.semantic.tagging_llm import LLMOpenTagger

    client, cache = _llm_client(args, args.llm_model, "--llm-model")
    return LLMOpenTagger(client, concurrency=number(args.llm_concurrency, "--llm-concurrency", int, 1),
                         cache=cache, include_response=not args.no_response)


def _reranker(args, top_k: int):
    from steps_engine.semantic.tagging_llm import LLMReranker

    client, cache = _llm_client(args, args.rerank_model, "--rerank-model")
    return LLMReranker(client, k=top_k, concurrency=number(args.llm_concurrency, "--llm-concurrency", int, 1),
                       cache=cache)


def _report_rows(args, report) -> None:
    rerank_failed = getattr(report, "rerank_failed", None) or []  # open tagging has none
    for msgs, note, more in ((report.llm_failed, "LLM tagger failed; written with no skills", "LLM failures"),
                             (rerank_failed, "LLM rerank failed; similarity order kept", "LLM rerank failures"),
                             (report.bad_rows, "written as a _bad_row placeholder", "bad rows")):
        print_first([f"steps tag: {args.input}: {m} ({note})" for m in msgs], f"steps tag: ... {{n}} more {more}")


def _run_open(args, embedder) -> int:
    from pathlib import Path

    from steps_engine.cli.progress import StageProgress
    from steps_engine.data.ingest import IngestError
    from steps_engine.semantic.canonical_tags import CanonConfig
    from steps_engine.semantic.open_tagging import open_tag_file

    if args.vocab:
        raise CLIError("--open builds its own vocabulary; drop --vocab (or drop --open to map LLM tags onto yours)")
    if not args.llm_model:
        raise CLIError("--open needs --llm-model (a chat model behind an OpenAI-compatible endpoint)")
    canon = CanonConfig(merge_sim=number(args.merge_sim, "--merge-sim", float, -1.0, 1.0),
                        min_count=number(args.min_count, "--min-count", int, 1),
                        rare_sim=number(args.rare_sim, "--rare-sim", float, -1.0, 1.0))
    vocab_out = Path(args.vocab_out) if args.vocab_out else Path(args.out).with_name("vocab.txt")
    from steps_engine._atomic import refuse_input_as_output

    try:
        refuse_input_as_output(vocab_out, [args.input], what="--vocab-out")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    tagger = _llm_tagger(args)
    progress = StageProgress(enabled=not args.quiet)
    t0 = time.perf_counter()
    try:
        report = open_tag_file(args.input, args.out, vocab_out, tagger, embedder, canon, text_field=args.text_field,
                               response_field=args.response_field, use_response=not args.no_response,
                               out_field=args.field, progress=progress)
    except (IngestError, ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    finally:
        progress.close()
    _report_rows(args, report)
    print_first([f"steps tag: dropped rare tag {name!r} ({n} records, nothing similar enough)"
                 for name, n in report.canon.dropped],
                f"steps tag: ... {{n}} more rare tags dropped (listed in {vocab_out})")
    print(f"steps tag: {report.summary()}; {time.perf_counter() - t0:.1f}s -> {args.out}, vocabulary -> {vocab_out}")
    if args.json:
        c = report.canon
        print(json.dumps({"out": str(args.out), "vocab_out": str(vocab_out), "records": report.records,
                          "tagged": report.tagged, "no_text": report.no_text, "bad_rows": len(report.bad_rows),
                          "llm_failed": len(report.llm_failed), "raw_tags": len(c.mapping), "vocab": len(c.tags),
                          "synonym_merges": len(c.synonym_merges), "rare_mapped": len(c.rare_mapped),
                          "dropped": len(c.dropped)}))
    if not report.tagged:  # no record (an empty input) or none got a skill
        return EXIT_NOTHING_DONE
    return EXIT_PARTIAL if report.llm_failed else EXIT_OK


def run(args) -> int:
    from steps_engine.semantic.embeddings import get_embedder
    from steps_engine.data.ingest import IngestError
    from steps_engine.semantic.tagging import TagConfig, load_vocabulary, tag_file
    from steps_engine.cli.progress import StageProgress
    from steps_engine._atomic import refuse_folder, refuse_input_as_output

    top_k = number(args.top_k, "--top-k", int, 1)
    min_sim = number(args.min_sim, "--min-sim", float, -1.0, 1.0)
    input_source(args.input)
    try:
        refuse_input_as_output(args.out, [args.input, args.vocab], what="--out")
        refuse_folder(args.out, "tagged.jsonl")  # before the model loads
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.open and args.engine == "ray":
        raise CLIError("--open asks an LLM in this process; --engine ray is for --vocab tagging (drop one)")
    if args.open:
        return _run_open(args, get_embedder(args.model, args.cache_dir, cache=not args.no_cache))
    if not args.vocab:
        raise CLIError("give --vocab FILE (the skills to tag with), or --open to build a vocabulary with an LLM")
    try:
        vocab, problems = load_vocabulary(args.vocab, args.vocab_field, args.vocab_sep)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    print_first([f"steps tag: vocab: skipped {m}" for m in problems], "steps tag: vocab: ... {n} more rows skipped")
    config = TagConfig(top_k=top_k, min_sim=min_sim, use_response=not args.no_response)
    llm_min_sim = number(args.llm_min_sim, "--llm-min-sim", float, -1.0, 1.0)
    rerank_candidates = number(args.rerank_candidates, "--rerank-candidates", int, 1)
    if args.rerank_model and args.llm_model:
        raise CLIError("--rerank-model reorders the similarity ranking; --llm-model replaces it (drop one)")
    if args.engine == "ray" and args.rerank_model:
        raise CLIError("--engine ray tags by embedding similarity; --rerank-model runs in this process (drop one)")
    open_tagger = _llm_tagger(args) if args.llm_model else None
    reranker = _reranker(args, top_k) if args.rerank_model else None
    batch_size = number(args.batch_size, "--batch-size", int, 1)
    concurrency = number(args.concurrency, "--concurrency", int, 1)
    num_gpus = number(args.num_gpus, "--num-gpus", float, 0.0)
    if args.engine == "ray" and open_tagger is not None:
        raise CLIError("--engine ray tags by embedding similarity; --llm-model runs in this process (drop one)")
    progress = StageProgress(enabled=not args.quiet)
    t0 = time.perf_counter()
    try:
        if args.engine == "ray":
            import functools

            from steps_engine.semantic.ray_tagging import tag_file_ray

            factory = functools.partial(get_embedder, args.model, args.cache_dir, cache=not args.no_cache)
            report = tag_file_ray(args.input, args.out, vocab, factory, config, text_field=args.text_field,
                                  response_field=args.response_field, out_field=args.field, with_scores=args.scores,
                                  batch_size=batch_size, concurrency=concurrency, num_gpus=num_gpus,
                                  address=args.ray_address, progress=progress)
        else:
            embedder = get_embedder(args.model, args.cache_dir, cache=not args.no_cache)
            report = tag_file(args.input, args.out, vocab, embedder, config, text_field=args.text_field,
                              response_field=args.response_field, out_field=args.field, with_scores=args.scores,
                              chunk_records=batch_size, progress=progress, open_tagger=open_tagger,
                              llm_min_sim=llm_min_sim, reranker=reranker, rerank_candidates=rerank_candidates)
    except (IngestError, ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    except RuntimeError as exc:  # Ray missing or failing (only --engine ray raises it)
        if args.engine != "ray":
            raise
        raise CLIError(str(exc)) from None
    except KeyboardInterrupt:
        print(f"steps tag: the finished part is kept in {args.out}.partial; the same command resumes",
              file=sys.stderr)
        raise
    finally:
        progress.close()
    for note in report.notes or []:
        print(f"steps tag: {note}", file=sys.stderr)
    _report_rows(args, report)
    print(f"steps tag: {report.summary()}; vocabulary {len(vocab)} skills; "
          f"{time.perf_counter() - t0:.1f}s -> {args.out}")
    if args.json:
        print(json.dumps({"out": str(args.out), "records": report.records, "tagged": report.tagged,
                          "no_text": report.no_text, "bad_rows": len(report.bad_rows),
                          "llm_failed": len(report.llm_failed), "replaced": report.replaced,
                          "rerank_failed": len(report.rerank_failed or []), "vocab": len(vocab),
                          "resumed": report.resumed}))
    if not report.tagged:  # no record (an empty input) or none got a skill
        return EXIT_NOTHING_DONE
    return EXIT_PARTIAL if report.llm_failed or report.rerank_failed else EXIT_OK
