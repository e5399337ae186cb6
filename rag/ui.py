"""The Gradio chat UI: ``newsrag serve`` calls :func:`serve`; tests call :func:`build_app`.

One ``Assistant`` per process is shared by every session (the model and the index are loaded
once; the LLM backend batches concurrent requests). Everything that belongs to one user — the
conversation, the selected article — lives in ``gr.State``, which Gradio keeps per browser session,
so two users never see each other's conversation. All HTML is produced by :mod:`rag.ui_render`,
which escapes every piece of article text and model output.

The event handlers are the UI's error boundary: a ``RagError`` is shown as is, anything else is
logged with its traceback and shown as a short generic message.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Imported eagerly on purpose: this module *is* the UI (the CLI imports it only for `serve`), and
# Gradio resolves handler type hints such as ``gr.EventData`` through this module's globals.
import gradio as gr

from rag.logging_setup import set_offline_env
from rag.net import is_loopback
from rag.types import RagError
from rag.ui_render import (
    Turn,
    article_html,
    conversation_html,
    error_html,
    ingest_results_html,
    library_html,
    notice_html,
)

if TYPE_CHECKING:
    from rag.api import Assistant
    from rag.settings import Settings

log = logging.getLogger(__name__)

ASSETS = Path(__file__).with_name("ui_assets")
TITLE = "NewsRAG"
EXAMPLES = (
    "How many mortar rounds landed in the U.S. Embassy compound?",
    "Who condemned the attacks on the U.S. embassy in Baghdad?",
    "How many times have U.S. forces in Iraq and Syria been attacked since Oct. 17?",
    "What did Abu Ali al-Askari say about the attacks?",
)
BACKENDS = (("Local model", "local"), ("Extractive (no LLM)", "extractive"),
            ("OpenAI-compatible server", "openai"))
UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".json", ".ndjson")
CONCURRENCY = 4  # simultaneous answers per process; the local LLM serves llm_parallel slots anyway
SYSTEM_FONTS = ("system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial",
                "Noto Sans", "Liberation Sans", "sans-serif")
MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace")
_DOC_ID = re.compile(r"^[0-9a-f]{8,64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OPENAI_MODEL = re.compile(r"^[\w.:/@+-]{1,200}$")
_STREAM_EVERY_S = 0.05  # coalesce tokens: one UI update per 50 ms is smooth and cheap
MAX_TURNS = 50  # a session keeps (and re-renders) at most this many turns


def _unexpected(what: str) -> str:
    log.exception("unexpected error while %s", what)
    return f"Something went wrong while {what}. The details are in the server log."


# ------------------------------------------------------------------------------ answering
class Answerer:
    """Routes a question to the shared Assistant, or to a shared chain for a non-default model.

    ``Assistant.stream`` selects a backend but not a model; a model picked in Settings gets its own
    ``AnswerChain`` over the same index, created once and shared by every session that picks it.
    """

    MAX_EXTRA_CHAINS = 4

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self.settings = assistant.settings
        self._chains: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def default_model(self, backend: str) -> str:
        if backend == "local":
            return self.settings.local_model
        if backend == "openai":
            return self.settings.openai_model or ""
        return ""

    def model_choices(self, backend: str) -> list[tuple[str, str]]:
        if backend == "local":
            from rag.models import REGISTRY, model_path

            names = list(REGISTRY)
            if self.settings.local_model not in names:
                names.insert(0, self.settings.local_model)  # an operator-configured GGUF path
            out = []
            for name in names:
                try:
                    installed = name not in REGISTRY or model_path(name, self.settings.model_dir).is_file()
                except RagError:
                    installed = False
                out.append((name if installed else f"{name} (not installed)", name))
            return out
        if backend == "openai":
            m = self.settings.openai_model
            return [(m, m)] if m else []
        return []

    def _check_model(self, backend: str, model: str) -> str:
        model = (model or "").strip()
        if backend == "extractive" or not model:
            return ""
        if backend == "local" and model not in {v for _, v in self.model_choices("local")}:
            # a web user must not make the server load an arbitrary file path
            raise RagError(f"Unknown local model {model!r}; pick one of the listed models.")
        if backend == "openai" and not _OPENAI_MODEL.match(model):
            raise RagError("That model name is not valid for an OpenAI-compatible server.")
        return model

    def _chain(self, backend: str, model: str):
        from rag.answer.chain import AnswerChain

        key = (backend, model)
        with self._lock:
            chain = self._chains.get(key)
            if chain is None:
                field = "local_model" if backend == "local" else "openai_model"
                settings = self.settings.model_copy(update={"backend": backend, field: model})
                chain = AnswerChain(settings, index_getter=lambda: self.assistant.index)
                self._chains[key] = chain
                while len(self._chains) > self.MAX_EXTRA_CHAINS:
                    _, old = self._chains.popitem(last=False)
                    old.close()
            self._chains.move_to_end(key)
        return chain

    def stream(self, question: str, history: list, filters: dict, k: int | None, backend: str,
               model: str) -> Iterator[dict]:
        model = self._check_model(backend, model)
        if not model or model == self.default_model(backend):
            yield from self.assistant.stream(question, history=history, filters=filters, k=k, backend=backend)
            return
        question = " ".join((question or "").split())
        if not question:
            raise RagError("Ask a question (the text was empty).")
        if len(question) > self.settings.max_question_chars:
            raise RagError(f"The question is {len(question)} characters long; the limit is "
                           f"{self.settings.max_question_chars}. Shorten it.")
        yield from self._chain(backend, model).stream(question, history=history, filters=filters, k=k)

    def close(self) -> None:
        with self._lock:
            for chain in self._chains.values():
                chain.close()
            self._chains.clear()


def make_filters(sources: list[str] | None, date_from: str, date_to: str) -> dict:
    """The API's filter dict from the Settings panel; a malformed date is a user error."""
    out: dict[str, Any] = {"sources": [s for s in (sources or []) if s]}
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        value = (value or "").strip()
        if value:
            try:
                if not _DATE.match(value):
                    raise ValueError
                date.fromisoformat(value)
            except ValueError:
                raise RagError(f"Dates are written YYYY-MM-DD (got {value!r}).") from None
        out[name] = value
    if out["date_from"] and out["date_to"] and out["date_from"] > out["date_to"]:
        raise RagError("The 'from' date is after the 'to' date.")
    return out


def history_of(turns: list[Turn]) -> list[tuple[str, str]]:
    """The API's history: answered turns only (errors and refusals of nothing carry no context)."""
    hist: list[tuple[str, str]] = []
    for t in turns:
        if t.status == "done" and t.answer is not None:
            hist += [("user", t.question), ("assistant", t.answer.text)]
    return hist


def filter_note(filters: dict) -> str:
    bits = []
    if filters.get("sources"):
        bits.append(", ".join(filters["sources"]))
    if filters.get("date_from"):
        bits.append(f"from {filters['date_from']}")
    if filters.get("date_to"):
        bits.append(f"to {filters['date_to']}")
    return "filtered: " + "; ".join(bits) if bits else ""


def answer_turn(answerer: Answerer, question: str, turns: list[Turn], backend: str, model: str,
                k: float | None, sources: list[str] | None = None, date_from: str = "",
                date_to: str = "") -> Iterator[list[Turn]]:
    """Answer one question in a conversation, yielding the conversation after each visible change.

    The earlier turns go to the API as history. The caller's list is not modified (Gradio hands
    every session its own copy of the state; a new list makes the update explicit).
    """
    turn = Turn(question=question)
    hist = history_of(turns)
    turns = [*turns[-(MAX_TURNS - 1):], turn]
    yield turns
    try:
        filters = make_filters(sources, date_from, date_to)
        turn.settings_note = filter_note(filters)
        last = 0.0
        for ev in answerer.stream(question, hist, filters, int(k) if k else None, backend, model):
            if ev["type"] == "token":
                turn.partial += ev["text"]
                turn.status = "streaming"
                now = time.monotonic()
                if now - last >= _STREAM_EVERY_S:
                    last = now
                    yield turns
            elif ev["type"] == "answer":
                turn.answer, turn.status = ev["answer"], "done"
    except RagError as exc:
        turn.status, turn.error = "error", str(exc)
    except Exception:  # noqa: BLE001 - the UI boundary: never a traceback in the page
        turn.status, turn.error = "error", _unexpected("answering")
    if turn.status not in ("done", "error"):
        turn.status, turn.error = "error", "The answer was interrupted; ask again."
    yield turns


# ------------------------------------------------------------------------------ uploads
def safe_upload_name(name: str) -> str:
    """A basename that cannot leave the upload directory: no separators, no dot-files, ASCII only."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = suffix, ""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-")[:80] or "upload"
    suffix = re.sub(r"[^A-Za-z0-9]+", "", suffix)[:10].lower()
    return f"{stem}.{suffix}" if suffix else stem


class Uploader:
    """Copies uploads under ``<index_dir>/uploads/`` with safe names, then ingests them one by one."""

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self.dir = Path(assistant.settings.index_dir) / "uploads"
        self.limit = int(assistant.settings.max_upload_mb * 1024 * 1024)

    def _display(self, reason: str) -> str:
        # reasons never need to reveal where the server keeps files
        return reason.replace(str(self.dir.resolve()) + os.sep, "").replace(str(self.dir) + os.sep, "")

    def store(self, src: Path, name: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        dest = self.dir / safe_upload_name(name)
        if dest.resolve().parent != self.dir.resolve():  # belt and braces: the name has no separators
            raise RagError("Refusing an upload name that leaves the upload directory.")
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.part")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
        return dest

    def ingest_one(self, src: Path, name: str) -> list[tuple[str, str]]:
        """Per-file outcome rows ``(name, result)``; a JSONL file yields one row per record."""
        suffix = Path(safe_upload_name(name)).suffix
        if suffix not in UPLOAD_SUFFIXES:
            return [(name, f"failed: unsupported file type {suffix or '(none)'!r}; "
                           "upload .txt, .md, .html or .jsonl files")]
        size = src.stat().st_size
        if size > self.limit:
            return [(name, f"failed: file is {size / 1e6:.1f} MB, over the "
                           f"{self.assistant.settings.max_upload_mb:g} MB upload limit")]
        dest = self.store(src, name)
        report = self.assistant.ingest([dest])
        rows: list[tuple[str, str]] = []
        prefix = str(dest)
        for key, result in report.files.items():
            label = name + key[len(prefix):] if key.startswith(prefix) else name
            rows.append((label, self._display(result)))
        seen = set(report.files)
        for f in report.failed:
            if f.path not in seen:
                label = name + f.path[len(prefix):] if f.path.startswith(prefix) else name
                rows.append((label, "failed: " + self._display(f.reason)))
        if not rows:
            rows.append((name, "failed: no article found in the file"))
        if all(r.startswith("failed") for _, r in rows) and not any(
                d.path == str(dest) for d in self.assistant.documents()):
            dest.unlink(missing_ok=True)  # keep nothing the index does not use
        return rows

    def forget(self, path: str) -> None:
        """Delete an uploaded copy once no indexed article comes from it."""
        p = Path(path)
        try:
            if p.resolve().parent != self.dir.resolve():
                return
        except OSError:
            return
        if not any(d.path == path for d in self.assistant.documents()):
            p.unlink(missing_ok=True)


# ------------------------------------------------------------------------------ the app
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def theme():
    # system fonts only: the default Google fonts would be fetched from the internet
    return gr.themes.Soft(primary_hue="blue", neutral_hue="slate", font=list(SYSTEM_FONTS),
                          font_mono=list(MONO_FONTS))


def launch_options(settings: Settings) -> dict[str, Any]:
    """Arguments Gradio 6 takes at ``launch()`` (theme and CSS moved there from ``Blocks``)."""
    return {
        "theme": theme(),
        "css": _asset("style.css"),
        "max_file_size": int(settings.max_upload_mb * 1024 * 1024),  # bytes: gradio cannot parse "0.2mb"
        "footer_links": ["api", "settings"],
        "run_history": False,  # no transcripts kept in the browser
        "ssr_mode": False,
        "mcp_server": False,
        "show_error": False,  # handlers show readable errors themselves
        "quiet": True,
    }


def _header_html(docs: list) -> str:
    n_chunks = sum(int(d.n_chunks) for d in docs)
    return ('<div class="nr-head"><div><h1><span class="nr-logo">◆</span> NewsRAG</h1>'
            "<p>Ask questions about your news articles. Every answer cites the passage it comes from.</p>"
            f'</div><div class="nr-stats">{len(docs)} article{"s" if len(docs) != 1 else ""} · '
            f"{n_chunks} chunks</div></div>")


def build_app(assistant: Assistant) -> gr.Blocks:
    """The Blocks app over a shared ``Assistant`` (not launched; see :func:`serve`)."""
    settings = assistant.settings
    answerer = Answerer(assistant)
    uploader = Uploader(assistant)
    private: dict[str, Any] = {"api_visibility": "private"}

    def safe_docs() -> list:
        try:
            return list(assistant.documents())
        except Exception:  # noqa: BLE001 - a broken index must not break the page
            log.exception("listing the documents failed")
            return []

    def sources_of(docs: list) -> list[str]:
        return sorted({d.source for d in docs if d.source})

    def source_choices(docs: list) -> list[tuple[str, str]]:
        return [("All sources", "")] + [(s, s) for s in sources_of(docs)]

    def model_props(be: str) -> dict[str, Any]:
        info = {"local": "A GGUF model run on this machine.",
                "openai": "A model id on the configured server."}.get(be, "")
        return {"choices": answerer.model_choices(be), "value": answerer.default_model(be) or None,
                "visible": be != "extractive", "allow_custom_value": be == "openai", "info": info}

    with gr.Blocks(title=TITLE, fill_width=False, analytics_enabled=False) as demo:
        demo.newsrag_launch = launch_options(settings)  # for callers that launch it themselves
        demo.newsrag_answerer = answerer
        turns_state = gr.State([])  # this session's conversation: list[Turn]
        pending = gr.State("")  # the question being answered, handed from the textbox
        selected = gr.State("")  # doc_id open in this session's article viewer

        docs0 = safe_docs()  # initial values; demo.load refreshes them on every page load
        header = gr.HTML(_header_html(docs0), elem_id="nr-header")
        with gr.Tabs(elem_id="nr-tabs"):
            # ---------------------------------------------------------------- chat tab
            with gr.Tab("Chat", id="chat", elem_id="nr-tab-chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=320):
                        with gr.Row(equal_height=True, elem_id="nr-chat-bar"):
                            gr.HTML('<div class="nr-bar-title">Conversation</div>', min_width=120)
                            new_chat = gr.Button("New chat", size="sm", variant="secondary", scale=0,
                                                 min_width=100, elem_id="nr-new")
                        chat = gr.HTML(conversation_html([], len(docs0)), elem_id="nr-chat",
                                       js_on_load=_asset("chat.js"), autoscroll=True, apply_default_css=False)
                        with gr.Column(elem_id="nr-examples", visible=bool(docs0)) as examples_box:
                            gr.HTML('<div class="nr-examples-h">Try one of these:</div>')
                            example_btns = [gr.Button(q, size="sm", variant="secondary") for q in EXAMPLES]
                        with gr.Row(equal_height=True, elem_id="nr-ask-row"):
                            question = gr.Textbox(placeholder="Ask about the articles…", show_label=False,
                                                  lines=1, max_lines=4, scale=5, autofocus=True,
                                                  max_length=settings.max_question_chars,
                                                  elem_id="nr-question", submit_btn=False)
                            send = gr.Button("Ask", variant="primary", scale=0, min_width=80,
                                             elem_id="nr-send")
                    with gr.Column(scale=1, min_width=250, elem_id="nr-settings"):
                        with gr.Accordion("Settings", open=True, elem_id="nr-answer-settings"):
                            backend = gr.Radio([(lbl, v) for lbl, v in BACKENDS], value=settings.backend,
                                               label="Answer with", elem_id="nr-backend")
                            model = gr.Dropdown(**model_props(settings.backend), label="Model",
                                                elem_id="nr-model")
                            top_k = gr.Slider(1, min(20, settings.max_top_k), step=1,
                                              value=settings.clamp_top_k(None), label="Passages (top-k)",
                                              elem_id="nr-k")
                        with gr.Accordion("Filters", open=False, elem_id="nr-filters"):
                            f_sources = gr.Dropdown(sources_of(docs0), value=[], multiselect=True,
                                                    label="Sources", elem_id="nr-f-sources")
                            f_from = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD",
                                                max_length=10, elem_id="nr-f-from")
                            f_to = gr.Textbox(label="Published to", placeholder="YYYY-MM-DD", max_length=10,
                                              elem_id="nr-f-to")

            # ---------------------------------------------------------------- library tab
            with gr.Tab("Library", id="library", elem_id="nr-tab-library"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=280):
                        files = gr.File(label="Add articles (.txt, .md, .html, .jsonl)",
                                        file_count="multiple", file_types=list(UPLOAD_SUFFIXES),
                                        elem_id="nr-upload")
                        add_btn = gr.Button("Add to library", variant="primary", elem_id="nr-add")
                        results = gr.HTML("", elem_id="nr-results", apply_default_css=False)
                    with gr.Column(scale=2, min_width=300):
                        with gr.Row():
                            lib_query = gr.Textbox(placeholder="Search articles…", show_label=False,
                                                   scale=3, elem_id="nr-lib-search")
                            lib_source = gr.Dropdown(source_choices(docs0), value="", show_label=False,
                                                     scale=2, elem_id="nr-lib-source")
                        table = gr.HTML(library_html(docs0), elem_id="nr-library",
                                        js_on_load=_asset("library.js"), apply_default_css=False)
                        viewer = gr.HTML("", elem_id="nr-viewer", apply_default_css=False)
                        with gr.Row(visible=False) as viewer_actions:
                            remove_btn = gr.Button("Remove from library", variant="stop", size="sm", scale=0,
                                                   min_width=170, elem_id="nr-remove")
                        with gr.Row(visible=False) as confirm_row:
                            gr.HTML('<div class="nr-notice">Remove this article from the index? '
                                    "Answers will no longer cite it.</div>")
                            confirm_btn = gr.Button("Yes, remove", variant="stop", size="sm", scale=0,
                                                    min_width=110, elem_id="nr-confirm")
                            cancel_btn = gr.Button("Cancel", size="sm", scale=0, min_width=80,
                                                   elem_id="nr-cancel")

        # ==================================================================== handlers
        def take_question(text: str):
            return "", (text or "").strip()

        def respond(q: str, turns: list[Turn], be: str, mdl: str, k: float, srcs: list[str], d_from: str,
                    d_to: str):
            """Streams one answer into this session's conversation."""
            if not q:
                yield gr.skip(), turns, gr.skip()
                return
            first = True
            for now in answer_turn(answerer, q, turns, be, mdl, k, srcs, d_from, d_to):
                # n_docs only matters for an empty conversation, and this one is not empty
                yield conversation_html(now, 1), now, gr.update(visible=False) if first else gr.skip()
                first = False

        def new_conversation():
            docs = safe_docs()
            return conversation_html([], len(docs)), [], gr.update(visible=bool(docs)), ""

        def on_backend(be: str):
            return gr.update(**model_props(be))

        def refresh(turns: list[Turn], query: str, src: str):
            """Everything that depends on the index: used on page load and after library changes."""
            docs = safe_docs()
            srcs = sources_of(docs)
            src = src if src in srcs else ""
            chat_update = conversation_html([], len(docs)) if not turns else gr.skip()
            return (_header_html(docs), library_html(docs, query, src),
                    gr.update(choices=source_choices(docs), value=src),
                    gr.update(choices=srcs), chat_update, gr.update(visible=bool(docs) and not turns))

        refresh_outputs = [header, table, lib_source, f_sources, chat, examples_box]

        def upload(paths: list[str] | None, progress=gr.Progress()):
            if not paths:
                return notice_html("Choose one or more files first."), gr.skip()
            rows: list[tuple[str, str]] = []
            n = len(paths)
            for i, p in enumerate(paths):
                name = Path(p).name
                progress((i, n), desc=f"Indexing {name}", unit="files")
                try:
                    rows += uploader.ingest_one(Path(p), name)
                except RagError as exc:
                    rows.append((name, f"failed: {exc}"))
                except Exception:  # noqa: BLE001 - one bad file must not lose the others' results
                    rows.append((name, "failed: " + _unexpected(f"indexing {name}")))
            progress((n, n), desc="Done", unit="files")
            return ingest_results_html(rows), None

        def view(doc_id: str):
            doc_id = (doc_id or "").strip()
            if not _DOC_ID.match(doc_id) or doc_id not in assistant.index.manifest.docs:
                return (error_html("That article is no longer in the library."), "", gr.update(visible=False),
                        gr.update(visible=False))
            try:
                art = assistant.article(doc_id)
            except RagError as exc:
                return error_html(str(exc)), "", gr.update(visible=False), gr.update(visible=False)
            except Exception:  # noqa: BLE001
                return (error_html(_unexpected("opening the article")), "", gr.update(visible=False),
                        gr.update(visible=False))
            return article_html(art), doc_id, gr.update(visible=True), gr.update(visible=False)

        def on_view(evt: gr.EventData):
            data = getattr(evt, "_data", None) or {}
            return view(str(data.get("doc_id", "")) if isinstance(data, dict) else "")

        def remove(doc_id: str):
            try:
                entry = assistant.index.manifest.docs.get(doc_id)
                if entry is None:
                    raise RagError("That article is no longer in the library.")
                assistant.remove(doc_id)
                uploader.forget(entry.path)
                msg = notice_html(f"Removed “{entry.title or doc_id}”.")
            except RagError as exc:
                msg = error_html(str(exc))
            except Exception:  # noqa: BLE001
                msg = error_html(_unexpected("removing the article"))
            return msg, "", gr.update(visible=False), gr.update(visible=False)

        # ==================================================================== wiring
        answer_inputs = [pending, turns_state, backend, model, top_k, f_sources, f_from, f_to]
        answer_outputs = [chat, turns_state, examples_box]
        events = []
        for trigger in (question.submit, send.click):
            events.append(trigger(take_question, [question], [question, pending], queue=False, **private)
                          .then(respond, answer_inputs, answer_outputs, show_progress="hidden", **private))
        for btn in example_btns:
            events.append(btn.click(lambda q: q, [btn], [pending], queue=False, **private)
                          .then(respond, answer_inputs, answer_outputs, show_progress="hidden", **private))
        new_chat.click(new_conversation, None, [chat, turns_state, examples_box, question], cancels=events,
                       queue=False, **private)
        backend.change(on_backend, [backend], [model], queue=False, **private)

        library_refresh = [turns_state, lib_query, lib_source]
        add_btn.click(upload, [files], [results, files], concurrency_limit=1, concurrency_id="index-write",
                      **private).then(refresh, library_refresh, refresh_outputs, show_progress="hidden",
                                      **private)
        lib_query.change(lambda q, s: library_html(safe_docs(), q, s), [lib_query, lib_source], [table],
                         show_progress="hidden", **private)
        lib_source.change(lambda q, s: library_html(safe_docs(), q, s), [lib_query, lib_source], [table],
                          show_progress="hidden", **private)
        table.view_doc(on_view, None, [viewer, selected, viewer_actions, confirm_row], **private)
        remove_btn.click(lambda: (gr.update(visible=False), gr.update(visible=True)), None,
                         [viewer_actions, confirm_row], queue=False, **private)
        cancel_btn.click(lambda: (gr.update(visible=True), gr.update(visible=False)), None,
                         [viewer_actions, confirm_row], queue=False, **private)
        confirm_btn.click(remove, [selected], [viewer, selected, viewer_actions, confirm_row],
                          concurrency_limit=1, concurrency_id="index-write", **private
                          ).then(refresh, library_refresh, refresh_outputs, show_progress="hidden", **private)
        demo.load(refresh, library_refresh, refresh_outputs, show_progress="hidden", **private)

        # ---------------------------------------------------------------- the scripting API
        def ask(question: str) -> dict:
            """Answer one question (no history) with the server's default backend.

            Returns the JSON object of ``newsrag ask --json``: question, answer, refused, citations,
            timings.
            """
            try:
                return assistant.ask(question).to_contract()
            except RagError as exc:
                raise gr.Error(str(exc)) from None
            except Exception:  # noqa: BLE001
                raise gr.Error(_unexpected("answering")) from None

        gr.api(ask, api_name="ask")
    # one queue for every event; answers run CONCURRENCY at a time, the rest wait their turn
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo


# ------------------------------------------------------------------------------ serving
def parse_auth(value: str) -> tuple[str, str]:
    user, sep, password = (value or "").partition(":")
    if not sep or not user or not password:
        raise RagError("--auth (or RAG_AUTH) must look like user:password.")
    return user, password


def serve(settings: Settings, host: str | None = None, port: int | None = None, auth: str | None = None,
          insecure: bool = False) -> int:
    """Start the UI and block until interrupted. Off loopback, a password is required."""
    set_offline_env()
    host = host or settings.host
    port = port or settings.port
    auth = auth or settings.auth  # settings.auth is RAG_AUTH when set
    creds = parse_auth(auth) if auth else None
    if not is_loopback(host) and creds is None and not insecure:
        raise RagError(f"Refusing to serve on {host} without a password: anyone on the network could "
                       "use it. Pass --auth user:password (or set RAG_AUTH), or --insecure if you really "
                       "mean it.")
    if not is_loopback(host) and creds is None:
        log.warning("serving on %s without authentication (--insecure)", host)

    from rag.api import Assistant

    assistant = Assistant(settings)
    demo = None
    try:
        _ = assistant.index  # open (and repair) the index now, not in the first user's request
        if settings.backend != "extractive":
            # Loading a GGUF holds the GIL for seconds: do it before the first page is served,
            # not during the first user's question. A failure here is shown per question instead.
            try:
                _ = assistant.chain().backend
            except RagError as exc:
                log.warning("%s", exc)
                print(f"warning: {exc}", flush=True)
        demo = build_app(assistant)
        shown = f"[{host}]" if ":" in host else host
        print(f"NewsRAG on http://{shown}:{port}  (backend: {settings.backend}; Ctrl+C to stop)", flush=True)
        try:
            demo.launch(server_name=host, server_port=port, auth=creds, **demo.newsrag_launch)
        except OSError as exc:
            raise RagError(f"Cannot listen on {host}:{port} ({exc}); is another server using the port? "
                           "Pick one with --port.") from exc
    finally:
        if demo is not None:
            demo.newsrag_answerer.close()
        assistant.close()
    return 0
