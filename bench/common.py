"""Shared benchmark plumbing: worker subprocesses, peak RSS, percentiles, result files, tables.

The machine is shared (2 cores, other jobs running), so absolute seconds move from run to run.
Every benchmark therefore measures what it compares *in the same run*, interleaving repeats
(A B C A B C ...) and keeping each pipeline's best, so a burst of outside load hurts all alike.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"


def peak_rss_mb() -> float:
    """Peak resident set size of *this* process (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank-interpolated percentile (numpy's default 'linear')."""
    if not values:
        return float("nan")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def bench_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
           "GRADIO_ANALYTICS_ENABLED": "False", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def run_worker(task: str, args: dict[str, Any], env: dict[str, str] | None = None,
               timeout: float = 3600) -> dict[str, Any]:
    """Run ``bench.worker`` in a fresh interpreter: its peak RSS is this pipeline's alone."""
    cmd = [sys.executable, "-m", "bench.worker", task, json.dumps(args)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env or bench_env(), capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"bench worker {task!r} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


CPU_EXTENSIONS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")


def cpu_info() -> dict[str, Any]:
    """The CPU model and the vector extensions that decide the embedding precision (Linux /proc/cpuinfo)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = val.strip()
                elif key == "flags":
                    flags = set(val.split())
                if key == "flags" and model:
                    break
    except OSError:
        pass
    return {"model": model, "extensions": [x for x in CPU_EXTENSIONS if x in flags],
            "amx": any(x.startswith("amx") for x in flags), "cpus": os.cpu_count()}


def token_stats(tokenizer, texts: list[str], window: int) -> dict[str, int]:
    """How the model sees ``texts``: chunks longer than its ``window`` (special tokens included) are
    truncated; ``embedded_tokens`` is what it actually reads."""
    lengths = [len(ids) for ids in tokenizer(list(texts), add_special_tokens=True, truncation=False,
                                             verbose=False)["input_ids"]] if texts else []
    return {"truncated_chunks": sum(n > window for n in lengths),
            "embedded_tokens": sum(min(n, window) for n in lengths),
            "chunk_tokens_p50": sorted(lengths)[len(lengths) // 2] if lengths else 0, "model_window": window}


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                            "platform": platform.platform()}
    try:
        info["loadavg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return info


def save_result(name: str, obj: dict[str, Any], out_dir: Path | None = None) -> Path:
    out = Path(out_dir) if out_dir else RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    obj.setdefault("benchmark", name)
    obj.setdefault("timestamp", time.strftime("%Y-%m-%dT%H:%M:%S"))
    obj.setdefault("machine", machine_info())
    path = out / f"{name}.json"
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    return path


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain fixed-width table (no dependency, readable in CI logs)."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, sep, *body])


def emit(name: str, obj: dict[str, Any], text: str, as_json: bool, out_dir: Path | None = None) -> None:
    path = save_result(name, obj, out_dir)
    if as_json:
        print(json.dumps(obj, indent=2, ensure_ascii=False))
    else:
        print(text)
        print(f"\n(saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path})")


# --- a `newsrag serve` subprocess (the UI benchmarks and the UI tests share this) ------------------

def free_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(index_dir: Path, port: int, log_path: Path, env: dict[str, str], backend: str = "extractive",
                args: tuple[str, ...] = (), cwd: Path | None = None) -> subprocess.Popen:
    """``newsrag serve`` over ``index_dir`` on 127.0.0.1:``port``, its output in ``log_path``."""
    cmd = [sys.executable, "-m", "rag.cli", "serve", "--index", str(index_dir), "--backend", backend,
           "--port", str(port), *args]
    with open(log_path, "wb") as log:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_serving(proc: subprocess.Popen, url: str, log_path: Path, timeout: float = 300.0,
                       any_answer: bool = False) -> None:
    """Return once ``url``/config answers 200 (with ``any_answer``, any HTTP status: 401 behind auth
    means up too); raise ``RuntimeError`` with the server's log if it exits or does not come up."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"newsrag serve exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url + "/config", timeout=5) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError:
            if any_answer:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"newsrag serve did not start in {timeout:.0f} s:\n{log_path.read_text()}")
        time.sleep(0.5)


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate, then kill if it has not exited after 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
