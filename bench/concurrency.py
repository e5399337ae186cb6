"""``python -m bench concurrency``: N simultaneous questions vs one at a time, through one ``Assistant``
and through the running UI's API (``newsrag serve`` + ``gradio_client``, one client per user).

Per backend and path, the same ``--threads`` distinct questions are asked sequentially, then all at
once from that many threads. Reports wall times, throughput and their ratio, checks every answer (both
runs) against the gold answers, and counts concurrent answers identical to the sequential ones: a
concurrent run must not change what anyone is told. ``--no-ui`` skips the UI path.

``--processes 1,2,4``: several app processes against one Chroma server. A real ``chroma run`` is
started on 127.0.0.1 and the eval corpus is ingested into it once (server mode, ``CHROMA_HOST`` /
``CHROMA_PORT``). The eval corpus is also ingested into an embedded index, whose answers (one process,
sequential) are the reference. Then for each N, N separate app processes (``bench.worker``, each its own
``Assistant`` in server mode) open the index, warm up, wait at a common start signal, and all ask the
same ``--questions`` questions at once. Throughput is N × questions over the wall time from the start
signal to the last process's last answer; every answer is compared with the embedded store's answer
to the same question. Backend: ``--process-backend`` (default extractive; a local LLM would make the
model the bottleneck, not the store).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    bench_env,
    emit,
    free_port,
    run_worker,
    start_serve,
    stop_process,
    table,
    wait_until_serving,
)
from bench.evalset import backends, build_index, correct, load_questions


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backends", default=None, help="comma-separated (default: extractive, + local if installed)")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--index", type=Path, default=None, help="reuse/keep the eval index here")
    p.add_argument("--no-ui", action="store_true", help="skip the UI path (newsrag serve + gradio_client)")
    p.add_argument("--processes", default=None,
                   help="comma-separated process counts (e.g. 1,2,4): N app processes against one `chroma run` "
                        "server instead of threads against one Assistant")
    p.add_argument("--questions", type=int, default=24, help="with --processes: questions each process asks")
    p.add_argument("--process-backend", default="extractive", help="with --processes: the answering backend")


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


def parse_processes(arg: str) -> list[int]:
    """``"1,2,4"`` → ``[1, 2, 4]``; every count must be a positive integer."""
    out = [int(x) for x in str(arg).split(",") if x.strip()]
    if not out or any(n < 1 for n in out):
        raise ValueError(f"--processes wants positive integers, got {arg!r}")
    return out


def ask_questions(a: dict[str, Any]) -> dict[str, Any]:
    """Runs inside a worker process: open an ``Assistant`` (server mode when ``CHROMA_HOST`` is set), warm
    up, print ``ready``, wait for the ``go`` file (when given), then answer ``n`` questions in order."""
    from bench.evalset import load_questions
    from rag.api import Assistant
    from rag.settings import Settings

    settings = Settings(index_dir=Path(a["index_dir"]), backend=a.get("backend", "extractive"))
    t_open = time.perf_counter()
    assistant = Assistant(settings)
    qs = load_questions(int(a["n"]))
    assistant.ask(qs[0].question)  # warm-up: opens the index, loads the model
    open_s = time.perf_counter() - t_open
    go = a.get("go")
    if go:
        print("ready", flush=True)
        while not os.path.exists(go):
            time.sleep(0.005)
    t0 = time.time()
    answers = []
    for q in qs:
        ans = assistant.ask(q.question)
        answers.append({"id": q.id, "text": ans.text, "refused": bool(ans.refused), "correct": correct(ans, q)})
    t1 = time.time()
    assistant.close()
    return {"server_mode": settings.server_mode, "open_s": round(open_s, 3), "start": t0, "end": t1,
            "answers": answers}


def _ask_in_processes(n: int, n_questions: int, backend: str, env: dict[str, str], tmp: Path) -> dict[str, Any]:
    """N app processes ask the same questions at once; wall time from the start signal to the last answer."""
    go = tmp / f"go-{n}"
    go.unlink(missing_ok=True)
    procs = []
    for i in range(n):
        spec = {"index_dir": str(tmp / f"app-{n}-{i}"), "n": n_questions, "backend": backend, "go": str(go)}
        procs.append(subprocess.Popen([sys.executable, "-m", "bench.worker", "ask_questions", json.dumps(spec)],
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        for p in procs:  # every process open and warm before the clock
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"app process failed before the start:\n{p.stderr.read()[-3000:]}")
        t_go = time.time()
        go.write_text("go")
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=1800)
            lines = [ln for ln in out.splitlines() if ln.startswith("{")]
            if p.returncode != 0 or not lines:
                raise RuntimeError(f"app process failed (exit {p.returncode}):\n{err[-3000:]}")
            outs.append(json.loads(lines[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = max(o["end"] for o in outs) - t_go
    return {"wall_s": wall, "outs": outs}


def process_rows(counts: list[int], reference: list[dict], runs: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per process count: throughput, and the answers compared with the embedded store's."""
    ref = {a["id"]: a["text"] for a in reference}
    rows = []
    for n in counts:
        r = runs[n]
        answers = [a for o in r["outs"] for a in o["answers"]]
        total = len(answers)
        rows.append({
            "processes": n, "questions_per_process": len(r["outs"][0]["answers"]) if r["outs"] else 0,
            "answers": total, "wall_s": round(r["wall_s"], 3),
            "q_per_s": round(total / r["wall_s"], 3) if r["wall_s"] > 0 else None,
            "per_process_s_max": round(max(o["end"] - o["start"] for o in r["outs"]), 3),
            "app_open_s_max": max(o["open_s"] for o in r["outs"]),
            "server_mode": all(o["server_mode"] for o in r["outs"]),
            "same_as_embedded": sum(a["text"] == ref.get(a["id"]) for a in answers),
            "correct": sum(a["correct"] for a in answers),
            "differing": sorted({a["id"] for a in answers if a["text"] != ref.get(a["id"])}),
        })
    base = rows[0]["q_per_s"] if rows and rows[0]["processes"] == 1 else None
    for row in rows:
        row["speedup_vs_1"] = round(row["q_per_s"] / base, 3) if base and row["q_per_s"] else None
    return rows


def run_processes(args: argparse.Namespace) -> dict[str, Any]:
    from bench.common import cpu_info
    from bench.retrieve import _start_server, _stop_server

    counts = parse_processes(args.processes)
    backend = args.process_backend
    load_start = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="newsrag-bench-procs-") as tmp_s:
        tmp = Path(tmp_s)
        plain = bench_env()
        for k in ("CHROMA_HOST", "CHROMA_PORT", "RAG_CHROMA_HOST", "RAG_CHROMA_PORT"):
            plain.pop(k, None)
        # the reference: the embedded store, one process, the same questions in order
        emb_dir = Path(args.index) if args.index else tmp / "embedded"
        run_worker("ingest_eval", {"index_dir": str(emb_dir)}, env=plain)
        reference = run_worker("ask_questions", {"index_dir": str(emb_dir), "n": args.questions,
                                                 "backend": backend}, env=plain)
        server, port = _start_server(tmp / "chroma-server")
        try:
            env = {**plain, "CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(port)}
            t0 = time.perf_counter()
            run_worker("ingest_eval", {"index_dir": str(tmp / "ingest")}, env=env)  # once, into the server
            ingest_s = time.perf_counter() - t0
            runs = {n: _ask_in_processes(n, args.questions, backend, env, tmp) for n in counts}
        finally:
            _stop_server(server)
    rows = process_rows(counts, reference["answers"], runs)
    return {"mode": "processes", "backend": backend, "questions": args.questions, "processes": counts,
            "server": "chroma run on 127.0.0.1 (same machine)", "server_ingest_s": round(ingest_s, 1),
            "embedded_correct": sum(a["correct"] for a in reference["answers"]),
            "embedded_one_process_q_per_s": round(len(reference["answers"]) / (reference["end"] - reference["start"]), 3),
            "loadavg_1m_start": load_start,
            "cpu": cpu_info(), "results": rows}


def report_processes(res: dict[str, Any]) -> str:
    cols = ["processes", "answers", "wall_s", "q_per_s", "speedup_vs_1", "app_open_s_max", "same_as_embedded",
            "correct"]
    return (f"concurrency: N app processes ({res['backend']}) against one chroma server, "
            f"{res['questions']} questions each, all at once\n" + table(res["results"], cols))


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
    if getattr(args, "processes", None):
        res = run_processes(args)
        emit("concurrency-processes", res, report_processes(res), args.json, getattr(args, "out", None))
        return 0
    res = run(args)
    emit("concurrency", res, report(res), args.json, getattr(args, "out", None))
    return 0
