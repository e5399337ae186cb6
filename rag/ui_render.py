"""HTML for the chat UI, built by hand so that every piece of untrusted text is escaped.

Article text, titles, sources, file names and model output all come from outside: each one goes
through :func:`esc` before it touches markup, and only ``http(s)`` URLs ever become links. Nothing
here renders markdown, so model output cannot smuggle in tags, and the one piece of structure we add
to it (the ``[n]`` citation buttons) is inserted after escaping, by matching digits only.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

EMPTY_INDEX_HINT = "Add articles in the Library tab or run `newsrag ingest PATH`."

_MARKER = re.compile(r"\[(\d{1,3})\]")
_CODE_INGEST = "<code>newsrag ingest PATH</code>"


def esc(value: Any) -> str:
    """Escape text for element content and quoted attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL, else None (``javascript:``, ``data:`` … never link)."""
    if not url or not isinstance(url, str):
        return None
    url = url.strip()
    if any(ch in url for ch in "\x00\r\n\t") or " " in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def link(url: str | None, label: str) -> str:
    """An external link for a safe URL; the escaped URL as plain text otherwise."""
    ok = safe_url(url)
    if ok is None:
        return f'<span class="nr-url-text">{esc(url)}</span>' if url else ""
    return f'<a href="{esc(ok)}" target="_blank" rel="noopener noreferrer nofollow">{esc(label)}</a>'


def _paragraphs(text: str) -> str:
    """Escaped text with blank-line paragraphs and line breaks kept."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]
    return "".join(f"<p>{esc(p).replace(chr(10), '<br>')}</p>" for p in paras)


def highlight(passage: str, quote: str) -> str:
    """The passage, escaped, with the supporting sentence wrapped in ``<mark>``."""
    passage = passage or ""
    quote = (quote or "").strip()
    i = passage.find(quote) if quote else -1
    if i < 0:
        # the chain guarantees quote ⊂ text; if that ever breaks, still show the quote marked
        body = esc(passage)
        return (f"<mark>{esc(quote)}</mark><br>{body}" if quote else body).replace("\n", "<br>")
    before, after = passage[:i], passage[i + len(quote):]
    return (f"{esc(before)}<mark>{esc(quote)}</mark>{esc(after)}").replace("\n", "<br>")


def _meta_line(source: str, published: str, url: str) -> str:
    bits = [f'<span class="nr-source">{esc(source or "Unknown source")}</span>']
    if published:
        bits.append(f'<time>{esc(published)}</time>')
    lk = link(url, "Open article ↗")
    if lk:
        bits.append(lk)
    return '<span class="nr-sep"> · </span>'.join(bits)


# --------------------------------------------------------------------------------- chat
@dataclass
class Turn:
    """One question and what became of it. Lives in per-session ``gr.State``, never in globals."""

    question: str
    status: str = "pending"  # pending | streaming | done | error
    partial: str = ""  # streamed, unverified text
    answer: Any = None  # rag.types.Answer once done
    error: str = ""
    settings_note: str = ""  # e.g. "extractive · 2 filters"
    extra: dict = field(default_factory=dict)


def answer_text_html(text: str, cited: Iterable[int], turn_id: int) -> str:
    """Escaped answer text with each known ``[n]`` made a button that opens source n."""
    known = set(cited)

    def repl(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in known:
            return m.group(0)
        return (f'<button type="button" class="nr-cite" data-target="nr-src-{turn_id}-{n}" '
                f'aria-label="Show source {n}" title="Show source {n}">[{n}]</button>')

    return _MARKER.sub(repl, esc(text)).replace("\n", "<br>")


def citation_html(c: Any, turn_id: int, open_: bool = False) -> str:
    title = c.title or "Untitled article"
    return (
        f'<details class="nr-src" id="nr-src-{turn_id}-{int(c.n)}"{" open" if open_ else ""}>'
        f'<summary><span class="nr-n">[{int(c.n)}]</span> <span class="nr-title">{esc(title)}</span>'
        f'<span class="nr-meta-inline"> — {esc(c.source or "Unknown source")}'
        f'{", " + esc(c.published) if c.published else ""}</span></summary>'
        f'<div class="nr-src-body"><div class="nr-meta">{_meta_line(c.source, c.published, c.url)}</div>'
        f'<blockquote class="nr-passage">{highlight(c.text, c.quote)}</blockquote></div></details>'
    )


def passage_html(p: Any) -> str:
    title = p.title or "Untitled article"
    return (
        f'<div class="nr-closest"><div class="nr-closest-title">{esc(title)}</div>'
        f'<div class="nr-meta">{_meta_line(p.source, p.published, p.url)}</div>'
        f'<blockquote class="nr-passage">{esc(p.text).replace(chr(10), "<br>")}</blockquote></div>'
    )


# who produced an answer, in the reader's words (Answer.origin)
ORIGIN_LABELS = {
    "model": "the model's wording, checked against the sources",
    "recited": "the model's wording, citations corrected",
    "quote": "quoted from the article (the model's wording failed the check)",
    "extractive": "quoted from the article",
}


def _answer_html(answer: Any, turn_id: int) -> str:
    if answer.refused:
        closest = ""
        if answer.passages:
            closest = ('<div class="nr-sources"><div class="nr-sources-h">Closest passages</div>'
                       + "".join(passage_html(p) for p in answer.passages[:3]) + "</div>")
        reason = getattr(answer, "refusal", None)
        why = f'<div class="nr-why">{esc(reason.text)}</div>' if reason is not None and reason.text else ""
        return (f'<div class="nr-answer nr-refused" role="status"><span class="nr-refusal-icon">∅</span>'
                f'{answer_text_html(answer.text, (), turn_id)}{why}</div>{closest}')
    cites = list(answer.citations)
    body = f'<div class="nr-answer">{answer_text_html(answer.text, [c.n for c in cites], turn_id)}</div>'
    if not cites:
        return body
    return (body + '<div class="nr-sources"><div class="nr-sources-h">Sources</div>'
            + "".join(citation_html(c, turn_id) for c in cites) + "</div>")


def turn_html(turn: Turn, turn_id: int) -> str:
    q = f'<div class="nr-msg nr-user"><div class="nr-bubble">{esc(turn.question)}</div></div>'
    if turn.status == "error":
        inner = ('<div class="nr-error" role="alert"><strong>Could not answer.</strong> '
                 f'{esc(turn.error)}</div>')
    elif turn.status == "done" and turn.answer is not None:
        inner = _answer_html(turn.answer, turn_id)
        footer = []
        if turn.answer.backend:
            footer.append(esc(turn.answer.backend))
        who = ORIGIN_LABELS.get(getattr(turn.answer, "origin", ""), "")
        if who:
            footer.append(f'<span class="nr-origin" title="who produced this answer">{esc(who)}</span>')
        total = getattr(turn.answer.timings, "total_ms", 0) or 0
        if total:
            footer.append(f"{total / 1000:.1f} s" if total >= 1000 else f"{total:.0f} ms")
        if turn.settings_note:
            footer.append(esc(turn.settings_note))
        if footer:
            inner += f'<div class="nr-foot">{" · ".join(footer)}</div>'
    elif turn.partial:
        inner = (f'<div class="nr-answer nr-streaming">{esc(turn.partial).replace(chr(10), "<br>")}'
                 '<span class="nr-caret"></span></div><div class="nr-foot">Checking the citations…</div>')
    else:
        inner = '<div class="nr-answer nr-pending"><span class="nr-dots">Reading the articles</span></div>'
    return f'{q}<div class="nr-msg nr-bot" data-status="{esc(turn.status)}">{inner}</div>'


def conversation_html(turns: Sequence[Turn], n_docs: int) -> str:
    if not turns:
        return welcome_html(n_docs)
    return ('<div class="nr-log">' + "".join(turn_html(t, i) for i, t in enumerate(turns)) + "</div>")


def welcome_html(n_docs: int) -> str:
    if n_docs == 0:
        return ('<div class="nr-empty"><div class="nr-empty-title">No articles yet</div>'
                f'<p>{esc(EMPTY_INDEX_HINT).replace("`newsrag ingest PATH`", _CODE_INGEST)}</p>'
                "<p>Then ask a question: answers cite the passages they come from, and say so plainly "
                "when the articles don't hold the answer.</p></div>")
    return ('<div class="nr-empty"><div class="nr-empty-title">Ask about the news</div>'
            f"<p>{n_docs} article{'s' if n_docs != 1 else ''} indexed. Every answer cites its sources: "
            "click a <span class=\"nr-cite nr-cite-demo\">[1]</span> to see the passage it comes from. "
            "Follow-up questions use the conversation.</p></div>")


def error_html(message: str) -> str:
    return f'<div class="nr-error" role="alert">{esc(message)}</div>'


def notice_html(message: str) -> str:
    return f'<div class="nr-notice" role="status">{esc(message)}</div>'


# --------------------------------------------------------------------------------- library
def library_html(docs: Sequence[Any], query: str = "", source: str = "") -> str:
    """The article table, filtered by a free-text query and a source."""
    total = len(docs)
    q = (query or "").strip().lower()
    rows = [d for d in docs
            if (not source or d.source == source)
            and (not q or q in f"{d.title} {d.source} {d.published} {d.doc_id}".lower())]
    if total == 0:
        return ('<div class="nr-empty nr-empty-small"><div class="nr-empty-title">The library is empty</div>'
                "<p>Upload .txt, .md, .html or .jsonl files above, or run <code>newsrag ingest PATH</code>."
                "</p></div>")
    head = (f'<div class="nr-lib-count">{len(rows)} of {total} article{"s" if total != 1 else ""}'
            f'{" shown" if len(rows) != total else ""}</div>')
    if not rows:
        return head + '<div class="nr-notice">No article matches this search.</div>'
    body = []
    for d in rows:
        body.append(
            f'<tr data-doc="{esc(d.doc_id)}"><td class="nr-col-title"><span class="nr-title">'
            f'{esc(d.title or "Untitled article")}</span><span class="nr-docid">{esc(d.doc_id)}</span></td>'
            f'<td class="nr-col-source">{esc(d.source or "—")}</td>'
            f'<td class="nr-col-date">{esc(d.published or "—")}</td>'
            f'<td class="nr-col-chunks">{int(d.n_chunks)}</td>'
            f'<td class="nr-col-act"><button type="button" class="nr-view" data-doc="{esc(d.doc_id)}">View'
            "</button></td></tr>")
    return (head + '<div class="nr-table-wrap"><table class="nr-table"><thead><tr>'
            '<th class="nr-col-title">Title</th><th class="nr-col-source">Source</th>'
            '<th class="nr-col-date">Date</th><th class="nr-col-chunks">Chunks</th>'
            '<th class="nr-col-act"><span class="nr-sr">Actions</span></th>'
            f'</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def article_html(article: Any) -> str:
    title = article.title or "Untitled article"
    return (
        f'<article class="nr-article"><h3>{esc(title)}</h3>'
        f'<div class="nr-meta">{_meta_line(article.source, article.published, article.url)}'
        f'<span class="nr-sep"> · </span><span class="nr-docid">{esc(article.doc_id)}</span></div>'
        f'<div class="nr-article-text">{_paragraphs(article.text)}</div></article>'
    )


_RESULT_CLASS = {"added": "ok", "updated": "ok", "unchanged": "same"}


def ingest_results_html(rows: Sequence[tuple[str, str]]) -> str:
    """Per-file outcome rows ``(display name, "added"|"updated"|"unchanged"|"failed: reason")``."""
    if not rows:
        return ""
    items = []
    for name, result in rows:
        kind = _RESULT_CLASS.get(result, "fail" if result.startswith("failed") else "same")
        label, _, reason = result.partition(": ")
        why = f'<span class="nr-reason">{esc(reason)}</span>' if reason else ""
        items.append(f'<li class="nr-res nr-res-{kind}"><span class="nr-badge">{esc(label)}</span>'
                     f'<span class="nr-file">{esc(name)}</span>{why}</li>')
    return f'<ul class="nr-results">{"".join(items)}</ul>'
