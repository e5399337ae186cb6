"""The UI without a browser: the ``/ask`` endpoint through ``gradio_client``, the serve guards,
upload sanitising, the conversation handler, and the HTML renderers' escaping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ui_server import ROOT, build_seed_index, running_server, server_env

TIER = "integration"  # the tests below load the embedding model or Chroma, or run the CLI (conftest.py)

MORTAR = "How many mortar rounds landed in the U.S. Embassy compound?"
# the DESIGN.md contract, plus "origin" (who produced the answer; fields are added, never renamed)
CONTRACT_KEYS = {"question", "answer", "refused", "citations", "timings", "origin", "refusal_reason"}
CITATION_KEYS = {"n", "doc_id", "title", "source", "url", "published", "text", "quote", "start", "end"}
TIMING_KEYS = {"retrieve_ms", "generate_ms", "verify_ms", "total_ms"}


# ---------------------------------------------------------------------------- /ask over HTTP
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    index = tmp_path_factory.mktemp("ui-api") / "index"
    build_seed_index(index)
    with running_server(index) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


def test_ask_endpoint_returns_the_cli_contract(client):
    out = client.predict(MORTAR, api_name="/ask")
    assert set(out) == CONTRACT_KEYS
    assert out["question"] == MORTAR
    assert out["refused"] is False
    assert "[1]" in out["answer"]
    assert set(out["timings"]) == TIMING_KEYS
    assert out["timings"]["total_ms"] > 0
    assert out["citations"], out
    for c in out["citations"]:
        assert set(c) == CITATION_KEYS
        assert c["quote"] and c["quote"] in c["text"]
        assert c["end"] - c["start"] == len(c["quote"])
    assert "mortar" in out["citations"][0]["quote"].lower()


def test_ask_endpoint_matches_the_cli_json(client, server, tmp_path):
    """Same object as `newsrag ask --json` on the same index (timings aside)."""
    import json

    index = server.proc.args[server.proc.args.index("--index") + 1]
    cli = subprocess.run([sys.executable, "-m", "rag.cli", "ask", MORTAR, "--json", "--index", index,
                          "--backend", "extractive"], cwd=ROOT, env=server_env(), capture_output=True,
                         text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr
    want = json.loads(cli.stdout)
    got = client.predict(MORTAR, api_name="/ask")
    want.pop("timings"), got.pop("timings")
    assert got == want


def test_ask_endpoint_refusal_and_errors(client):
    from gradio_client.exceptions import AppError

    out = client.predict("What is the name of the US ambassador to Iraq?", api_name="/ask")
    assert out["refused"] is True
    assert out["answer"].startswith("The articles don't say")
    assert out["citations"] == []
    assert out["refusal_reason"]["kind"] in ("not_mentioned", "unlikely") and out["refusal_reason"]["text"]
    with pytest.raises(AppError) as err:
        client.predict("   ", api_name="/ask")
    assert "empty" in str(err.value)
    assert "Traceback" not in str(err.value)


def test_only_ask_is_in_the_public_api(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert list(api["named_endpoints"]) == ["/ask"]
    assert api["unnamed_endpoints"] == {}


# ---------------------------------------------------------------------------- serve guards
def test_non_loopback_bind_without_auth_is_refused():
    from rag.settings import Settings
    from rag.types import RagError
    from rag.ui import serve

    with pytest.raises(RagError, match="--auth"):
        serve(Settings(index_dir=Path("/nonexistent")), host="0.0.0.0", port=1)
    with pytest.raises(RagError, match="user:password"):
        serve(Settings(index_dir=Path("/nonexistent")), host="127.0.0.1", port=1, auth="nopassword")


def test_cli_refuses_public_bind_with_a_clear_message(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--host", "0.0.0.0", "--index",
                           str(tmp_path / "index"), "--backend", "extractive"], cwd=ROOT, env=server_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "without a password" in proc.stderr and "--auth" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_loopback_and_auth_parsing():
    from rag.types import RagError
    from rag.ui import is_loopback, parse_auth

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.com")
    assert parse_auth("ann:s3cr:et") == ("ann", "s3cr:et")
    for bad in ("ann", ":pw", "ann:"):
        with pytest.raises(RagError):
            parse_auth(bad)


def test_launch_options_fetch_nothing_from_the_internet():
    from rag.settings import Settings
    from rag.ui import launch_options

    opts = launch_options(Settings(max_upload_mb=3))
    assert opts["max_file_size"] == 3 * 1024 * 1024
    css = opts["theme"]._get_theme_css() + opts["css"]
    assert "fonts.googleapis" not in css and "@import" not in css and "url(http" not in css


# ---------------------------------------------------------------------------- uploads
@pytest.mark.parametrize("name, safe", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\Windows\\win.md", "win.md"),
    ("/abs/path/Report 2024 (final).HTML", "Report_2024_final.html"),
    ("..", "upload"),
    ("", "upload"),
    (".hidden.jsonl", "hidden.jsonl"),
    ("naïve café.txt", "naive_cafe.txt"),
    ("x" * 300 + ".txt", "x" * 80 + ".txt"),
])
def test_safe_upload_name(name, safe):
    from rag.ui import safe_upload_name

    assert safe_upload_name(name) == safe
    assert "/" not in safe and "\\" not in safe and not safe.startswith(".")


def test_upload_is_copied_under_a_safe_name_and_reported(assistant, tmp_path):
    from rag.ui import Uploader

    src = tmp_path / "in.txt"
    src.write_text("Harbour bridge reopens\n\nThe Harbour Bridge reopened on Monday after eight months of "
                   "repairs, the city council said. Engineers replaced 140 steel cables.\n", encoding="utf-8")
    up = Uploader(assistant)
    rows = up.ingest_one(src, "../../../escape me.txt")
    assert rows == [("../../../escape me.txt", "added")]
    stored = assistant.settings.index_dir / "uploads" / "escape_me.txt"
    assert stored.is_file() and stored.read_bytes() == src.read_bytes()
    assert not (tmp_path / "escape me.txt").exists()
    assert up.ingest_one(src, "escape me.txt") == [("escape me.txt", "unchanged")]

    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    (name, result), = up.ingest_one(empty, "empty.txt")
    assert result.startswith("failed") and "empty" in result
    assert str(tmp_path) not in result and "uploads" not in result
    assert not (assistant.settings.index_dir / "uploads" / "empty.txt").exists()
    assert up.ingest_one(src, "notes.pdf")[0][1].startswith("failed: unsupported file type")

    doc = next(d for d in assistant.documents() if d.path == str(stored))
    assistant.remove(doc.doc_id)
    up.forget(doc.path)
    assert not stored.exists()


def test_upload_over_the_size_limit_is_refused(make_settings, tmp_path):
    from rag.api import Assistant
    from rag.ui import Uploader

    a = Assistant(make_settings(max_upload_mb=0.001))
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000, encoding="utf-8")
    (_, result), = Uploader(a).ingest_one(big, "big.txt")
    assert result.startswith("failed") and "upload limit" in result
    assert not (a.settings.index_dir / "uploads" / "big.txt").exists()


# ---------------------------------------------------------------------------- conversation
def test_follow_up_sends_history_and_sessions_do_not_share_it(seed_assistant):
    from rag.ui import Answerer, answer_turn, history_of

    answerer = Answerer(seed_assistant)
    first = list(answer_turn(answerer, MORTAR, [], "extractive", "", 5))[-1]
    assert first[0].status == "done" and not first[0].answer.refused
    follow = list(answer_turn(answerer, "When did it happen?", first, "extractive", "", 5))[-1]
    assert [t.question for t in follow] == [MORTAR, "When did it happen?"]
    # the chain saw the earlier turn: it rewrote "it" against it; without history there is nothing to do
    assert follow[1].answer.standalone_question != "When did it happen?"
    assert history_of(follow)[:2] == [("user", MORTAR), ("assistant", first[0].answer.text)]
    alone = list(answer_turn(answerer, "When did it happen?", [], "extractive", "", 5))[-1]
    assert alone[0].answer.standalone_question == "When did it happen?"
    assert len(first) == 1  # the caller's list was not modified


def test_bad_filters_and_unknown_models_are_readable_errors(seed_assistant):
    from rag.ui import Answerer, answer_turn

    answerer = Answerer(seed_assistant)
    turns = list(answer_turn(answerer, MORTAR, [], "extractive", "", 5, [], "2023-13-40", ""))[-1]
    assert turns[0].status == "error" and "YYYY-MM-DD" in turns[0].error
    turns = list(answer_turn(answerer, MORTAR, [], "extractive", "", 5, [], "2024-02-01", "2024-01-01"))[-1]
    assert turns[0].status == "error" and "after" in turns[0].error
    turns = list(answer_turn(answerer, MORTAR, [], "local", "/etc/passwd", 5))[-1]
    assert turns[0].status == "error" and "Unknown local model" in turns[0].error


def test_source_filter_excluding_everything_refuses(seed_assistant):
    from rag.ui import Answerer, answer_turn

    turns = list(answer_turn(Answerer(seed_assistant), MORTAR, [], "extractive", "", 5,
                             ["No Such Source"], "", ""))[-1]
    assert turns[0].status == "done" and turns[0].answer.refused
    assert turns[0].answer.refusal.kind == "no_match"
    assert turns[0].settings_note == "filtered: No Such Source"


def test_missing_model_is_a_readable_error(seed_assistant, tmp_path):
    from rag.api import Assistant
    from rag.ui import Answerer, answer_turn

    a = Assistant(seed_assistant.settings.model_copy(update={"model_dir": tmp_path / "no-models"}))
    try:
        turns = list(answer_turn(Answerer(a), MORTAR, [], "local", "", 5))[-1]
    finally:
        a.close()
    assert turns[0].status == "error"
    assert "install" in turns[0].error.lower() and "Traceback" not in turns[0].error


@pytest.mark.slow
def test_local_backend_answer_streams_into_the_conversation(seed_assistant):
    """Tokens show up before the verified answer replaces them (real GGUF model, the default one)."""
    from rag.models import model_path
    from rag.ui import Answerer, answer_turn
    from rag.ui_render import conversation_html

    assert model_path(seed_assistant.settings.local_model).is_file(), "run `make test-models`"
    try:
        states = [(t[-1].status, conversation_html(t, 1)) for t in
                  answer_turn(Answerer(seed_assistant), MORTAR, [], "local", "", 5)]
    finally:
        seed_assistant.chain("local").close()  # free the model server for the other tests
    statuses = [s for s, _ in states]
    assert statuses[0] == "pending"
    assert statuses[-1] == "done", states[-1][1]
    assert "streaming" in statuses, statuses
    streamed = next(h for s, h in states if s == "streaming")
    assert "nr-streaming" in streamed and "nr-caret" in streamed
    assert "nr-streaming" not in states[-1][1]


# ---------------------------------------------------------------------------- the Blocks app
def test_empty_index_shows_how_to_add_articles(make_settings):
    from rag.api import Assistant
    from rag.ui import build_app

    a = Assistant(make_settings())
    demo = build_app(a)
    values = " ".join(str(c.get("props", {}).get("value", "")) for c in demo.config["components"])
    assert "No articles yet" in values and "newsrag ingest PATH" in values and "Library tab" in values
    a.close()


# ---------------------------------------------------------------------------- rendering
def test_urls_only_http_links():
    from rag.ui_render import link, safe_url

    assert safe_url("https://example.com/a?b=1") == "https://example.com/a?b=1"
    assert safe_url("http://example.com") == "http://example.com"
    for bad in ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<b>", "vbscript:x",
                "//evil.com/x", "https:/nohost", "java\nscript:alert(1)", "", None, "ftp://example.com/x"):
        assert safe_url(bad) is None, bad
    shown = link("javascript:alert(1)", "x")
    assert "<a" not in shown and "javascript:alert(1)" in shown
    html = link('https://example.com/"onmouseover="x', "go")
    assert 'href="https://example.com/&quot;onmouseover=&quot;x"' in html


def test_answer_and_citation_html_escape_everything():
    from rag.types import Answer, Citation, Passage
    from rag.ui_render import Turn, conversation_html

    evil = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
    cite = Citation(n=1, doc_id="d1", title=evil, source=evil, url="javascript:window.__xss=3",
                    published="2024-01-02", text=f"Before. {evil} The quote here. After.",
                    quote="The quote here.", start=0, end=15)
    ans = Answer(question=evil, text=f"{evil} The quote here. [1] [7]", refused=False, citations=[cite])
    html = conversation_html([Turn(question=evil, status="done", answer=ans)], 1)
    assert "<script" not in html and "<img" not in html and "javascript:" not in html.split("nr-url-text")[0]
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert 'data-target="nr-src-0-1"' in html and 'id="nr-src-0-1"' in html
    assert "[7]" in html and 'data-target="nr-src-0-7"' not in html  # no source 7: stays text
    assert "<mark>The quote here.</mark>" in html
    assert "<a " not in html  # the only URL is javascript: and must not become a link

    refusal = Answer(question="q", text="The articles don't say.", refused=True,
                     passages=[Passage(chunk_id="c", doc_id="d", text=evil, start=0, end=5, title=evil)])
    html = conversation_html([Turn(question="q", status="done", answer=refusal)], 1)
    assert "Closest passages" in html and "The articles don&#x27;t say." in html
    assert "<script" not in html and "<img" not in html


def test_the_reader_sees_who_produced_the_answer():
    from rag.types import Answer
    from rag.ui_render import Turn, conversation_html

    def foot(origin: str) -> str:
        ans = Answer(question="q", text="Seven. [1]", refused=False, backend="local", origin=origin)
        return conversation_html([Turn(question="q", status="done", answer=ans)], 1).split("nr-foot")[1]

    assert "quoted from the article (the model&#x27;s wording failed the check)" in foot("quote")
    assert "the model&#x27;s wording, checked against the sources" in foot("model")
    assert "quoted from the article" in foot("extractive") and "nr-origin" not in foot("")


def test_library_and_results_html_escape_and_filter():
    from rag.index.manifest import DocEntry
    from rag.ui_render import article_html, ingest_results_html, library_html

    evil = '<img src=x onerror="window.__xss=2">'
    docs = [DocEntry(doc_id="a" * 20, key="k1", path="p", content_hash="h", n_chunks=3, title=evil,
                     source="S1", published="2024-01-01"),
            DocEntry(doc_id="b" * 20, key="k2", path="p", content_hash="h", n_chunks=1,
                     title="Harbour bridge", source="S2")]
    html = library_html(docs)
    assert "<img" not in html and "2 of 2 articles" in html
    found = library_html(docs, query="harbour")
    assert "Harbour bridge" in found and "1 of 2" in found
    assert "Harbour bridge" not in library_html(docs, source="S1")
    assert "No article matches" in library_html(docs, query="zzz")
    assert "library is empty" in library_html([])

    from rag.types import Article

    art = Article(doc_id="a" * 20, text=f"Para one {evil}\n\nPara two", title=evil, url="javascript:x")
    html = article_html(art)
    assert "<img" not in html and html.count("<p>") == 2 and "<a " not in html
    res = ingest_results_html([(evil + ".txt", "added"), ("b.txt", "failed: empty file")])
    assert "<img" not in res and "nr-res-ok" in res and "nr-res-fail" in res and "empty file" in res


def test_ui_module_imports_no_model_at_import_time():
    code = "import sys, rag.ui; print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **server_env()},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
