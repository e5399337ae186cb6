"""``python -m bench startup``: wall time of a cold ``newsrag ask`` process and of the UI's first page.

A small index (``seeds/``) is built first (and the OpenVINO IR cached), untimed. Then, ``--repeat``
times each, in fresh processes:

* ``ask_s``: ``newsrag ask --backend extractive QUESTION`` from exec to exit (target <= 5 s);
* ``serve_s``: ``newsrag serve --backend extractive --port P`` from exec until ``GET /`` answers 200
  (target <= 15 s); the server is then stopped;
* ``import_s``: ``python -c "import rag.cli"``, the interpreter + import floor both start from.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, bench_env, emit, table

QUESTION = "How many mortar rounds landed in the U.S. Embassy compound?"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--timeout", type=float, default=120.0, help="give up on the UI after this many seconds")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("newsrag")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "rag.cli"]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds (user+system) a live process used so far, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def time_ask(env: dict[str, str]) -> tuple[float, float, bool]:
    """(wall s, CPU s, answered). CPU time does not grow when other jobs share the cores; wall time does."""
    c0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run([*_cli(), "ask", "--backend", "extractive", QUESTION], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    return time.perf_counter() - t0, _children_cpu() - c0, proc.returncode == 0 and "[1]" in proc.stdout


def time_serve(env: dict[str, str], timeout: float) -> tuple[float | None, float | None, str]:
    import httpx

    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([*_cli(), "serve", "--backend", "extractive", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                return None, None, (proc.stderr.read() if proc.stderr else "")[-500:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2.0).status_code == 200:
                    return time.perf_counter() - t0, _proc_cpu(proc.pid), ""
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        return None, None, f"no page within {timeout:.0f}s"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the group we started: the UI and any child it spawned
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rag.api import Assistant
    from rag.settings import Settings

    with tempfile.TemporaryDirectory(prefix="newsrag-bench-startup-") as tmp:
        index_dir = Path(tmp) / "index"
        a = Assistant(Settings(index_dir=index_dir, backend="extractive"))
        a.ingest([ROOT / "seeds"])
        a.close()
        env = bench_env(RAG_INDEX_DIR=str(index_dir))
        imports, asks, serves, ask_cpu, serve_cpu = [], [], [], [], []
        ok_all, errors = True, []
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import rag.cli"], cwd=ROOT, env=env, check=True)
            imports.append(time.perf_counter() - t0)
            s, cpu, ok = time_ask(env)
            asks.append(s)
            ask_cpu.append(cpu)
            ok_all &= ok
            s2, cpu2, err = time_serve(env, args.timeout)
            if s2 is None:
                errors.append(err)
            else:
                serves.append(s2)
                if cpu2 is not None:
                    serve_cpu.append(cpu2)

    def stat(v: list[float]) -> dict[str, float | None]:
        return {"median": round(statistics.median(v), 2) if v else None, "min": round(min(v), 2) if v else None,
                "max": round(max(v), 2) if v else None}

    return {"repeat": args.repeat, "import_s": stat(imports), "ask_s": stat(asks), "serve_s": stat(serves),
            "ask_cpu_s": stat(ask_cpu), "serve_cpu_s": stat(serve_cpu), "loadavg_1m": round(os.getloadavg()[0], 2),
            "ask_answered": ok_all, "serve_errors": errors, "targets": {"ask_s": 5.0, "serve_s": 15.0}}


def report(res: dict[str, Any]) -> str:
    rows = []
    for key, label in (("import_s", "python -c 'import rag.cli'"), ("ask_s", "newsrag ask (extractive)"),
                       ("serve_s", "newsrag serve -> first page")):
        st = res[key]
        cpu = res.get(key.replace("_s", "_cpu_s"), {})
        rows.append({"what": label, "median s": st["median"], "min s": st["min"], "max s": st["max"],
                     "CPU s (median)": cpu.get("median", ""), "target s": res["targets"].get(key, "")})
    extra = "" if not res["serve_errors"] else f"\nUI errors: {res['serve_errors'][:1]}"
    return (f"startup: cold processes, median of {res['repeat']} (1-min load average {res['loadavg_1m']} "
            f"on {os.cpu_count()} cores: wall times include waiting for the CPU, CPU s do not)\n"
            + table(rows, ["what", "median s", "min s", "max s", "CPU s (median)", "target s"]) + extra)


def main(args: argparse.Namespace) -> int:
    res = run(args)
    emit("startup", res, report(res), args.json, getattr(args, "out", None))
    return 0
