"""The ``newsrag`` command line. It only parses arguments and prints; the work is in ``Assistant``.

Errors meant for users (``RagError``) print as one clear line and exit 2; ``--json`` outputs are
the stable contracts of ../shared/DESIGN.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLE_QUESTION = "How many mortar rounds landed in the U.S. Embassy compound?"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", metavar="DIR", help="index directory (default: index/ or RAG_INDEX_DIR)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsrag",
        description="Answer questions over news articles with cited, verified passages.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("ingest", help="add files or directories (txt, md, html, jsonl/json) to the index")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--prune", action="store_true", help="remove articles whose files under PATH are gone")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _common(p)

    p = sub.add_parser("search", help="show the passages retrieved for a query")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=None)
    p.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    p.add_argument("--from", dest="date_from", default="", help="published on or after YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", default="", help="published on or before YYYY-MM-DD")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("question")
    p.add_argument("--backend", choices=["local", "extractive", "openai"], default=None)
    p.add_argument("--model", default=None, help="local: registered name or GGUF path; openai: model id")
    p.add_argument("--k", type=int, default=None)
    p.add_argument("--source", action="append", default=[])
    p.add_argument("--from", dest="date_from", default="")
    p.add_argument("--to", dest="date_to", default="")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("list", help="list indexed articles")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("remove", help="remove articles by doc id")
    p.add_argument("doc_ids", nargs="+", metavar="DOC_ID")
    _common(p)

    p = sub.add_parser("index", help="check or rebuild the index")
    isub = p.add_subparsers(dest="index_command", metavar="ACTION")
    isub.required = True
    pc = isub.add_parser("check", help="verify that Chroma, BM25 and the manifest agree")
    pc.add_argument("--json", action="store_true")
    _common(pc)
    pr = isub.add_parser("rebuild", help="rebuild vectors and BM25 from the stored article texts")
    _common(pr)

    p = sub.add_parser("serve", help="start the chat UI")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--backend", choices=["local", "extractive", "openai"], default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--auth", default=None, help="user:pass (or RAG_AUTH); required off localhost")
    p.add_argument("--insecure", action="store_true", help="allow a non-local bind without --auth")
    _common(p)

    p = sub.add_parser("eval", help="run the evaluation (see eval/README.md)")
    p.add_argument("file", nargs="?", default=None, help="dataset file (default: eval/qa/news.jsonl)")
    p.add_argument("--dataset", choices=["news", "squad2"], default="news")
    p.add_argument("--backend", choices=["local", "extractive", "openai"], default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--split", choices=["dev", "test", "all"], default="all",
                   help="questions of the dev or test articles only (eval/splits.json); README figures are test")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", dest="json_out", metavar="OUT", default=None, help="write the JSON result here")
    p.add_argument("--report", metavar="DIR", default=None, help="write report.md/json and a chart here")
    p.add_argument("--gate", metavar="TOML", default=None, help="fail when a metric is under its threshold")
    p.add_argument("--judge", default=None, help="LLM judge: OpenAI-compatible base URL or a local model name")
    _common(p)

    p = sub.add_parser("config", help="print every effective setting and where it came from")
    p.add_argument("--backend", choices=["local", "extractive", "openai"], default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("bench", help="run a benchmark (ingest, retrieve, answer, startup, concurrency)")
    p.add_argument("bench_args", nargs=argparse.REMAINDER)

    p = sub.add_parser("models", help="install or locate local GGUF models")
    p.add_argument("models_args", nargs=argparse.REMAINDER)
    return parser


def _settings(args):
    from rag.settings import Settings

    return Settings(**_arguments(args))


def _arguments(args) -> dict:
    """The settings given on the command line (they override env, toml and defaults)."""
    over = {}
    if getattr(args, "index", None):
        over["index_dir"] = Path(args.index)
    if getattr(args, "backend", None):
        over["backend"] = args.backend
    if getattr(args, "model", None):
        if getattr(args, "backend", None) == "openai":
            over["openai_model"] = args.model
        else:
            over["local_model"] = args.model
    return over


def _filters(args) -> dict:
    return {"sources": args.source, "date_from": args.date_from, "date_to": args.date_to}


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def run(args) -> int:
    from rag.api import Assistant

    cmd = args.command
    if cmd == "bench":
        from bench.__main__ import main as bench_main

        return bench_main(args.bench_args)
    if cmd == "models":
        from rag.models import main as models_main

        return models_main(args.models_args)
    if cmd == "serve":
        from rag.ui import serve

        return serve(_settings(args), host=args.host, port=args.port, auth=args.auth, insecure=args.insecure)
    if cmd == "config":
        return _print_config(_settings(args), _arguments(args), args.json)
    if cmd == "eval":
        from rag.evaluation.runner import main as eval_main

        return eval_main(args, _settings(args))

    assistant = Assistant(_settings(args))
    if cmd == "index" and args.index_command == "rebuild":
        return _print_rebuild(assistant.rebuild())
    if cmd == "ingest":
        report = assistant.ingest(args.paths, prune=args.prune, show_progress=not args.json)
        if args.json:
            _print_json(report.to_contract())
        else:
            print(f"Added {report.documents_added}, updated {report.documents_updated}, unchanged "
                  f"{report.documents_unchanged}, removed {report.documents_removed} article(s); "
                  f"{report.chunks_added} chunk(s) in {report.seconds:.1f}s.")
            for f in report.failed:
                print(f"  failed: {f.path}: {f.reason}", file=sys.stderr)
        return 1 if report.failed else 0
    if cmd == "search":
        passages = assistant.search(args.query, k=args.k, filters=_filters(args))
        if args.json:
            _print_json([p.model_dump(exclude={"meta"}) for p in passages])
        else:
            if not passages:
                print("No passages found." if assistant.index.manifest.docs else
                      "The index is empty: run `newsrag ingest PATH` first.")
            for i, p in enumerate(passages, 1):
                print(f"[{i}] {p.title} ({p.source or 'unknown source'}{', ' + p.published if p.published else ''})"
                      f"  score={p.score:.4f} dense={p.dense_score if p.dense_score is None else round(p.dense_score, 3)}"
                      f" bm25={p.bm25_score if p.bm25_score is None else round(p.bm25_score, 2)}")
                print("    " + p.text.replace("\n", " ")[:400])
        return 0
    if cmd == "ask":
        answer = assistant.ask(args.question, k=args.k, filters=_filters(args))
        if args.json:
            _print_json(answer.to_contract())
        else:
            print(answer.text)
            if answer.refused:
                if answer.refusal is not None:
                    print(answer.refusal.text)
                if answer.passages:
                    print("\nClosest passages:")
                for p in answer.passages[:3]:
                    print(f"- {p.title or 'Untitled article'} — {p.source or 'unknown source'}"
                          f"{', ' + p.published if p.published else ''}")
                    print("    " + p.text.replace("\n", " ")[:300])
            if answer.citations:
                print()
                for c in answer.citations:
                    print(f"[{c.n}] {c.title} — {c.source or 'unknown source'}"
                          f"{', ' + c.published if c.published else ''}")
                    print(f"    \"{c.quote}\"")
        assistant.close()
        return 0
    if cmd == "list":
        docs = assistant.documents()
        if args.json:
            _print_json([d.model_dump() for d in docs])
        else:
            if not docs:
                print("The index is empty: run `newsrag ingest PATH`.")
            for d in docs:
                print(f"{d.doc_id}  {d.published or '----------'}  {d.source or '-':<16.16}  "
                      f"{d.n_chunks:>3} chunks  {d.title[:70]}")
        return 0
    if cmd == "remove":
        n = assistant.remove(args.doc_ids)
        print(f"Removed {n} article(s).")
        return 0
    if cmd == "index" and args.index_command == "check":
        report = assistant.check(read_only=True)
        if args.json:
            _print_json(report.to_contract())
        else:
            print(("OK" if report.ok else "PROBLEMS") + f": {report.documents} article(s), {report.chunks} chunk(s)")
            for p in report.problems:
                print(f"  - {p}")
        return 0 if report.ok else 1
    raise SystemExit(f"unknown command {cmd}")


def _print_config(settings, arguments: dict, as_json: bool) -> int:
    from rag.settings import explain

    report = explain(settings, arguments)
    if as_json:
        _print_json(report)
        return 0
    print(f"Settings file: {report['toml_file'] or 'none (RAG_CONFIG or ./newsrag.toml)'}")
    for group, about in report["groups"].items():
        print(f"\n[{group}] {about}")
        for row in (r for r in report["settings"] if r["group"] == group):
            print(f"  {row['name']} = {row['value']!r}  ({row['source']}; {row['env']})")
            print(f"      {row['description']}")
    return 0


def _print_rebuild(result) -> int:
    if result.manifest_set_aside is not None:
        print(f"The manifest was unreadable; moved it to {result.manifest_set_aside} and rebuilding from "
              "the stored articles.", file=sys.stderr)
    print(f"Rebuilt {result.articles} article(s), {result.chunks} chunk(s) in {result.index_dir}.")
    if result.lost:
        print(f"{len(result.lost)} article(s) could not be restored: their stored text is missing or corrupt. "
              "Ingest these files again:", file=sys.stderr)
        for d in result.lost[:20]:
            print(f"  {d.path}  ({d.title[:60]})", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    from rag.logging_setup import configure

    parser = build_parser()
    args = parser.parse_args(argv)
    configure(getattr(args, "verbose", 0))
    from rag.types import RagError

    try:
        return run(args)
    except RagError as exc:
        if getattr(args, "json", False) and args.command == "index":
            _print_json({"ok": False, "documents": 0, "chunks": 0, "problems": [str(exc)]})
            return 1
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
