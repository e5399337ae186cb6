"""Rebuilding an index from its stored article texts: the one repair path, used by the API (and so by the
CLI's ``newsrag index rebuild`` and the UI).

Vectors and BM25 are re-derived from the article store, also when the manifest is unreadable or gone:
then the article store is the only record of what was indexed, and the manifest is restored from it.
Interrupted-ingest repair (orphans, stale BM25) happens at open, in the backends themselves.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from rag.index.backend import IndexBackend, open_index
from rag.index.manifest import DocEntry, Manifest, load_manifest
from rag.settings import Settings
from rag.types import RagError, meta_of

log = logging.getLogger(__name__)

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


@dataclass
class RebuildResult:
    articles: int
    chunks: int
    index_dir: Path
    # articles the manifest listed whose stored text is missing or corrupt: only a re-ingest restores them
    lost: list[DocEntry] = field(default_factory=list)
    # where an unreadable manifest was moved (kept for inspection), if it was
    manifest_set_aside: Path | None = None


def rebuild_index(settings: Settings, progress=None) -> RebuildResult:
    """Re-embed every stored article into fresh Chroma and BM25 indexes. The caller must not hold the index
    open for writing (the API drops its handle first)."""
    manifest_path = Path(settings.index_dir) / "manifest.json"
    aside = None
    try:
        before = load_manifest(manifest_path)
    except RagError:
        aside = manifest_path.with_name(f"manifest.json.corrupt-{int(time.time())}")
        manifest_path.replace(aside)  # kept for inspection; nothing reads it again
        log.warning("the manifest was unreadable; moved it to %s", aside)
        before = None
    ix = open_index(settings, repair=False, check_model=False)
    if before is None:
        ix.manifest = manifest_from_articles(ix)
    n = ix.rebuild(progress)
    lost = [d for d in (before.docs.values() if before else []) if d.doc_id not in ix.manifest.docs]
    return RebuildResult(articles=len(ix.manifest.docs), chunks=n, index_dir=Path(settings.index_dir),
                         lost=lost, manifest_set_aside=aside)


def manifest_from_articles(ix: IndexBackend) -> Manifest:
    """Manifest entries for the stored articles when the manifest itself is lost.

    The source key is what the next ingest matches files by: a file's path, ``path#id`` for a JSON record
    with an id. A JSON record without one was keyed by its line number, which the article does not keep;
    it gets a placeholder key that the next ingest of its file replaces (such records are re-embedded)."""
    docs = {}
    for doc_id in sorted(ix.articles.all_ids()):
        try:
            art = ix.articles.get(doc_id)
        except Exception:  # noqa: BLE001 - rebuild() skips (and reports) what cannot be read
            continue
        json_record = Path(art.path).suffix.lower() in JSON_SUFFIXES
        ext_id = str(art.extra.get("ext_id", "")) if json_record else ""
        key = f"{art.path}#{ext_id}" if ext_id else f"{art.path}:restored-{doc_id}" if json_record else art.path
        docs[doc_id] = DocEntry(doc_id=doc_id, key=key or doc_id, path=art.path, content_hash="", n_chunks=0,
                                **meta_of(art), ingested_at=art.ingested_at)
    return Manifest(docs=docs)
