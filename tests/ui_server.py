"""Start the chat UI in a subprocess on a free localhost port (for the UI tests).

The server is the real ``newsrag serve`` command, so the tests cover the CLI wiring, the loopback
default and Gradio's queue exactly as a user runs them.

    with running_server(index_dir) as server:
        server.url  # http://127.0.0.1:<port>
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import free_port, start_serve, stop_process, wait_until_serving

__all__ = ["ROOT", "free_port", "build_seed_index", "running_server", "scratch_dir", "server_env"]

ROOT = Path(__file__).resolve().parent.parent
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
}


def build_seed_index(index_dir: Path) -> None:
    """A fresh index over ``seeds/`` (the extractive backend needs no model)."""
    from rag.api import Assistant
    from rag.settings import Settings

    a = Assistant(Settings(index_dir=index_dir, backend="extractive"))
    try:
        report = a.ingest([ROOT / "seeds"])
        assert report.documents_added >= 1 and not report.failed, report
    finally:
        a.close()


_SCRATCH: Path | None = None


def scratch_dir() -> Path:
    """One temporary directory per test process for server logs, Gradio temp dirs and harnesses,
    removed when the process exits (servers are stopped by then)."""
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Path(tempfile.mkdtemp(prefix="newsrag-tests-"))
        atexit.register(shutil.rmtree, _SCRATCH, True)
    return _SCRATCH


def server_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **OFFLINE_ENV, **extra}
    env["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="gradio-", dir=scratch_dir())  # each test server its own
    env.pop("RAG_AUTH", None)
    return env


@dataclass
class Server:
    url: str
    log_path: Path
    proc: subprocess.Popen

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_server(index_dir: Path, backend: str = "extractive", args: tuple[str, ...] = (),
                   timeout: float = 300.0, **env: str) -> Iterator[Server]:
    """Run ``newsrag serve`` over ``index_dir``; yields the base URL once it answers HTTP."""
    port = free_port()
    fd, name = tempfile.mkstemp(prefix="ui-", suffix=".log", dir=scratch_dir())
    os.close(fd)
    log_path = Path(name)
    url = f"http://127.0.0.1:{port}"
    proc = start_serve(index_dir, port, log_path, server_env(**env), backend=backend, args=args, cwd=ROOT)
    try:
        wait_until_serving(proc, url, log_path, timeout=timeout)
        yield Server(url, log_path, proc)
    finally:
        stop_process(proc)
        server_log = log_path.read_text(errors="replace")
        if "Traceback" in server_log:
            sys.stderr.write(f"--- UI server log ({log_path}) ---\n{server_log}\n")

