"""``python -m bench concurrency``: N simultaneous questions vs one at a time, through one ``Assistant``
and through the running UI's API (``newsrag serve`` + ``gradio_client``, one client per user).

Per backend and path, the same ``--threads`` distinct questions are asked sequentially, then all at
once from that many threads. Reports wall times, throughput and their ratio, checks every answer (both
runs) against the gold answers, and counts concurrent answers identical to the sequential ones: a
concurrent run must not change what anyone is told. ``--no-ui`` skips the UI path.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import emit, free_port, start_serve, stop_process, table, wait_until_serving
from bench.evalset import backends, build_index, correct, load_questions


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backends", default=None, help="comma-separated (default: extractive, + local if installed)")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--index", type=Path, default=None, help="reuse/keep the eval index here")
    p.add_argument("--no-ui", action="store_true", help="skip the UI path (newsrag serve + gradio_client)")


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
    return _row(backend, "assistant", qs, seq, par, seq_s, par_s)


def _row(backend: str, via: str, qs, seq, par, seq_s: float, par_s: float) -> dict[str, Any]:
    seq_ok = [correct(a, q) for a, q in zip(seq, qs, strict=True)]
    par_ok = [correct(a, q) for a, q in zip(par, qs, strict=True)]
    same = [a.text == b.text for a, b in zip(seq, par, strict=True)]
    return {
        "backend": backend, "via": via, "questions": len(qs),
        "sequential_s": round(seq_s, 2), "concurrent_s": round(par_s, 2),
        "sequential_q_per_s": round(len(qs) / seq_s, 3), "concurrent_q_per_s": round(len(qs) / par_s, 3),
        "speedup": round(seq_s / par_s, 3),
        "sequential_correct": sum(seq_ok), "concurrent_correct": sum(par_ok),
        "same_answers": sum(same),
        "all_correct": all(seq_ok) and all(par_ok),
        "wrong": [q.id for q, a, b in zip(qs, seq_ok, par_ok, strict=True) if not (a and b)],
    }


@dataclass
class _UIAnswer:
    """The fields of ``/ask``'s JSON that ``correct()`` reads."""
    text: str
    refused: bool


def run_ui(index_dir: Path, backend: str, n: int, tmp: Path) -> dict[str, Any]:
    """The same questions through a real ``newsrag serve`` on a free loopback port."""
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(tmp / "gradio")}
    env.pop("RAG_AUTH", None)
    log_path = tmp / f"serve-{backend}.log"
    url = f"http://127.0.0.1:{port}"
    proc = start_serve(index_dir, port, log_path, env, backend=backend)
    try:
        wait_until_serving(proc, url, log_path)
        qs = load_questions(n)
        clients = [Client(url, verbose=False) for _ in qs]  # one per simulated user

        def ask(i: int) -> _UIAnswer:
            out = clients[i].predict(qs[i].question, api_name="/ask")
            return _UIAnswer(out["answer"], bool(out["refused"]))

        ask(0)  # warm-up outside both timings (the model loads on the first question)
        t0 = time.perf_counter()
        seq = [ask(i) for i in range(len(qs))]
        seq_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(qs)) as pool:
            par = list(pool.map(ask, range(len(qs))))
        par_s = time.perf_counter() - t0
        for c in clients:
            c.close()
        return _row(backend, "ui", qs, seq, par, seq_s, par_s)
    finally:
        stop_process(proc)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="newsrag-bench-conc-") as tmp:
        index_dir = build_index(Path(args.index) if args.index else Path(tmp) / "index")
        results = []
        for b in backends(args.backends):
            results.append(run_backend(index_dir, b, args.threads))
            if not getattr(args, "no_ui", False):
                results.append(run_ui(index_dir, b, args.threads, Path(tmp)))
        return {"threads": args.threads, "results": results}


def report(res: dict[str, Any]) -> str:
    cols = ["backend", "via", "questions", "sequential_s", "concurrent_s", "sequential_q_per_s", "concurrent_q_per_s",
            "speedup", "sequential_correct", "concurrent_correct", "same_answers"]
    return f"concurrency: {res['threads']} questions, sequential vs {res['threads']} threads\n" + \
        table(res["results"], cols)


def main(args: argparse.Namespace) -> int:
    res = run(args)
    emit("concurrency", res, report(res), args.json, getattr(args, "out", None))
    return 0
