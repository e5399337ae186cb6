"""Server mode with the Chroma server on another machine: the app reaches a real ``chroma run`` through a real
TLS reverse proxy (nginx, from Debian's ``nginx-light``) that lets through only requests carrying the bearer
token. ``chroma run`` has no authentication or TLS of its own; this is docs/scaling.md's recipe, on loopback.

Certificates are made here with ``openssl``: a throwaway CA and a server certificate for 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SEED_FILE, stop_process
from test_server_mode import _free_port

from rag.types import RagError

TIER = "integration"  # a real Chroma server, a real proxy, the embedding model

CHROMA = Path(sys.executable).with_name("chroma")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TOKEN = "t0ken-for-the-proxy"


def _certificates(d: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(args, cwd=d, check=True, capture_output=True)

    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=newsrag test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")


def _nginx_conf(d: Path, port: int, upstream: int) -> str:
    temp = " ".join(f"{kind}_temp_path {d / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {d / "nginx.pid"};
error_log {d / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
  access_log {d / "access.log"};
  {temp}
  client_max_body_size 0;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {d / "server.pem"};
    ssl_certificate_key {d / "server.key"};
    location / {{
      if ($http_authorization != "Bearer {TOKEN}") {{ return 401; }}
      proxy_pass http://127.0.0.1:{upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "";
    }}
  }}
}}
"""


@pytest.fixture
def tls_proxy(tmp_path):
    """(port, CA file, proxy directory): nginx with TLS and the token check in front of a fresh ``chroma run``."""
    import httpx

    assert Path(NGINX).exists(), "nginx is missing: `make system-deps` installs Debian's nginx-light"
    assert CHROMA.exists(), f"{CHROMA} is missing: `make setup` installs chromadb"
    d = tmp_path / "proxy"
    d.mkdir()
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (d / kind).mkdir()
    _certificates(d)
    upstream, port = _free_port(), _free_port()
    chroma_log = open(d / "chroma.log", "w")  # noqa: SIM115 - closed below
    chroma = subprocess.Popen([str(CHROMA), "run", "--path", str(tmp_path / "chroma-data"), "--port",
                               str(upstream), "--host", "127.0.0.1"], stdout=chroma_log, stderr=subprocess.STDOUT)
    (d / "nginx.conf").write_text(_nginx_conf(d, port, upstream))
    nginx = subprocess.Popen([NGINX, "-p", str(d), "-c", str(d / "nginx.conf"), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=open(d / "nginx.err", "w"))  # noqa: SIM115
    deadline = time.monotonic() + 90
    while True:
        try:
            r = httpx.get(f"https://127.0.0.1:{port}/api/v2/heartbeat", verify=str(d / "ca.pem"),
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=2)
            if r.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if chroma.poll() is not None or nginx.poll() is not None or time.monotonic() > deadline:
            stop_process(chroma)
            stop_process(nginx)
            pytest.fail("chroma or nginx did not start: " + (d / "chroma.log").read_text()[-1500:]
                        + (d / "nginx.err").read_text()[-1500:])
        time.sleep(0.3)
    yield port, d / "ca.pem", d
    stop_process(nginx)
    stop_process(chroma)
    chroma_log.close()


def _settings(tmp_path, port: int, name: str, **kw):
    from rag.settings import Settings

    base = {"backend": "extractive", "index_dir": tmp_path / name, "chroma_host": "127.0.0.1", "chroma_port": port,
            "chroma_ssl": True, "chroma_token": TOKEN}
    return Settings(**{**base, **kw})


def test_two_apps_share_an_index_through_the_tls_proxy_with_a_token(tls_proxy, tmp_path):
    from rag.api import Assistant

    port, ca, d = tls_proxy
    writer = Assistant(_settings(tmp_path, port, "app1", chroma_ca_file=ca))
    report = writer.ingest([SEED_FILE])
    assert report.documents_added == 1 and not report.failed
    reader = Assistant(_settings(tmp_path, port, "app2", chroma_ca_file=ca))  # its own empty index dir
    ans = reader.ask("How many mortar rounds landed in the embassy compound?")
    assert not ans.refused and "seven" in ans.text.lower()
    assert ans.citations and ans.citations[0].doc_id == report_doc(writer)
    assert reader.check().ok
    # every call went through the proxy, over TLS, with the token: nothing was refused there
    log = (d / "access.log").read_text().splitlines()
    assert sum('"POST /api/v2/' in ln and '" 200 ' in ln for ln in log) >= 3
    assert not [ln for ln in log if '" 401 ' in ln]


def report_doc(assistant) -> str:
    docs = assistant.documents()
    assert len(docs) == 1
    return docs[0].doc_id


@pytest.mark.parametrize("case", ["wrong token", "no token"])
def test_a_refused_token_names_the_setting(tls_proxy, tmp_path, case):
    from rag.api import Assistant

    port, ca, d = tls_proxy
    token = {"wrong token": "not-the-token", "no token": None}[case]
    with pytest.raises(RagError) as err:
        Assistant(_settings(tmp_path, port, "app", chroma_ca_file=ca, chroma_token=token)).ingest([SEED_FILE])
    msg = str(err.value)
    assert "RAG_CHROMA_TOKEN" in msg and f"https://127.0.0.1:{port}" in msg
    assert "not-the-token" not in msg and "<html>" not in msg  # no secret echoed, no HTML page
    assert ("which is not set" in msg) == (token is None)
    assert '" 401 ' in (d / "access.log").read_text()  # the proxy refused it, not the client


def test_an_untrusted_certificate_names_the_ca_setting(tls_proxy, tmp_path):
    from rag.api import Assistant

    port, _, _ = tls_proxy
    with pytest.raises(RagError, match="RAG_CHROMA_CA_FILE"):
        Assistant(_settings(tmp_path, port, "app")).ingest([SEED_FILE])  # the system's CAs do not know ours


def test_plain_http_to_the_tls_port_names_the_ssl_setting(tls_proxy, tmp_path):
    from rag.api import Assistant

    port, ca, _ = tls_proxy
    with pytest.raises(RagError, match="RAG_CHROMA_SSL=0 may not match"):
        Assistant(_settings(tmp_path, port, "app", chroma_ssl=False, chroma_ca_file=ca)).ingest([SEED_FILE])


def test_a_missing_ca_file_is_named_before_connecting(tmp_path):
    from rag.index.chroma_store import make_client

    with pytest.raises(RagError, match=r"RAG_CHROMA_CA_FILE=.*no such file"):
        make_client(_settings(tmp_path, 1, "app", chroma_ca_file=tmp_path / "missing.pem"))


def test_a_token_in_clear_text_to_another_host_is_warned(tmp_path, caplog, monkeypatch):
    import logging

    import chromadb

    from rag.index.chroma_store import make_client

    monkeypatch.setattr(chromadb, "HttpClient", lambda **kw: kw)  # no network: what the client is given
    caplog.set_level(logging.WARNING, logger="rag.index.chroma_store")
    kw = make_client(_settings(tmp_path, 8000, "app", chroma_host="10.0.0.5", chroma_ssl=False))
    assert "RAG_CHROMA_TOKEN is sent in clear text to 10.0.0.5" in caplog.text and TOKEN not in caplog.text
    assert kw["headers"] == {"Authorization": f"Bearer {TOKEN}"} and kw["ssl"] is False
    for host, ssl in (("127.0.0.1", False), ("localhost", False), ("10.0.0.5", True)):
        caplog.clear()
        make_client(_settings(tmp_path, 8000, "app", chroma_host=host, chroma_ssl=ssl))
        assert "clear text" not in caplog.text, (host, ssl)
