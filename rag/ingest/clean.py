"""Generic cleaning of scraped article text.

What is removed, and why it is safe:
- control and zero-width characters, runs of spaces, more than one blank line (layout noise);
- a title line repeated at the top (scrapers often emit the <title> and the <h1>): kept once;
- trailing site furniture: short lines that are not sentences after the last paragraph
  ("Shafaq Live", "Radio radio icon 42"), and lines that repeat across many articles of one source.
The body is never rewritten inside a sentence, so citations keep pointing at the original wording.
"""

from __future__ import annotations

import re
import unicodedata

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_SENTENCE_END = re.compile(r"[.!?:;\"'\u201d\u2019)\]]$")
_BYLINE = re.compile(r"^\s*([A-Z][\w&.'-]*(?:\s+[A-Z][\w&.'-]*){0,4})\s*/\s*")


def normalise(text: str) -> str:
    """NFC, no control/zero-width chars, single spaces, lines stripped, at most one blank line."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ZERO_WIDTH.sub("", text)
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", ln).strip() for ln in text.split("\n")]
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def line_key(line: str) -> str:
    return re.sub(r"\W+", " ", line.casefold()).strip()


def is_furniture_line(line: str, max_words: int = 6) -> bool:
    """A short line that does not read as a sentence (no final punctuation)."""
    s = line.strip()
    if not s:
        return True
    words = s.split()
    return len(words) <= max_words and not _SENTENCE_END.search(s)


def drop_repeated_title(lines: list[str]) -> list[str]:
    """Keep the first non-empty line once when it is repeated at the top."""
    idx = [i for i, ln in enumerate(lines) if ln.strip()]
    if len(idx) < 2:
        return lines
    first = line_key(lines[idx[0]])
    drop = set()
    for i in idx[1:4]:
        if line_key(lines[i]) == first:
            drop.add(i)
        else:
            break
    return [ln for i, ln in enumerate(lines) if i not in drop]


def drop_trailing_furniture(lines: list[str]) -> list[str]:
    """Remove short non-sentence lines after the last real paragraph."""
    end = len(lines)
    body_lines = sum(1 for ln in lines if ln.strip() and not is_furniture_line(ln))
    if body_lines == 0:
        return lines  # nothing sentence-like: not ours to judge, keep everything
    while end > 0 and is_furniture_line(lines[end - 1]):
        end -= 1
    return lines[:end]


def drop_lines(lines: list[str], keys: set[str]) -> list[str]:
    return [ln for ln in lines if not (ln.strip() and line_key(ln) in keys)]


def clean_text(text: str, title: str = "", furniture: set[str] | None = None) -> str:
    """Clean one article. ``furniture``: line keys repeated across many docs of the same source."""
    lines = normalise(text).split("\n")
    if furniture:
        lines = drop_lines(lines, furniture)
    lines = drop_repeated_title(lines)
    if title:
        # A title given by metadata and repeated as the first line: keep one copy.
        idx = [i for i, ln in enumerate(lines) if ln.strip()]
        if len(idx) >= 2 and line_key(lines[idx[0]]) == line_key(title) == line_key(lines[idx[1]]):
            del lines[idx[1]]
    lines = drop_trailing_furniture(lines)
    return normalise("\n".join(lines))


def guess_source(text: str) -> str:
    """A wire byline such as "Shafaq News/ ..." at the start of a paragraph names the source."""
    for para in text.split("\n")[:8]:
        m = _BYLINE.match(para)
        if m and len(m.group(1)) <= 40:
            return m.group(1).strip()
    return ""


_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_ISO = re.compile(r"\b((?:19|20)\d{2})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\b")
_LONG = re.compile(rf"\b({_MONTHS})\.?\s+(\d{{1,2}}),?\s+((?:19|20)\d{{2}})\b")
_LONG2 = re.compile(rf"\b(\d{{1,2}})\s+({_MONTHS})\s+((?:19|20)\d{{2}})\b")


def find_date(text: str) -> str:
    """The first full date in the text as ISO ``YYYY-MM-DD``, else ""."""
    months = {m: i + 1 for i, m in enumerate(_MONTHS.split("|"))}
    best: tuple[int, str] | None = None
    for rx, fmt in ((_ISO, "iso"), (_LONG, "mdy"), (_LONG2, "dmy")):
        m = rx.search(text)
        if not m:
            continue
        if fmt == "iso":
            iso = m.group(0)
        elif fmt == "mdy":
            iso = f"{m.group(3)}-{months[m.group(1)]:02d}-{int(m.group(2)):02d}"
        else:
            iso = f"{m.group(3)}-{months[m.group(2)]:02d}-{int(m.group(1)):02d}"
        if best is None or m.start() < best[0]:
            best = (m.start(), iso)
    return normalise_date(best[1]) if best else ""


def normalise_date(value: str) -> str:
    """Accept ISO dates/datetimes or common formats; return ``YYYY-MM-DD`` or ""."""
    if not value:
        return ""
    value = str(value).strip()
    m = re.match(r"^((?:19|20)\d{2})-(\d{1,2})-(\d{1,2})", value)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if 1 <= mo <= 12 and 1 <= d <= 31:
            return f"{y:04d}-{mo:02d}-{d:02d}"
        return ""
    if re.fullmatch(r"(?:19|20)\d{2}", value):
        return ""
    return find_date(value) if len(value) < 60 else ""
