"""The chat UI in a real headless Chromium, against ``newsrag serve --backend extractive`` over seeds/.

Set ``NEWSRAG_SCREENSHOT_DIR=docs`` to (re)write the README screenshots; otherwise they go to a
temporary directory and are only checked for size.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from ui_server import ROOT, build_seed_index, free_port, running_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = os.environ.get("NEWSRAG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
MORTAR = "How many mortar rounds landed in the U.S. Embassy compound?"
AMBASSADOR = "What is the name of the US ambassador to Iraq?"
CONDEMNED = "Who condemned the attacks on the U.S. embassy in Baghdad?"
ANSWER_TIMEOUT_MS = 240_000  # two shared cores; the first answer also warms the embedding model

XSS_TITLE = '<script>window.__xss=1</script>Zorblatt <img src=x onerror="window.__xss=2"> festival'
XSS_BODY = ("The Zorblatt festival drew 12,000 visitors to Quahog on Tuesday. "
            "<script>window.__xss=1</script> Organisers said the "
            '<img src=x onerror="window.__xss=2"> parade was the largest in the town\'s history. '
            "Police reported no incidents during the three-day event. ${window.__xss=5} "
            "{{constructor.constructor('window.__xss=6')()}}")
BRIDGE = ("# Harbour Bridge reopens after eight months of repairs\n\n"
          "Published 2024-05-13 by Coastal Courier\n\n"
          "The Harbour Bridge reopened to traffic on Monday after eight months of repairs, "
          "the city council said.\n\n"
          "Engineers replaced 140 steel cables and resurfaced the deck, at a cost of 38 million dollars.\n\n"
          "Traffic on the ring road is expected to return to normal by Friday, the council added.\n")


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-browser")
    build_seed_index(root / "index")
    closed = free_port()  # nothing listens here: the "server unreachable" case
    with running_server(root / "index", RAG_MODEL_DIR=str(root / "no-models"),
                        RAG_OPENAI_BASE_URL=f"http://127.0.0.1:{closed}/v1", RAG_OPENAI_MODEL="test-model",
                        RAG_OPENAI_API_KEY="unused") as srv:
        srv.index_dir = root / "index"
        yield srv
    assert "Traceback" not in srv.log(), srv.log()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} missing: run `make system-deps` (Debian chromium)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Session:
    """One browser context (= one user) with everything it saw that a test may want to check."""

    page: object
    base: str
    dialogs: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self) -> Session:
        self.page.goto(self.base)
        self.page.wait_for_selector("#nr-question textarea", timeout=120_000)
        self.page.wait_for_function("document.querySelector('#nr-header .nr-stats') !== null")
        return self

    def ask(self, question: str):
        """Type a question, send it, and return the finished answer's locator."""
        from playwright.sync_api import expect

        bots = self.page.locator("#nr-chat .nr-bot")
        n = bots.count()
        self.page.fill("#nr-question textarea", question)
        self.page.click("#nr-send")
        bot = bots.nth(n)
        expect(bot).to_have_attribute("data-status", re.compile("^(done|error)$"), timeout=ANSWER_TIMEOUT_MS)
        return bot

    def tab(self, name: str) -> None:
        self.page.get_by_role("tab", name=name).click()

    def assert_clean(self) -> None:
        assert self.dialogs == [], self.dialogs
        assert self.external == [], f"fetched from outside localhost: {self.external}"
        assert self.errors == [], self.errors
        assert self.page.evaluate("typeof window.__xss") == "undefined"


def _session(browser, base: str, width: int = 1280, height: int = 900) -> Iterator[Session]:
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    s = Session(page, base)
    page.on("dialog", lambda d: (s.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: s.errors.append(str(e)))

    def on_request(req):
        host = urlsplit(req.url).hostname
        if req.url.startswith(("http:", "https:", "ws:", "wss:")) and host not in ("127.0.0.1", "localhost"):
            s.external.append(req.url)

    page.on("request", on_request)
    try:
        yield s
    finally:
        ctx.close()


@pytest.fixture
def user(browser, server):
    yield from _session(browser, server.url)


@pytest.fixture
def shots(tmp_path) -> Path:
    out = os.environ.get("NEWSRAG_SCREENSHOT_DIR")
    d = (ROOT / out) if out and not os.path.isabs(out) else Path(out) if out else tmp_path
    d.mkdir(parents=True, exist_ok=True)
    return d


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def upload(s: Session, paths: list[Path]):
    """Upload files in the Library tab; returns the per-file result list."""
    from playwright.sync_api import expect

    s.tab("Library")
    s.page.set_input_files("#nr-upload input[type=file]", [str(p) for p in paths])
    # wait until Gradio holds every file (each gets a download link) before asking it to index them
    expect(s.page.locator("#nr-upload a[href*='gradio_api/file=']")).to_have_count(len(paths), timeout=60_000)
    s.page.click("#nr-add")
    results = s.page.locator("#nr-results .nr-results")
    expect(results).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    return results


# ---------------------------------------------------------------------------- chat
def test_cited_answer_opens_the_highlighted_quote(user):
    from playwright.sync_api import expect

    user.open()
    expect(user.page.locator("#nr-examples button")).to_have_count(4)
    bot = user.ask(MORTAR)
    expect(bot).to_have_attribute("data-status", "done")
    cite = bot.locator("button.nr-cite", has_text="[1]")
    expect(cite).to_be_visible()
    expect(bot.locator(".nr-sources")).to_contain_text("Kata'ib Hezbollah")
    source = bot.locator("details.nr-src").first
    expect(source).not_to_have_attribute("open", "")
    cite.first.click()
    expect(source).to_have_attribute("open", "")
    mark = source.locator("mark")
    expect(mark).to_be_visible()
    expect(mark).to_contain_text("mortar")
    expect(source).to_contain_text("Shafaq News")
    expect(user.page.locator("#nr-examples")).to_be_hidden()
    user.assert_clean()


def test_unanswerable_question_is_refused_with_closest_passages(user):
    from playwright.sync_api import expect

    bot = user.open().ask(AMBASSADOR)
    expect(bot.locator(".nr-refused")).to_contain_text("The articles don't say")
    # one line on why, in the reader's words (rag/answer/refusal.py)
    expect(bot.locator(".nr-refused .nr-why")).to_be_visible()
    expect(bot.locator(".nr-refused .nr-why")).to_contain_text(re.compile(r"closest passages|answer check"))
    expect(bot.locator("button.nr-cite")).to_have_count(0)
    expect(bot.locator(".nr-sources-h")).to_have_text("Closest passages")
    assert bot.locator(".nr-closest").count() >= 1
    user.assert_clean()


def test_example_question_and_new_chat(user):
    from playwright.sync_api import expect

    user.open()
    user.page.locator("#nr-examples button", has_text=CONDEMNED).click()
    bot = user.page.locator("#nr-chat .nr-bot").first
    expect(bot).to_have_attribute("data-status", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(user.page.locator("#nr-chat .nr-user")).to_have_text([CONDEMNED])
    user.page.click("#nr-new")
    expect(user.page.locator("#nr-chat .nr-user")).to_have_count(0)
    expect(user.page.locator("#nr-chat .nr-empty")).to_contain_text("Ask about the news")
    expect(user.page.locator("#nr-examples")).to_be_visible()
    user.assert_clean()


def test_two_users_keep_separate_conversations(browser, server):
    from playwright.sync_api import expect

    a_gen, b_gen = _session(browser, server.url), _session(browser, server.url)
    a, b = next(a_gen).open(), next(b_gen).open()
    try:
        # both questions in flight at once: the queue runs them concurrently, each into its own session
        for s, q in ((a, MORTAR), (b, CONDEMNED)):
            s.page.fill("#nr-question textarea", q)
        a.page.click("#nr-send")
        b.page.click("#nr-send")
        for s in (a, b):
            expect(s.page.locator("#nr-chat .nr-bot").first).to_have_attribute(
                "data-status", "done", timeout=ANSWER_TIMEOUT_MS)
        expect(a.page.locator("#nr-chat .nr-user")).to_have_text([MORTAR])
        expect(b.page.locator("#nr-chat .nr-user")).to_have_text([CONDEMNED])
        expect(a.page.locator("#nr-chat .nr-answer")).to_contain_text("mortar")
        expect(b.page.locator("#nr-chat .nr-answer")).to_contain_text("Austin")

        a.ask("When did it happen?")
        expect(a.page.locator("#nr-chat .nr-user")).to_have_text([MORTAR, "When did it happen?"])
        expect(b.page.locator("#nr-chat .nr-user")).to_have_text([CONDEMNED])
        a.page.click("#nr-new")
        expect(a.page.locator("#nr-chat .nr-user")).to_have_count(0)
        expect(b.page.locator("#nr-chat .nr-user")).to_have_text([CONDEMNED])
        for s in (a, b):
            s.assert_clean()
    finally:
        for gen in (a_gen, b_gen):
            gen.close()


def test_errors_are_readable_messages(user):
    from playwright.sync_api import expect

    user.open()
    page = user.page
    page.get_by_label("Local model").check()
    expect(page.locator("#nr-model input")).to_have_value(re.compile("not installed"))
    bot = user.ask(MORTAR)
    expect(bot.locator(".nr-error")).to_contain_text("install")

    page.get_by_label("OpenAI-compatible server").check()
    bot = user.ask(MORTAR)
    expect(bot.locator(".nr-error")).to_contain_text("Could not reach the LLM server")

    page.get_by_label("Extractive (no LLM)").check()
    page.locator("#nr-filters").get_by_role("button", name="Filters").click()
    page.fill("#nr-f-from textarea, #nr-f-from input", "2023-31-12")
    bot = user.ask(MORTAR)
    expect(bot.locator(".nr-error")).to_contain_text("YYYY-MM-DD")
    assert "Traceback" not in page.inner_text("body")
    user.assert_clean()


# ---------------------------------------------------------------------------- library
def test_upload_then_find_view_and_remove(user, server, tmp_path):
    from playwright.sync_api import expect

    (tmp_path / "harbour bridge.md").write_text(BRIDGE, encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    user.open()
    stats = user.page.locator("#nr-header .nr-stats")
    before = int(stats.inner_text().split()[0])
    results = upload(user, [tmp_path / "harbour bridge.md", tmp_path / "empty.txt"])
    expect(results.locator(".nr-res-ok")).to_contain_text("harbour bridge.md")
    expect(results.locator(".nr-res-ok .nr-badge")).to_have_text("added")
    expect(results.locator(".nr-res-fail")).to_contain_text("empty file")
    assert (server.index_dir / "uploads" / "harbour_bridge.md").is_file()

    table = user.page.locator("#nr-library")
    row = table.locator("tr", has_text="Harbour Bridge reopens")
    expect(row).to_have_count(1)
    expect(stats).to_contain_text(f"{before + 1} articles")
    user.page.fill("#nr-lib-search textarea, #nr-lib-search input", "harbour")
    expect(table.locator(".nr-lib-count")).to_contain_text(f"1 of {before + 1}")
    expect(table.locator("tbody tr")).to_have_count(1)
    row.locator("button.nr-view").click()
    expect(user.page.locator("#nr-viewer")).to_contain_text("replaced 140 steel cables")

    user.page.click("#nr-remove")
    user.page.click("#nr-confirm")
    expect(user.page.locator("#nr-viewer")).to_contain_text("Removed")
    expect(row).to_have_count(0)
    expect(stats).to_contain_text(re.compile(rf"^{before} articles? "))
    assert not (server.index_dir / "uploads" / "harbour_bridge.md").exists()
    user.assert_clean()


def test_hostile_article_renders_as_text_and_runs_nothing(user, tmp_path):
    from playwright.sync_api import expect

    evil_jsonl = tmp_path / "zorblatt.jsonl"
    evil_jsonl.write_text(json.dumps({"id": "z1", "title": XSS_TITLE, "text": XSS_BODY,
                                      "source": '<b onmouseover="window.__xss=4">Evil Times</b>',
                                      "url": "javascript:window.__xss=3", "published": "2024-03-02"}) + "\n",
                          encoding="utf-8")
    evil_txt = tmp_path / "evil<img src=x onerror=window.__xss=7>.txt"
    evil_txt.write_text(f"{XSS_TITLE}\n\n{XSS_BODY}\n".replace("Zorblatt", "Quuxfest"), encoding="utf-8")
    page = user.open().page
    results = upload(user, [evil_jsonl, evil_txt])
    expect(results.locator(".nr-res-ok")).to_have_count(2)

    row = page.locator("#nr-library tr", has_text="Zorblatt")
    expect(row).to_have_count(1)
    row.locator("button.nr-view").click()
    viewer = page.locator("#nr-viewer")
    expect(viewer.locator("h3")).to_have_text(XSS_TITLE)
    expect(viewer).to_contain_text("<script>window.__xss=1</script>")
    expect(viewer).to_contain_text("${window.__xss=5}")
    expect(viewer).to_contain_text("javascript:window.__xss=3")
    page.locator("#nr-library tr", has_text="Quuxfest").locator("button.nr-view").click()
    expect(viewer).to_contain_text("Quuxfest festival drew")

    user.tab("Chat")
    bot = user.ask("How many visitors did the Zorblatt festival draw?")
    expect(bot.locator(".nr-answer")).to_contain_text("12,000")
    bot.locator("button.nr-cite").first.click()
    src = bot.locator("details.nr-src").first
    expect(src.locator("summary")).to_contain_text("<script>window.__xss=1</script>")
    expect(src.locator("mark")).to_contain_text("12,000 visitors")
    src.locator(".nr-meta").hover()

    assert page.locator("img[src='x'], #nr-chat img, #nr-viewer img, #nr-library img").count() == 0
    assert page.locator("a[href^='javascript' i]").count() == 0
    assert page.locator("#nr-chat script, #nr-viewer script, #nr-library script").count() == 0
    user.assert_clean()


# ---------------------------------------------------------------------------- layout
@pytest.mark.parametrize("width", [390])
def test_phone_width_is_usable(browser, server, width, tmp_path):
    from playwright.sync_api import expect

    gen = _session(browser, server.url, width=width, height=844)
    s = next(gen).open()
    try:
        bot = s.ask(MORTAR)
        bot.locator("button.nr-cite").first.click()
        expect(bot.locator("mark")).to_be_visible()
        assert s.page.evaluate("document.documentElement.scrollWidth") <= width
        box = s.page.locator("#nr-send").bounding_box()
        assert box and box["x"] + box["width"] <= width
        s.page.screenshot(path=str(tmp_path / "phone-chat.png"), full_page=True)
        s.tab("Library")
        expect(s.page.locator("#nr-library table")).to_be_visible()
        assert s.page.evaluate("document.documentElement.scrollWidth") <= width
        s.page.screenshot(path=str(tmp_path / "phone-library.png"), full_page=True)
        s.assert_clean()
    finally:
        gen.close()


def test_screenshots(browser, server, shots, tmp_path):
    """The README screenshots: a cited answer with its source open, and the Library tab."""
    from playwright.sync_api import expect

    gen = _session(browser, server.url, width=1280, height=1040)
    user = next(gen).open()
    page = user.page
    try:
        bot = user.ask(MORTAR)
        bot.locator("button.nr-cite").first.click()
        expect(bot.locator("mark")).to_be_visible()
        page.wait_for_timeout(1600)  # let the scroll and the highlight flash finish: a steady picture
        page.evaluate("window.scrollTo(0, 0); document.querySelector('#nr-chat').scrollTop = 0")
        page.screenshot(path=str(shots / "screenshot-chat.png"))

        (tmp_path / "harbour-bridge.md").write_text(BRIDGE, encoding="utf-8")
        upload(user, [tmp_path / "harbour-bridge.md"])
        page.locator("#nr-library tr", has_text="Harbour Bridge").locator("button.nr-view").click()
        expect(page.locator("#nr-viewer h3")).to_be_visible()
        page.mouse.move(0, 0)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(shots / "screenshot-library.png"))
        for name in ("screenshot-chat.png", "screenshot-library.png"):
            assert png_size(shots / name)[0] == 1280
        user.assert_clean()
    finally:
        gen.close()
