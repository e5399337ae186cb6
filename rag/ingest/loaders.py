"""Load files into raw article records: txt, md, html/htm, jsonl/json, directories.

Every problem becomes a ``LoadFailure`` naming the file (and line) and what to do; a bad file
never stops the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".jsonl", ".json", ".ndjson"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES
_OPTIONAL_STR_FIELDS = ("title", "url", "source", "published", "id")
# JSON escapes can encode lone UTF-16 surrogates ("\\ud800"): valid JSON, but no text encoder or
# tokenizer accepts them, so they become U+FFFD before anything else sees the string.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(value: str) -> str:
    return _LONE_SURROGATE.sub("\ufffd", value)


# Extra JSON fields travel as Chroma metadata on every chunk; Chroma rejects a whole upsert for one
# empty key, an integer past 64 bits or a NaN, so only values it accepts (and a bounded size) are kept.
_EXTRA_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_MAX_EXTRA_CHARS = 1000


def _extra_value_ok(v: Any) -> bool:
    if isinstance(v, bool):
        return True
    if isinstance(v, int):
        return -(2**63) <= v < 2**63
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, str) and len(v) <= _MAX_EXTRA_CHARS


@dataclass
class RawRecord:
    key: str  # identity of the article's origin: a path, or path#id / path:line for records
    path: str  # the file it came from
    text: str
    title: str = ""
    source: str = ""
    url: str = ""
    published: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""
    where: str = ""  # path:line (or path:item) of a JSON record, for messages


@dataclass
class LoadFailure:
    path: str
    reason: str


def discover(paths: list[str | Path]) -> tuple[list[Path], list[LoadFailure]]:
    """Expand directories recursively (supported suffixes only, hidden files skipped)."""
    files: list[Path] = []
    failures: list[LoadFailure] = []
    for p in paths:
        path = Path(p).expanduser()
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_symlink() and not f.exists() and f.suffix.lower() in SUPPORTED:
                    failures.append(LoadFailure(str(f), "broken symbolic link (its target does not exist)"))
                elif f.is_file() and f.suffix.lower() in SUPPORTED and not any(
                    part.startswith(".") for part in f.relative_to(path).parts
                ):
                    files.append(f)
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED:
                files.append(path)
            else:
                failures.append(LoadFailure(str(path), f"unsupported file type {path.suffix or '(none)'!r}; "
                                            f"use one of {', '.join(sorted(SUPPORTED))}"))
        elif path.exists():
            failures.append(LoadFailure(str(path), "not a regular file"))
        else:
            failures.append(LoadFailure(str(path), "no such file or directory"))
    seen: set[Path] = set()
    unique = []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique, failures


def decode(data: bytes) -> str:
    """UTF-8 when valid, else the charset charset-normalizer detects; raises ValueError."""
    if b"\x00" in data[:8192] and not (data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff")):
        raise ValueError("binary file (contains NUL bytes); only text, HTML and JSON lines are accepted")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        results = from_bytes(data)
        best = results.best()
        if best is None:
            raise ValueError("could not detect the text encoding; save the file as UTF-8") from None
        # Ties are common on short texts; the web's most common legacy encodings win them.
        ties = [r for r in results if r.chaos == best.chaos and r.coherence == best.coherence]
        for preferred in ("cp1252", "latin_1", "iso8859_15", "cp1251", "gb18030", "shift_jis"):
            pick = next((r for r in ties if r.encoding == preferred), None)
            if pick is not None:
                best = pick
                break
        text = str(best)
    text = unicodedata.normalize("NFC", text)
    # Mostly-unprintable text is binary in disguise (e.g. a decoded image).
    sample = text[:20000]
    if sample:
        bad = sum(1 for ch in sample if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") and ch not in "\n\r\t")
        if bad / len(sample) > 0.1:
            raise ValueError("binary or corrupt content (mostly unprintable characters)")
    return text


def _hash(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def load_file(path: Path, max_bytes: int) -> tuple[list[RawRecord], list[LoadFailure]]:
    """Read one file into records. Never raises for bad content."""
    spath = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return [], [LoadFailure(spath, f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit "
                                    "(raise RAG_MAX_FILE_MB or split the file)")]
        data = path.read_bytes()
    except PermissionError:
        return [], [LoadFailure(spath, "permission denied; check the file's read permissions")]
    except OSError as exc:
        return [], [LoadFailure(spath, f"cannot read the file ({exc.strerror or exc})")]
    if not data.strip():
        return [], [LoadFailure(spath, "empty file")]
    try:
        text = decode(data)
    except ValueError as exc:
        return [], [LoadFailure(spath, str(exc))]
    suffix = path.suffix.lower()
    try:
        if suffix in JSON_SUFFIXES:
            return _load_json(path, text)
        if suffix in HTML_SUFFIXES:
            rec = _load_html(path, text, _hash(data))
        else:
            rec = _load_text(path, text, _hash(data))
    except Exception as exc:  # noqa: BLE001 - a parser bug on odd input must not stop the ingest
        log.debug("parser failure on %s", path, exc_info=True)
        return [], [LoadFailure(spath, f"could not parse the file ({exc.__class__.__name__}: {exc})")]
    if rec is None or not rec.text.strip():
        return [], [LoadFailure(spath, "no article text found")]
    return [rec], []


def _load_text(path: Path, text: str, h: str) -> RawRecord:
    from rag.ingest.clean import find_date, guess_source, normalise

    if path.suffix.lower() in (".md", ".markdown"):
        # heading markers are markup, not article text
        text = re.sub(r"(?m)^[ \t]{0,3}#{1,6}[ \t]+", "", text)
    norm = normalise(text)
    title = next((ln for ln in norm.split("\n") if ln.strip()), "")
    return RawRecord(
        key=str(path), path=str(path), text=text, title=title[:300], source=guess_source(norm),
        published=find_date(norm[:3000]), content_hash=h,
    )


def _load_html(path: Path, text: str, h: str) -> RawRecord | None:
    import trafilatura

    from rag.ingest.clean import guess_source, normalise_date

    doc = trafilatura.bare_extraction(text, with_metadata=True, include_comments=False, favor_recall=True)
    if doc is None:
        return None
    d = doc if isinstance(doc, dict) else doc.as_dict()
    body = d.get("text") or ""
    title = (d.get("title") or "").strip()
    if title and not body.lstrip().startswith(title):
        body = f"{title}\n\n{body}"
    return RawRecord(
        key=str(path), path=str(path), text=body, title=title[:300],
        source=(d.get("sitename") or "") or guess_source(body), url=d.get("url") or "",
        published=normalise_date(d.get("date") or "") or _html_meta_date(text), content_hash=h,
    )


_META_DATE = re.compile(
    r'<meta[^>]+(?:name|property|itemprop)=["\'](?:date|pubdate|publishdate|dc\.date|article:published_time|'
    r'datePublished|og:published_time)["\'][^>]*content=["\']([^"\']+)|<time[^>]+datetime=["\']([^"\']+)', re.I)


def _html_meta_date(html: str) -> str:
    """Fallback for dates htmldate rejects (it refuses dates after today, e.g. embargoed pieces)."""
    from rag.ingest.clean import normalise_date

    m = _META_DATE.search(html[:200_000])
    return normalise_date(m.group(1) or m.group(2)) if m else ""


def _load_json(path: Path, text: str) -> tuple[list[RawRecord], list[LoadFailure]]:
    records: list[RawRecord] = []
    failures: list[LoadFailure] = []
    items: list[tuple[int, Any]] = []
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped[:1] in "[{":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            return [], [LoadFailure(f"{path}:{exc.lineno}", f"malformed JSON ({exc.msg}); fix the file or use "
                                    "one JSON object per line (.jsonl)")]
        if isinstance(obj, dict) and isinstance(obj.get("articles"), list):
            obj = obj["articles"]
        items = list(enumerate(obj if isinstance(obj, list) else [obj], start=1))
        loc = "item"
    else:
        loc = "line"
        for n, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                items.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                failures.append(LoadFailure(f"{path}:{n}", f"line {n}: malformed JSON ({exc.msg})"))
    for n, obj in items:
        where = f"{path}:{n}"
        if not isinstance(obj, dict):
            failures.append(LoadFailure(where, f"{loc} {n}: expected a JSON object with a \"text\" field, "
                                        f"got {type(obj).__name__}"))
            continue
        body = obj.get("text")
        if not isinstance(body, str) or not body.strip():
            failures.append(LoadFailure(where, f"{loc} {n}: field \"text\" is required and must be a non-empty "
                                        "string"))
            continue
        bad = [k for k in _OPTIONAL_STR_FIELDS if k in obj and obj[k] is not None
               and not isinstance(obj[k], (str, int))]
        if bad:
            failures.append(LoadFailure(where, f"{loc} {n}: field(s) {', '.join(bad)} must be strings"))
            continue
        rec = _record_from_obj(path, n, obj)
        records.append(rec)
    if not records and not failures:
        failures.append(LoadFailure(str(path), "no records found"))
    return records, failures


def _record_from_obj(path: Path, n: int, obj: dict[str, Any]) -> RawRecord:
    from rag.ingest.clean import guess_source, normalise_date

    def field(name: str) -> str:
        return _no_surrogates(str(obj.get(name) or ""))

    body = unicodedata.normalize("NFC", _no_surrogates(obj["text"]))
    title = field("title").strip()
    url = field("url").strip()
    ext_id = _no_surrogates(str(obj["id"])) if obj.get("id") not in (None, "") else ""
    extra = {k: _no_surrogates(v) if isinstance(v, str) else v for k, v in obj.items()
             if k not in ("text", "title", "url", "source", "published", "id")
             and _EXTRA_KEY.match(k) and _extra_value_ok(v)}
    if ext_id:
        extra["ext_id"] = ext_id
    if title and not body.lstrip().startswith(title):
        body = f"{title}\n\n{body}"
    elif not title:
        title = next((ln.strip() for ln in body.split("\n") if ln.strip()), "")[:300]
    return RawRecord(
        key=f"{path}#{ext_id}" if ext_id else f"{path}:{n}", path=str(path), text=body,
        title=unicodedata.normalize("NFC", title)[:300],
        # both go on every chunk as metadata: a megabyte "url" is no link, and a source is a name
        source=field("source")[:200] or guess_source(body), url=url if len(url) <= 2000 else "",
        published=normalise_date(field("published")), extra=extra,
        content_hash=_hash(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)),
        where=f"{path}:{n}",
    )
