"""Reliability of the running service (issue #5): concurrent asks and chat sessions interleaved with an
ingest, network exposure (bind address, auth, uploads, no telemetry), a missing or corrupted local model,
and bounds on question length, history length and top-k — through the Python API, the CLI and the UI.

Every server here is the real ``newsrag serve`` on a free 127.0.0.1 port; nothing ever connects elsewhere.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from ui_server import ROOT, free_port, scratch_dir, server_env

from bench.common import start_serve, stop_process, wait_until_serving
from rag.types import RagError

TIER = "integration"  # the tests below load the embedding model or Chroma, or run the CLI (conftest.py)

# ---------------------------------------------------------------------------- a corpus of look-alikes
# Sixteen articles that differ only in names and numbers: any cross-talk between concurrent requests or
# sessions shows up as another bridge's number or mayor in an answer.
_SYL = ["quor", "vel", "dra", "mon", "thes", "kar", "lin", "obu", "zer", "pha", "gul", "trim", "yas", "bro",
        "nep", "sil"]
_FIRST = ["Ansel", "Berit", "Cosmo", "Dagny", "Emrys", "Freya", "Gideon", "Hester", "Ivo", "Juno", "Kasimir",
          "Liesel", "Magnus", "Nell", "Oswin", "Petra"]


def bridge(i: int) -> dict:
    name = (_SYL[i] + _SYL[(i * 5 + 3) % 16]).capitalize()
    return {"name": name, "mayor": f"{_FIRST[i]} {(_SYL[(i * 3 + 1) % 16] + 'ström').capitalize()}",
            "cables": str(100 + i * 17), "file": f"b{i:02d}.txt",
            "q1": f"How many steel cables did engineers replace on the {name} bridge?",
            "q2": "Who thanked the crews there?"}


def ferry(i: int) -> dict:
    name = (_SYL[(i * 7 + 2) % 16] + _SYL[(i * 3 + 5) % 16] + "a").capitalize()
    return {"name": name, "passengers": str(1000 + i * 37), "file": f"f{i:02d}.txt",
            "q": f"How many passengers did the {name} ferry carry?"}


BRIDGES = [bridge(i) for i in range(16)]
FERRIES = [ferry(i) for i in range(16)]


def bridge_text(b: dict, i: int) -> str:
    return (f"{b['name']} bridge reopens\n\nThe {b['name']} bridge reopened on Monday after {3 + i} months of "
            f"repairs. Engineers replaced {b['cables']} steel cables on the {b['name']} bridge.\n\n"
            f"The mayor of {b['name']}, {b['mayor']}, thanked the crews at a ceremony.\n")


def ferry_text(f: dict) -> str:
    return (f"{f['name']} ferry sets a record\n\nThe {f['name']} ferry carried {f['passengers']} passengers "
            f"on its first winter crossing, the port authority said. The crossing took four hours.\n")


def write_bridges(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for i, b in enumerate(BRIDGES):
        (d / b["file"]).write_text(bridge_text(b, i))


def write_ferries(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for f in FERRIES:
        (d / f["file"]).write_text(ferry_text(f))


@pytest.fixture(scope="module")
def bridges_index(tmp_path_factory) -> Path:
    from chromadb.api.client import SharedSystemClient

    from rag.api import Assistant
    from rag.settings import Settings

    root = tmp_path_factory.mktemp("bridges")
    write_bridges(root / "corpus")
    a = Assistant(Settings(index_dir=root / "index", backend="extractive"))
    report = a.ingest([root / "corpus"])
    assert report.documents_added == 16 and not report.failed
    a.close()
    SharedSystemClient.clear_system_cache()
    return root / "index"


def copy_index(src: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(src, dest)
    return dest


def doc_ids_by_file(assistant) -> dict[str, str]:
    return {Path(d.path).name: d.doc_id for d in assistant.index.manifest.docs.values()}


def assert_cited_answer(assistant, ans, expect: str, doc_id: str, others: list[str]) -> None:
    """Answered, the expected fact is in the text, the first citation is the right article and quotes it
    verbatim at its offsets, and no other article's distinguishing fact leaked in."""
    assert not ans.refused, ans.text
    assert expect in ans.text, (expect, ans.text)
    assert ans.citations and ans.citations[0].doc_id == doc_id, (ans.text, [c.title for c in ans.citations])
    for c in ans.citations:
        assert assistant.article(c.doc_id).text[c.start:c.end] == c.quote
    for o in others:
        assert o not in ans.text, (o, ans.text)


# ---------------------------------------------------------------------------- concurrency: Python API
def test_16_concurrent_asks_interleaved_with_an_ingest(bridges_index, tmp_path):
    """16 threads on one cold Assistant (8 one-off asks, 8 two-turn conversations) while a 17th thread
    ingests 16 new articles; every answer right and cited, no error, index consistent afterwards."""
    from rag.api import Assistant
    from rag.settings import Settings

    a = Assistant(Settings(index_dir=copy_index(bridges_index, tmp_path / "index"), backend="extractive"))
    write_ferries(tmp_path / "new")
    start = threading.Barrier(17)
    results: dict[int, list] = {}
    errors: list[BaseException] = []
    ingest_report = []

    def asker(i: int) -> None:
        try:
            start.wait()
            b = BRIDGES[i]
            if i % 2:
                results[i] = [a.ask(b["q1"])]
            else:
                chat = a.chat()
                results[i] = [chat.ask(b["q1"]), chat.ask(b["q2"])]
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def ingester() -> None:
        try:
            start.wait()
            ingest_report.append(a.ingest([tmp_path / "new"]))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=asker, args=(i,)) for i in range(16)]
    threads.append(threading.Thread(target=ingester))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    try:
        assert not errors, errors
        assert len(results) == 16
        ids = doc_ids_by_file(a)
        for i, answers in results.items():
            b = BRIDGES[i]
            others = [o["cables"] for o in BRIDGES if o is not b]
            assert answers[0].question == b["q1"]
            assert_cited_answer(a, answers[0], b["cables"], ids[b["file"]], others)
            if len(answers) == 2:  # the follow-up was resolved against this thread's own conversation
                assert_cited_answer(a, answers[1], b["mayor"], ids[b["file"]],
                                    [o["mayor"] for o in BRIDGES if o is not b])
        (report,) = ingest_report
        assert report.documents_added == 16 and not report.failed
        rep = a.index.check()
        assert rep.ok and rep.documents == 32, rep.problems
        for f in FERRIES[:4]:  # what the concurrent ingest added is answerable
            assert_cited_answer(a, a.ask(f["q"]), f["passengers"], ids[f["file"]], [])
    finally:
        a.close()


@pytest.mark.slow
def test_4_concurrent_asks_with_the_local_model(bridges_index, tmp_path):
    """Four simultaneous questions to the real GGUF model (one shared llama.cpp server, parallel slots)."""
    from rag.api import Assistant
    from rag.models import model_path
    from rag.settings import Settings

    settings = Settings(index_dir=copy_index(bridges_index, tmp_path / "index"), backend="local",
                        local_model="qwen2.5-coder-0.5b")
    assert model_path("qwen2.5-coder-0.5b", settings.model_dir).is_file(), "run `make test-models`"
    a = Assistant(settings)
    picks = [0, 5, 10, 15]
    answers: dict[int, object] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(picks))

    def asker(i: int) -> None:
        try:
            start.wait()
            answers[i] = a.ask(BRIDGES[i]["q1"])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=asker, args=(i,)) for i in picks]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=900)
        assert not errors, errors
        ids = doc_ids_by_file(a)
        for i in picks:
            b = BRIDGES[i]
            assert answers[i].backend == "local"
            assert_cited_answer(a, answers[i], b["cables"], ids[b["file"]],
                                [o["cables"] for o in BRIDGES if o is not b])
    finally:
        a.close()


# ---------------------------------------------------------------------------- the UI server
SITECUSTOMIZE = '''
"""Test harness: any connect/sendto/lookup of a non-loopback address is logged and refused."""
import ipaddress, json, os, socket, traceback

_LOG = os.environ["NEWSRAG_NET_LOG"]


def _loopback(host):
    host = str(host).split("%")[0].strip("[]")
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse(kind, target):
    with open(_LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"kind": kind, "target": repr(target), "pid": os.getpid(),
                             "stack": traceback.format_stack()}) + "\\n")
    raise ConnectionRefusedError(f"newsrag test harness: {kind} to non-loopback {target!r} refused")


_connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
_getaddrinfo = socket.getaddrinfo


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _refuse("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _refuse("connect_ex", address)
    return _connect_ex(self, address)


def sendto(self, data, *args):
    address = args[-1]
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        _refuse("sendto", address)
    return _sendto(self, data, *args)


def getaddrinfo(host, *args, **kwargs):
    if host not in (None, "", b"") and not _loopback(host.decode() if isinstance(host, bytes) else host) \\
            and host not in ("0.0.0.0", "::"):
        _refuse("getaddrinfo", host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
socket.getaddrinfo = getaddrinfo
'''


class ConnectionSampler:
    """Samples the sockets of a process tree (psutil) and keeps every one that is not loopback."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.bad: list[str] = []
        self.listening: set[str] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _loopback(ip: str) -> bool:
        import ipaddress

        try:
            return ipaddress.ip_address(ip.split("%")[0]).is_loopback
        except ValueError:
            return False

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for p in procs:
            try:
                conns = p.net_connections(kind="inet")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            for c in conns:
                if c.status == psutil.CONN_LISTEN:
                    self.listening.add(c.laddr.ip)
                elif c.raddr and not self._loopback(c.raddr.ip):
                    self.bad.append(f"pid {p.pid}: {c.laddr} -> {c.raddr} ({c.status})")
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.sample()

    def start(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@contextmanager
def serve(index_dir: Path, args: tuple[str, ...] = (), timeout: float = 300.0, **env: str) -> Iterator[dict]:
    """``newsrag serve`` with the no-telemetry harness; ready once any HTTP answer comes (401 included)."""
    port = free_port()
    harness = Path(tempfile.mkdtemp(prefix="net-", dir=scratch_dir()))
    (harness / "sitecustomize.py").write_text(SITECUSTOMIZE)
    net_log = harness / "net.log"
    net_log.touch()
    log_path = harness / "server.log"
    full_env = server_env(PYTHONPATH=os.pathsep.join([str(harness), str(ROOT)]), NEWSRAG_NET_LOG=str(net_log),
                          **env)
    proc = start_serve(index_dir, port, log_path, full_env, args=args, cwd=ROOT)
    sampler = ConnectionSampler(proc.pid).start()  # from the first moment: start-up must not call home
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, url, log_path, timeout=timeout, any_answer=True)
        yield {"url": url, "proc": proc, "sampler": sampler, "net_log": net_log, "log": log_path,
               "index": index_dir}
    finally:
        sampler.stop()
        stop_process(proc)


def net_refusals(srv: dict) -> list[dict]:
    return [json.loads(ln) for ln in srv["net_log"].read_text().splitlines() if ln.strip()]


UPLOAD_CAP_MB = 1  # integral: a fractional cap crashes `serve` (test_fractional_upload_cap_...)


@pytest.fixture(scope="module")
def ui(bridges_index, tmp_path_factory):
    """One server over a copy of the bridges index for the UI tests; its sockets are watched throughout.
    Its cache directory starts empty, as on a new machine: one-time work (the embedding model's OpenVINO
    conversion) happens under the harness too."""
    root = tmp_path_factory.mktemp("ui")
    index = copy_index(bridges_index, root / "index")
    with serve(index, RAG_MAX_UPLOAD_MB=str(UPLOAD_CAP_MB), RAG_CACHE_DIR=str(root / "cache")) as srv:
        yield srv
    # Gradio logs a traceback for every gr.Error (our readable refusals, its own slider bound): fine; any
    # other exception is a crash
    server_log = srv["log"].read_text(errors="replace")
    for block in server_log.split("Traceback (most recent call last):")[1:]:
        last = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith((" ", "\t"))][0]
        assert last.startswith("gradio.exceptions.Error: "), block


class UISession:
    """One browser-like session over gradio_client: the chat events the page fires (private in the API
    listing, so the client is told they are callable), with this session's state kept by the server."""

    TAKE, RESPOND, UPLOAD = 0, 1, 15

    def __init__(self, url: str, **kw):
        from gradio_client import Client

        self.client = Client(url, verbose=False, **kw)
        deps = self.client.config["dependencies"]
        assert deps[self.TAKE]["api_name"] == "take_question" and deps[self.RESPOND]["api_name"] == "respond"
        assert deps[self.UPLOAD]["api_name"] == "upload"
        for i in (self.TAKE, self.RESPOND, self.UPLOAD):
            self.client.endpoints[i].is_valid = True

    def ask(self, question: str, k: float = 5) -> str:
        """The conversation HTML after the answer (question box submit, then the streamed answer)."""
        self.client.predict(question, fn_index=self.TAKE)
        return self.client.submit("extractive", None, k, [], "", "", fn_index=self.RESPOND).result()

    def upload(self, paths: list[Path]) -> str:
        from gradio_client import handle_file

        out = self.client.predict([handle_file(str(p)) for p in paths], fn_index=self.UPLOAD)
        return out[0] if isinstance(out, (list, tuple)) else out


def bot_turns(conv_html: str) -> list[str]:
    """The text of each answer (or error) in a rendered conversation, in order."""
    out = []
    for part in conv_html.split('<div class="nr-msg nr-bot"')[1:]:
        m = re.search(r'<div class="nr-(?:answer|error)[^"]*"[^>]*>(.*?)</div>', part, re.S)
        out.append(html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip() if m else "")
    return out


def user_turns(conv_html: str) -> list[str]:
    return [html.unescape(q) for q in re.findall(r'<div class="nr-bubble">(.*?)</div>', conv_html, re.S)]


# ---------------------------------------------------------------------------- concurrency: the UI
def test_8_concurrent_chat_sessions_interleaved_with_an_upload(ui, tmp_path):
    """Eight sessions, each a two-turn conversation about its own bridge, while a ninth uploads articles:
    every session sees only its own turns, every answer is right and cited."""
    write_ferries(tmp_path / "up")
    files = sorted((tmp_path / "up").glob("*.txt"))[:4]
    picks = [1, 3, 4, 6, 9, 11, 12, 14]
    start = threading.Barrier(len(picks) + 1)
    convs: dict[int, tuple[str, str]] = {}
    errors: list[BaseException] = []
    uploaded: list[str] = []

    def session(i: int) -> None:
        try:
            s = UISession(ui["url"])
            start.wait()
            first = s.ask(BRIDGES[i]["q1"])
            convs[i] = (first, s.ask(BRIDGES[i]["q2"]))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def uploader() -> None:
        try:
            s = UISession(ui["url"])
            start.wait()
            uploaded.append(s.upload(files))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(i,)) for i in picks] + [threading.Thread(target=uploader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    assert not errors, errors
    for i in picks:
        b = BRIDGES[i]
        first, second = convs[i]
        assert user_turns(first) == [b["q1"]] and user_turns(second) == [b["q1"], b["q2"]]
        a1, a2 = bot_turns(second)
        assert bot_turns(first) == [a1]
        assert b["cables"] in a1 and b["mayor"] in a2, (a1, a2)
        for o in BRIDGES:
            if o is not b:
                assert o["cables"] not in a1 and o["mayor"] not in a2 and o["name"] not in second
        assert second.count('class="nr-cite"') >= 2 and "nr-error" not in second  # both answers cite
    (results,) = uploaded
    assert results.count("nr-res-ok") == len(files), results
    from gradio_client import Client

    c = Client(ui["url"], verbose=False)
    out = c.predict(FERRIES[2]["q"], api_name="/ask")
    assert not out["refused"] and FERRIES[2]["passengers"] in out["answer"] and out["citations"]


# ---------------------------------------------------------------------------- network exposure
def test_uploads_are_capped_and_stored_under_safe_names(ui, tmp_path):
    """Through the server's HTTP API: Gradio refuses a file over the cap (413) before it is written; an
    accepted file with a hostile name lands in <index>/uploads/ under a sanitised name."""
    big = tmp_path / "big.txt"
    big.write_bytes(b"The harbour of Osk reopened on Monday. " * int(UPLOAD_CAP_MB * 1024 * 1024 / 39 + 100))
    boundary = "newsragboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.txt\"\r\n"
            "Content-Type: text/plain\r\n\r\n").encode() + big.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(ui["url"] + "/gradio_api/upload", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=60)
    assert err.value.code == 413

    hostile = tmp_path / "..  évil name;rm -rf ~ $(id).txt"
    hostile.write_text(ferry_text(FERRIES[9]))
    results = UISession(ui["url"]).upload([hostile])
    assert "nr-res-ok" in results and "nr-res-fail" not in results, results
    uploads = Path(ui["index"]) / "uploads"
    names = sorted(p.name for p in uploads.iterdir())
    assert names and all(re.fullmatch(r"[A-Za-z0-9_-]+\.[a-z0-9]+", n) for n in names), names
    assert str(tmp_path) not in results and str(uploads) not in results  # no server paths shown


def test_no_socket_to_a_non_loopback_address(ui, tmp_path):
    """A full session — page load in Chromium, /ask, a chat turn, an upload (plus whatever the other UI
    tests did on this server): the server never connects, sends or resolves anything off loopback, and
    only ever listens on 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    external: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("NEWSRAG_CHROMIUM", "/usr/bin/chromium"),
                                     headless=True, args=["--no-sandbox", "--disable-gpu",
                                                          "--disable-background-networking",
                                                          "--disable-component-update"])
        page = browser.new_page()

        def route(r) -> None:
            host = re.sub(r"^\w+://([^/:]+).*$", r"\1", r.request.url)
            if r.request.url.startswith(("http", "ws")) and host not in ("127.0.0.1", "localhost"):
                external.append(r.request.url)
                r.abort()
            else:
                r.continue_()

        page.route("**/*", route)
        page.goto(ui["url"], wait_until="domcontentloaded")
        page.wait_for_selector("#nr-header", timeout=120_000)
        browser.close()
    from gradio_client import Client

    assert not Client(ui["url"], verbose=False).predict(BRIDGES[7]["q1"], api_name="/ask")["refused"]
    conv = UISession(ui["url"]).ask(BRIDGES[8]["q1"])
    assert BRIDGES[8]["cables"] in bot_turns(conv)[0]
    note = tmp_path / "note.txt"
    note.write_text(ferry_text(FERRIES[11]))
    assert "nr-res-ok" in UISession(ui["url"]).upload([note])
    sampler = ui["sampler"]
    sampler.sample()
    assert sampler.samples > 10
    assert external == [], external
    assert sampler.bad == [], sampler.bad
    assert sampler.listening == {"127.0.0.1"}, sampler.listening
    refusals = net_refusals(ui)
    assert refusals == [], "\n".join(f"{r['kind']} {r['target']}\n{''.join(r['stack'])}" for r in refusals)


def test_fractional_upload_cap_is_accepted_by_gradio():
    """RAG_MAX_UPLOAD_MB=0.2 used to crash `newsrag serve` with a traceback: "0.2mb" is no size to
    Gradio's parser (ValueError: Invalid file size unit: .2MB)."""
    from gradio.utils import _parse_file_size

    from rag.settings import Settings
    from rag.ui import launch_options

    for mb in (0.2, 1.5, 20):
        size = _parse_file_size(launch_options(Settings(max_upload_mb=mb))["max_file_size"])
        assert abs(size - mb * 1024 * 1024) <= 1024, (mb, size)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_public_bind_without_auth_is_refused(tmp_path, how):
    """`--host 0.0.0.0` (covered in test_ui_api) and RAG_HOST=:: from the environment alike."""
    args = ["--host", "0.0.0.0"] if how == "flag" else []
    env = server_env(**({"RAG_HOST": "::"} if how == "env" else {}))
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--index", str(tmp_path / "index"),
                           "--backend", "extractive", "--port", str(free_port()), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "without a password" in proc.stderr and "--auth" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "index").exists()  # refused before anything was opened


def test_public_bind_with_auth_requires_the_password(bridges_index, tmp_path):
    """With --auth the server binds 0.0.0.0 (reached here only through 127.0.0.1) and answers only a
    client that logs in."""
    from gradio_client import Client

    index = copy_index(bridges_index, tmp_path / "index")
    with serve(index, args=("--host", "0.0.0.0", "--auth", "ann:s3cret-pw")) as srv:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(srv["url"] + "/config", timeout=30)
        assert err.value.code in (401, 403)
        with pytest.raises(Exception) as denied:  # noqa: B017 - gradio_client raises its own types
            Client(srv["url"], auth=("ann", "wrong"), verbose=False)
        assert "Traceback" not in str(denied.value)
        c = Client(srv["url"], auth=("ann", "s3cret-pw"), verbose=False)
        out = c.predict(BRIDGES[2]["q1"], api_name="/ask")
        assert BRIDGES[2]["cables"] in out["answer"] and out["citations"]
        srv["sampler"].sample()
        assert srv["sampler"].listening == {"0.0.0.0"}
        assert srv["sampler"].bad == [] and net_refusals(srv) == []


# ---------------------------------------------------------------------------- model integrity
def _cli(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=ROOT, env=server_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def test_missing_local_model_is_a_clear_error_through_api_and_cli(bridges_index, tmp_path):
    from rag.api import Assistant
    from rag.settings import Settings
    from rag.types import ModelNotInstalledError

    empty = tmp_path / "no-models"
    empty.mkdir()
    a = Assistant(Settings(index_dir=bridges_index, backend="extractive", model_dir=empty))
    try:
        with pytest.raises(ModelNotInstalledError) as exc:
            a.ask(BRIDGES[0]["q1"], backend="local")
        msg = str(exc.value)
        assert "python -m rag.models install qwen2.5-coder-1.5b" in msg and "--backend extractive" in msg
        # the same assistant still answers with the extractive backend
        assert BRIDGES[0]["cables"] in a.ask(BRIDGES[0]["q1"]).text
    finally:
        a.close()
    proc = _cli("ask", BRIDGES[0]["q1"], "--backend", "local", "--index", str(bridges_index),
                RAG_MODEL_DIR=str(empty))
    assert proc.returncode == 2
    assert "python -m rag.models install qwen2.5-coder-1.5b" in proc.stderr and "Traceback" not in proc.stderr


def test_corrupted_local_model_is_refused_through_api_and_cli(bridges_index, tmp_path):
    """A registered model file of the right size but other bytes: refused by its sha256 before loading."""
    from rag import models
    from rag.api import Assistant
    from rag.settings import Settings

    spec = models.REGISTRY["smollm2-135m"]
    d = tmp_path / "models"
    d.mkdir()
    fake = d / spec.filename
    with open(fake, "wb") as fh:  # sparse: right size, zero bytes after the magic
        fh.write(b"GGUF")
        fh.truncate(spec.size)
    a = Assistant(Settings(index_dir=bridges_index, backend="extractive", model_dir=d,
                           local_model="smollm2-135m"))
    try:
        with pytest.raises(RagError) as exc:
            a.ask(BRIDGES[0]["q1"], backend="local")
        assert "sha256" in str(exc.value) and "install smollm2-135m" in str(exc.value)
    finally:
        a.close()
    proc = _cli("ask", BRIDGES[0]["q1"], "--backend", "local", "--model", "smollm2-135m", "--index",
                str(bridges_index), RAG_MODEL_DIR=str(d))
    assert proc.returncode == 2 and "sha256" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------- resource bounds
def test_api_bounds_question_history_and_top_k(bridges_index):
    from rag.api import Assistant
    from rag.settings import Settings

    a = Assistant(Settings(index_dir=bridges_index, backend="extractive"))
    try:
        limit = a.settings.max_question_chars
        for q in ("why " * 250_000, "x" * (limit + 1)):
            with pytest.raises(RagError, match=f"limit is {limit}"):
                a.ask(q)
        with pytest.raises(RagError, match="empty"):
            a.ask(" \n\t " * 1000)
        # 10,000 turns about other bridges, garbage entries among them, then this conversation's last turn
        b = BRIDGES[5]
        history: list = []
        for n in range(10_000):
            o = BRIDGES[n % 16]
            history += [("user", o["q1"]), ("assistant", f"Engineers replaced {o['cables']} cables. " * 20)]
            if n % 1000 == 0:
                history += [None, 42, {"role": "user"}, ("user",), ["assistant", 3], {"content": ["x"]}]
        history += [("user", b["q1"]), ("assistant", f"Engineers replaced {b['cables']} steel cables.")]
        ans = a.ask(b["q2"], history=history)
        assert b["mayor"] in ans.text and ans.citations, ans.text
        hits = a.search(b["q1"], k=10_000)
        assert 16 >= len(hits) >= 1 and len(hits) <= a.settings.max_top_k
        ans = a.ask(b["q1"], k=10_000)
        assert b["cables"] in ans.text
        for k in (0, -5, 10**12):
            assert a.search(b["q1"], k=k), k
    finally:
        a.close()


def test_cli_bounds_question_and_top_k(bridges_index):
    proc = _cli("ask", "why " * 25_000, "--backend", "extractive", "--index", str(bridges_index))
    assert proc.returncode == 2 and "limit is 2000" in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli("search", BRIDGES[3]["q1"], "--k", "10000", "--json", "--index", str(bridges_index))
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert 1 <= len(hits) <= 16 and BRIDGES[3]["cables"] in hits[0]["text"]
    proc = _cli("ask", BRIDGES[3]["q1"], "--k", "10000", "--json", "--backend", "extractive", "--index",
                str(bridges_index))
    assert proc.returncode == 0 and BRIDGES[3]["cables"] in json.loads(proc.stdout)["answer"], proc.stderr


def test_ui_bounds_question_history_and_top_k(ui, bridges_index):
    """/ask and the chat: a 1 MB question is refused with the limit, a top-k of 10,000 is rejected by the
    slider, a 10,000-turn conversation is cut to the last turns; the server keeps serving."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    c = Client(ui["url"], verbose=False)
    with pytest.raises(AppError) as err:
        c.predict("why " * 250_000, api_name="/ask")
    assert "limit is 2000" in str(err.value) and "Traceback" not in str(err.value)
    s = UISession(ui["url"])
    conv = s.ask("x" * 1_000_000)
    assert "limit is 2000" in bot_turns(conv)[-1]
    with pytest.raises(AppError, match="greater than maximum value 20"):  # the top-k slider's own bound
        s.ask(BRIDGES[10]["q1"], k=10_000)
    conv = s.ask(BRIDGES[10]["q1"], k=20)
    assert BRIDGES[10]["cables"] in bot_turns(conv)[-1], bot_turns(conv)
    assert c.predict(BRIDGES[4]["q1"], api_name="/ask")["citations"]

    from rag.answer.chain import normalise_history
    from rag.api import Assistant
    from rag.settings import Settings
    from rag.types import Answer
    from rag.ui import MAX_TURNS, Answerer, Turn, answer_turn

    a = Assistant(Settings(index_dir=bridges_index, backend="extractive"))
    try:
        turns = [Turn(question=BRIDGES[n % 16]["q1"], status="done",
                      answer=Answer(question="q", refused=False, text=f"{BRIDGES[n % 16]['cables']} cables."))
                 for n in range(10_000)]
        turns.append(Turn(question=BRIDGES[13]["q1"], status="done",
                          answer=Answer(question="q", refused=False, text=f"{BRIDGES[13]['cables']} steel cables.")))
        final = list(answer_turn(Answerer(a), BRIDGES[13]["q2"], turns, "extractive", "", 5))[-1]
        assert len(final) == MAX_TURNS and final[-1].status == "done"
        assert BRIDGES[13]["mayor"] in final[-1].answer.text
        assert len(normalise_history([("user", "q")] * 20_000, a.settings.max_history_turns)) == \
            2 * a.settings.max_history_turns
    finally:
        a.close()
