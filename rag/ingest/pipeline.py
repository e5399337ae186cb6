"""The ingest pipeline: discover -> load -> clean -> identify -> chunk -> commit to the index."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

from rag.ingest.clean import clean_text, is_furniture_line, line_key, normalise
from rag.ingest.loaders import RawRecord, discover, load_file
from rag.types import Article, IngestFailure, IngestReport, meta_of

log = logging.getLogger(__name__)


def doc_id_for(text: str, salt: str = "") -> str:
    h = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
    if salt:
        h.update(b"\x00" + salt.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:20]


def _furniture_keys(records: list[RawRecord], known: dict[str, dict[str, int]], min_docs: int):
    """Short lines repeated in >= min_docs articles of one source (this batch plus earlier ingests)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for src, table in known.items():
        counts[src].update(table)
    for rec in records:
        if not rec.source:
            continue
        keys = {line_key(ln) for ln in normalise(rec.text).split("\n")
                if ln.strip() and is_furniture_line(ln, max_words=8)}
        counts[rec.source].update(k for k in keys if k)
    table = {src: dict(c) for src, c in counts.items()}
    flagged = {src: {k for k, n in c.items() if n >= min_docs} for src, c in counts.items()}
    return table, flagged


def ingest(index, paths: list[str | Path], prune: bool = False, show_progress: bool = False) -> IngestReport:
    """Ingest files/directories into ``index`` (an ``IndexBackend``). Bad files are reported, never fatal."""
    t0 = time.perf_counter()
    settings = index.settings
    report = IngestReport()
    files, failures = discover(paths)
    report.failed.extend(IngestFailure(path=f.path, reason=f.reason) for f in failures)
    for f in failures:
        report.files[f.path] = f"failed: {f.reason}"

    records: list[RawRecord] = []
    loaded_files: set[str] = set()
    max_bytes = int(settings.max_file_mb * 1024 * 1024)
    for path in files:
        recs, fails = load_file(path, max_bytes)
        for f in fails:
            report.failed.append(IngestFailure(path=f.path, reason=f.reason))
            report.files[f.path] = f"failed: {f.reason}"
        if recs:
            loaded_files.add(str(path))
        records.extend(recs)

    manifest = index.manifest
    by_key = manifest.by_key()
    furniture_table, flagged = _furniture_keys(records, manifest.furniture, settings.furniture_min_docs)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")

    new: list[tuple[Article, list, str, str]] = []
    remove: set[str] = set()
    seen_keys: set[str] = set()
    batch_ids: dict[str, str] = {}  # doc_id -> key, for equal texts within this batch
    for rec in records:
        if rec.key in seen_keys:
            # two records of one JSON file with the same "id": the key must name one article
            reason = (f"duplicate \"id\" {rec.extra.get('ext_id', '')!r}: an earlier record of this file "
                      "has the same id, so this one was skipped; give every record its own id")
            report.failed.append(IngestFailure(path=rec.where or rec.key, reason=reason))
            report.files[rec.where or rec.key] = f"failed: {reason}"
            continue
        seen_keys.add(rec.key)
        old = by_key.get(rec.key)
        if old is not None and old.content_hash == rec.content_hash:
            report.documents_unchanged += 1
            report.files[rec.key] = "unchanged"
            continue
        text = clean_text(rec.text, rec.title, flagged.get(rec.source))
        if not text.strip():
            report.failed.append(IngestFailure(path=rec.key, reason="no article text left after cleaning"))
            report.files[rec.key] = "failed: no article text left after cleaning"
            continue
        doc_id = doc_id_for(text)
        owner = manifest.docs.get(doc_id)
        if (owner is not None and owner.key != rec.key) or (batch_ids.get(doc_id, rec.key) != rec.key):
            doc_id = doc_id_for(text, rec.key)  # same text in distinct files: keep both
        if old is not None and old.doc_id == doc_id:
            report.documents_unchanged += 1  # bytes changed, cleaned text did not
            report.files[rec.key] = "unchanged"
            continue
        batch_ids[doc_id] = rec.key
        art = Article(doc_id=doc_id, text=text, **meta_of(rec), path=rec.path, ingested_at=now, content_hash=rec.content_hash,
                      extra=rec.extra)
        chunks = index.chunker(art)  # the index's own chunker: a rebuild re-derives the same chunks
        if not chunks:
            report.failed.append(IngestFailure(path=rec.key, reason="no sentences found"))
            continue
        new.append((art, chunks, rec.key, rec.content_hash))
        if old is not None:
            remove.add(old.doc_id)
            report.documents_updated += 1
            report.files[rec.key] = "updated"
        else:
            report.documents_added += 1
            report.files[rec.key] = "added"

    # Records that disappeared from a re-ingested JSON file, and (with --prune) files that are gone.
    for entry in manifest.docs.values():
        if entry.key in seen_keys or entry.doc_id in remove:
            continue
        if entry.path in loaded_files and entry.key != entry.path:
            remove.add(entry.doc_id)
        elif prune and not Path(entry.path).exists() and _under(entry.path, paths):
            remove.add(entry.doc_id)
    report.documents_removed = len(remove) - report.documents_updated

    if new or remove or furniture_table != manifest.furniture:
        total = sum(len(c) for _, c, _, _ in new)
        bar = None
        if show_progress and total > 64:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="chunk", desc="Embedding")
        try:
            report.chunks_added = index.commit(new, sorted(remove), furniture=furniture_table,
                                               progress=bar.update if bar else None)
        finally:
            if bar:
                bar.close()
    report.seconds = time.perf_counter() - t0
    return report


def _under(path: str, roots: list[str | Path]) -> bool:
    """Prune only articles whose file lived under one of the given paths."""
    p = Path(path).resolve()
    for r in roots:
        rr = Path(r).expanduser().resolve()
        if p == rr or rr in p.parents:
            return True
    return False
