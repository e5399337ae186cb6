"""``python -m bench concurrency``: N simultaneous questions through one ``Assistant`` vs one at a time.

Per backend, the same ``--threads`` distinct questions are asked sequentially, then all at once from
that many threads sharing one ``Assistant``. Reports wall times, throughput and their ratio, and
checks every answer (both runs) against the gold answers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import emit, table
from bench.evalset import backends, build_index, correct, load_questions


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backends", default=None, help="comma-separated (default: extractive, + local if installed)")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--index", type=Path, default=None, help="reuse/keep the eval index here")


def run_backend(index_dir: Path, backend: str, n: int) -> dict[str, Any]:
    from rag.api import Assistant
    from rag.settings import Settings

    assistant = Assistant(Settings(index_dir=index_dir, backend=backend))
    qs = load_questions(n)
    assistant.ask(qs[0].question)  # warm-up outside both timings
    t0 = time.perf_counter()
    seq = [assistant.ask(q.question) for q in qs]
    seq_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(qs)) as pool:
        par = list(pool.map(lambda q: assistant.ask(q.question), qs))
    par_s = time.perf_counter() - t0
    assistant.close()
    seq_ok = [correct(a, q) for a, q in zip(seq, qs, strict=True)]
    par_ok = [correct(a, q) for a, q in zip(par, qs, strict=True)]
    same = [a.text == b.text for a, b in zip(seq, par, strict=True)]
    return {
        "backend": backend, "questions": len(qs),
        "sequential_s": round(seq_s, 2), "concurrent_s": round(par_s, 2),
        "sequential_q_per_s": round(len(qs) / seq_s, 3), "concurrent_q_per_s": round(len(qs) / par_s, 3),
        "speedup": round(seq_s / par_s, 3),
        "sequential_correct": sum(seq_ok), "concurrent_correct": sum(par_ok),
        "same_answers": sum(same),
        "all_correct": all(seq_ok) and all(par_ok),
        "wrong": [q.id for q, a, b in zip(qs, seq_ok, par_ok, strict=True) if not (a and b)],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="newsrag-bench-conc-") as tmp:
        index_dir = build_index(Path(args.index) if args.index else Path(tmp) / "index")
        return {"threads": args.threads,
                "results": [run_backend(index_dir, b, args.threads) for b in backends(args.backends)]}


def report(res: dict[str, Any]) -> str:
    cols = ["backend", "questions", "sequential_s", "concurrent_s", "sequential_q_per_s", "concurrent_q_per_s",
            "speedup", "sequential_correct", "concurrent_correct", "same_answers"]
    return f"concurrency: {res['threads']} questions, sequential vs {res['threads']} threads\n" + \
        table(res["results"], cols)


def main(args: argparse.Namespace) -> int:
    res = run(args)
    emit("concurrency", res, report(res), args.json, getattr(args, "out", None))
    return 0
