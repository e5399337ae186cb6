"""Server mode: two app processes on one real ``chroma run`` server stay consistent.

Each app process is a small command loop (JSON lines on stdin/stdout) around ``Assistant``, with its
own empty ``RAG_INDEX_DIR``: everything they share goes through the server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SEED_FILE, stop_process

TIER = "integration"  # the tests below load the embedding model or Chroma, or run the CLI (conftest.py)

CHROMA = Path(sys.executable).with_name("chroma")

WORKER = r'''
import json, sys
from rag.api import Assistant
from rag.settings import Settings

a = Assistant(Settings(backend="extractive"))
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    try:
        op = cmd["op"]
        if op == "ingest":
            out = a.ingest(cmd["paths"]).to_contract()
        elif op == "ask":
            ans = a.ask(cmd["q"])
            out = {"refused": ans.refused, "text": ans.text, "docs": [c.doc_id for c in ans.citations]}
        elif op == "docs":
            out = {"docs": sorted(d.doc_id for d in a.documents())}
        elif op == "remove":
            out = {"removed": a.remove(cmd["ids"])}
        elif op == "check":
            out = a.check().to_contract()
        else:
            out = {"error": "unknown op"}
    except Exception as exc:  # report, keep serving
        out = {"error": f"{exc.__class__.__name__}: {exc}"}
    print(json.dumps(out), flush=True)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    import httpx

    if not CHROMA.exists():
        pytest.skip(f"{CHROMA} not installed")
    port = _free_port()
    log = open(tmp_path / "chroma.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(CHROMA), "run", "--path", str(tmp_path / "chroma-data"), "--port", str(port),
                             "--host", "127.0.0.1"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"chroma server did not start: {(tmp_path / 'chroma.log').read_text()[-2000:]}")
        time.sleep(0.3)
    yield "127.0.0.1", port
    stop_process(proc)
    log.close()


class App:
    """One app process talking JSON lines."""

    def __init__(self, tmp: Path, name: str, host: str, port: int, **env_extra: str):
        script = tmp / "worker.py"
        script.write_text(WORKER)
        env = {**os.environ, "CHROMA_HOST": host, "CHROMA_PORT": str(port),
               "RAG_INDEX_DIR": str(tmp / f"local-{name}"), "RAG_SYNC_INTERVAL_S": "0",
               "PYTHONPATH": str(ROOT), **env_extra}
        self.proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=open(tmp / f"{name}.err", "w"), text=True)
        self.err = tmp / f"{name}.err"
        assert self._read().get("ready"), self.err.read_text()[-2000:]

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"app process died: {self.err.read_text()[-3000:]}")
        return json.loads(line)

    def send(self, op: str, **kw) -> None:
        self.proc.stdin.write(json.dumps({"op": op, **kw}) + "\n")
        self.proc.stdin.flush()

    def __call__(self, op: str, **kw) -> dict:
        self.send(op, **kw)
        out = self._read()
        assert "error" not in out, out
        return out

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


HARBOUR = ("Velmora harbour reopens after storm repairs\n\n"
           "The harbour of Velmora reopened on Monday after three weeks of repairs to the storm wall. "
           "Harbour master Ilse Varnholt said 43 cargo ships had been waiting offshore for a berth. "
           "The repairs cost 12 million crowns, according to the port authority.\n")
BRIDGE = ("Lunava crossing: first-day figures\n\n"
          "Mayor Tamsin Rautio said 9,200 vehicles crossed the new Oskgrad bridge on its first day. "
          "The bridge spans the Lunava river and cost 40 million crowns.\n")
DAM = ("Water board publishes spring inspection report\n\n"
       "Inspectors found 17 cracks in the Korrin dam spillway on Wednesday, the water board said. "
       "Repairs will start in May.\n")


@pytest.mark.timeout(900)
def test_two_processes_share_one_server(chroma_server, tmp_path):
    host, port = chroma_server
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / SEED_FILE.name).write_text(SEED_FILE.read_text())
    more = tmp_path / "more"
    more.mkdir()
    (more / "harbour.txt").write_text(HARBOUR)

    a = App(tmp_path, "a", host, port)
    b = App(tmp_path, "b", host, port)
    try:
        assert b("docs")["docs"] == []
        r = a("ingest", paths=[str(docs)])
        assert r["documents_added"] == 1 and r["chunks_added"] > 3
        # B never ingested anything and has its own empty local dir: it answers from the server
        q = "How many mortar rounds landed in the U.S. Embassy compound?"
        for app in (a, b):
            ans = app("ask", q=q)
            assert not ans["refused"] and "mortar" in ans["text"] and ans["docs"], ans
        (seed_id,) = b("docs")["docs"]

        # B cannot answer about the harbour yet; once A ingests it, B can, with no restart
        hq = "How many cargo ships were waiting offshore at Velmora?"
        assert "43" not in b("ask", q=hq)["text"]
        r = a("ingest", paths=[str(more)])
        assert r["documents_added"] == 1
        ans = b("ask", q=hq)
        assert not ans["refused"] and "43" in ans["text"], ans
        assert len(b("docs")["docs"]) == 2 and ans["docs"][0] != seed_id

        # both write at once: the writer lock serialises them, nothing is lost
        d1, d2 = tmp_path / "d1", tmp_path / "d2"
        d1.mkdir(), d2.mkdir()
        (d1 / "bridge.txt").write_text(BRIDGE)
        (d2 / "dam.txt").write_text(DAM)
        a.send("ingest", paths=[str(d1)])
        b.send("ingest", paths=[str(d2)])
        ra, rb = a._read(), b._read()
        assert ra.get("documents_added") == 1 and rb.get("documents_added") == 1, (ra, rb)
        assert a("docs") == b("docs") and len(a("docs")["docs"]) == 4
        # the same file ingested by the other process is unchanged, not duplicated
        r = b("ingest", paths=[str(d1)])
        assert r["documents_added"] == 0 and r["documents_unchanged"] == 1
        assert "9,200" in a("ask", q="How many vehicles crossed the new Oskgrad bridge on the first day?")["text"]
        assert "17" in b("ask", q="How many cracks did inspectors find in the Korrin dam spillway?")["text"]

        # a removal by B disappears for A
        assert b("remove", ids=[seed_id])["removed"] == 1
        assert seed_id not in a("docs")["docs"]
        assert all(d != seed_id for d in a("ask", q=q)["docs"])
        for app in (a, b):
            rep = app("check")
            assert rep["ok"] and rep["documents"] == 3, rep
    finally:
        a.close()
        b.close()


@pytest.mark.timeout(900)
def test_writer_killed_mid_ingest_is_invisible_then_repaired(chroma_server, tmp_path):
    host, port = chroma_server
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "harbour.txt").write_text(HARBOUR)
    more = tmp_path / "more"
    more.mkdir()
    (more / SEED_FILE.name).write_text(SEED_FILE.read_text())

    a = App(tmp_path, "a", host, port)
    try:
        assert a("ingest", paths=[str(docs)])["documents_added"] == 1
        # a second process dies (SIGKILL) after its vectors went in, before its commit
        env = {**os.environ, "CHROMA_HOST": host, "CHROMA_PORT": str(port), "RAG_INDEX_DIR": str(tmp_path / "k"),
               "RAG_CRASH_AT": "bm25-saved", "RAG_LOCK_TTL_S": "5", "PYTHONPATH": str(ROOT)}
        killed = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(more)], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=600)
        assert killed.returncode == -9, killed.stderr[-2000:]
        # nothing of it is visible: same docs, and its chunks never show up in answers
        assert len(a("docs")["docs"]) == 1
        ans = a("ask", q="How many mortar rounds landed in the U.S. Embassy compound?")
        assert ans["refused"] or "mortar" not in ans["text"], ans
        rep = a("check")
        assert not rep["ok"] and any("uncommitted" in p or "not in the manifest" in p for p in rep["problems"])
        # the dead writer still "holds" the lock: the next writer waits for it to expire (5 s here),
        # takes it over, removes the dead writer's leftovers and commits its own ingest
        b = App(tmp_path, "b", host, port)
        try:
            r = b("ingest", paths=[str(more)])
            assert r["documents_added"] == 1
            rep = b("check")
            assert rep["ok"] and rep["documents"] == 2, rep
            assert "mortar" in a("ask", q="How many mortar rounds landed in the U.S. Embassy compound?")["text"]
        finally:
            b.close()
    finally:
        a.close()


def test_writer_lock_excludes_expires_and_is_taken_over(chroma_server):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from rag.index.server_meta import ServerLock, ServerMeta
    from rag.types import RagError

    host, port = chroma_server
    client = chromadb.HttpClient(host=host, port=port, settings=ChromaSettings(anonymized_telemetry=False))
    meta = ServerMeta(client, "locktest")
    a, b = ServerLock(meta, ttl_s=3), ServerLock(meta, ttl_s=3)
    with a.hold():
        with a.hold():  # re-entrant in one process
            a.check()
        with pytest.raises(RagError, match="Another newsrag process"):
            with b.hold(timeout=0.5):
                pass
        a._last_refresh = 0.0
        a.refresh()  # extends the expiry and keeps the owner
        a.check()
    with b.hold(timeout=5):  # released: b gets it at once
        b.check()
    # a holder that dies never releases; its lock expires and the next writer takes it over
    dead = ServerLock(meta, ttl_s=4)
    held = dead.hold()  # keep a reference: a collected generator would run its finally (release)
    held.__enter__()
    with pytest.raises(RagError):
        with b.hold(timeout=0.3):
            pass
    with b.hold(timeout=20):
        b.check()
        with pytest.raises(RagError, match="Lost the index writer lock"):
            dead.check()


def test_server_index_keeps_the_chunking_and_precision_it_was_built_with(chroma_server, tmp_path):
    """The server's commit record carries the chunk size and precision: a second app process configured
    otherwise chunks and embeds like the index does."""
    from rag.api import Assistant
    from rag.settings import Settings

    host, port = chroma_server
    (tmp_path / "harbour.txt").write_text(HARBOUR)
    common = {"backend": "extractive", "chroma_host": host, "chroma_port": port, "sync_interval_s": 0}
    a = Assistant(Settings(**common, index_dir=tmp_path / "a", chunk_tokens=16, embed_precision="f32"))
    a.ingest([tmp_path / "harbour.txt"])
    assert (a.index.manifest.chunk_tokens, a.index.manifest.embed_precision) == (16, "f32")
    a.close()
    b = Assistant(Settings(**common, index_dir=tmp_path / "b", chunk_tokens=254, embed_precision="default"))
    assert b.index.chunk_limit == 16 and b.index.embedder.requested_precision == "f32"
    doc = next(iter(b.index.manifest.docs.values()))
    assert len(b.index.chunks_of(doc.doc_id, doc.n_chunks)) == doc.n_chunks
    b.close()
