"""NewsIndex: the one object that owns Chroma, BM25, the article store and the manifest.

Write protocol of an ingest (each step idempotent; the manifest rename is the commit point):
  0. marker file .commit-pending                (tells the next open to look for orphan article files)
  1. article JSON files for new articles     (orphans until committed)
  2. Chroma upsert of their chunks          (orphans until committed)
  3. BM25 rebuilt with the next generation  (mismatch until committed -> rebuilt at open)
  4. manifest written atomically            <- commit
  5. chunks/articles of replaced or removed articles deleted (leftovers are orphans -> removed at open),
     then the marker
Opening for writing repairs whatever an interrupted run left; ``check()`` reports without repairing.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

from rag.faults import crash_point
from rag.index.articles import ArticleStore
from rag.index.bm25 import BM25Index
from rag.index.base import Chunker, IndexBase
from rag.index.manifest import DocEntry, Manifest, load_manifest, save_manifest, write_atomic
from rag.settings import Settings
from rag.types import Article, Chunk, RagError, meta_of

log = logging.getLogger(__name__)


class IndexLock:
    """An exclusive writer lock (flock): released by the kernel if the process dies, so never stale."""

    def __init__(self, path: Path):
        self.path = path
        self._fh = None
        self._tlock = threading.RLock()
        self._depth = 0

    @contextmanager
    def hold(self, timeout: float = 60.0):
        with self._tlock:
            if self._depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fh = open(self.path, "a+")  # noqa: SIM115 - held across the context
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            fh.seek(0)
                            holder = fh.read().strip() or "unknown"
                            fh.close()
                            raise RagError(
                                f"Another newsrag process (pid {holder}) is writing to {self.path.parent}. "
                                "Wait for it to finish, or stop it and retry."
                            ) from None
                        time.sleep(0.2)
                fh.seek(0)
                fh.truncate()
                fh.write(str(os.getpid()))
                fh.flush()
                self._fh = fh
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fh is not None:
                    fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
                    self._fh.close()
                    self._fh = None


class EmbeddedIndex(IndexBase):
    """The index of one deployment, stored under ``settings.index_dir`` (Chroma embedded in this process).
    ``rag.index.backend.open_index`` opens this one or the server index (rag/index/server_index.py), so
    this class never sees server-mode settings."""

    ORPHAN_CHUNKS_NOTE = ("{n} orphan chunk(s) in Chroma not in the manifest (interrupted ingest); "
                          "they are removed at the next ingest, or run `newsrag index rebuild`")

    def __init__(self, settings: Settings, embedder=None, repair: bool = True, check_model: bool = True,
                 chunker: Chunker | None = None):
        super().__init__(settings, embedder, chunker)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = IndexLock(self.root / ".lock")
        self.articles = ArticleStore(self.root / "articles")
        self.manifest_path = self.root / "manifest.json"
        self._bm25_path = self.root / "bm25"
        self._rw = threading.RLock()  # one writer at a time inside this process
        self.manifest = load_manifest(self.manifest_path) or Manifest()
        if repair and self._manifest_lost():
            raise RagError(
                f"The index manifest {self.manifest_path} is missing, but {self.root} holds indexed articles. "
                f"Run `newsrag index rebuild --index {self.root}` to rebuild it from the stored articles."
            )
        self.adopt_built_with(self.manifest)
        if check_model:
            self._check_model()
        self._chroma = None
        self._chroma_lock = threading.Lock()
        self._chroma_opening: tuple[threading.Thread, list] | None = None
        self.bm25: BM25Index | None = None
        if repair and self.manifest.docs and self.manifest.embed_dim:
            # Chroma loads a collection's HNSW graph on the first operation (~2 s at 100k chunks, in Rust,
            # without the GIL): let it load in a thread while this one loads the embedding model and BM25.
            self._open_chroma_in_background(self.manifest.embed_dim)
            self.embedder.dim  # noqa: B018 - loads the model now, in parallel with Chroma
        if repair:
            with self.lock.hold():
                self.repair()
        else:
            # read-only open (`index check`, `index rebuild`): write nothing, so check() reports damage as
            # found; a missing or stale BM25 stays None (the retriever then searches dense only)
            bm = BM25Index.load(self._bm25_path)
            self.bm25 = bm if bm is not None and bm.generation == self.manifest.generation else None

    # ------------------------------------------------------------------ components
    def _open_chroma_in_background(self, dim: int) -> None:
        from rag.index.chroma_store import ChromaStore

        box: list = []

        def work() -> None:
            try:
                store = ChromaStore(self.settings, self.model_id, dim)
                store.count()  # the first operation is the one that loads the collection
                box.append(store)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                box.append(exc)

        thread = threading.Thread(target=work, name="chroma-open", daemon=True)
        thread.start()
        self._chroma_opening = (thread, box)

    @property
    def chroma(self):
        if self._chroma is None:
            with self._chroma_lock:
                if self._chroma is None:
                    opening, self._chroma_opening = self._chroma_opening, None
                    if opening is not None:
                        opening[0].join()
                        got = opening[1][0]
                        if isinstance(got, BaseException):
                            raise got
                        self._chroma = got
                    else:
                        from rag.index.chroma_store import ChromaStore

                        self._chroma = ChromaStore(self.settings, self.model_id, self.embedder.dim)
        return self._chroma

    def _load_bm25(self) -> None:
        bm = BM25Index.load(self._bm25_path)
        if bm is None or bm.generation != self.manifest.generation:
            if self.manifest.docs:
                log.info("BM25 index is missing or stale; rebuilding from the stored articles")
            bm = self._build_bm25(self.manifest)
            bm.save(self._bm25_path)
        self.bm25 = bm

    def _chunk_texts(self, manifest: Manifest) -> tuple[list[str], list[str]]:
        ids, texts = [], []
        for entry in manifest.docs.values():
            chunks = self.chunks_of(entry.doc_id, entry.n_chunks)
            for c in chunks:
                ids.append(c.chunk_id)
                texts.append(c.text)
        return ids, texts

    def _build_bm25(self, manifest: Manifest) -> BM25Index:
        ids, texts = self._chunk_texts(manifest)
        return BM25Index.build(ids, texts, manifest.generation)

    # ------------------------------------------------------------------ consistency
    def _article_problems(self, m: Manifest) -> list[str]:
        problems = []
        stored = self.articles.all_ids()
        lost = set(m.docs) - stored
        if lost:
            problems.append(f"{len(lost)} article text(s) missing from {self.articles.root} "
                            f"(e.g. {sorted(lost)[0]}); re-ingest their files")
        corrupt = self.articles.unreadable(sorted(set(m.docs) & stored))
        if corrupt:
            paths = ", ".join(m.docs[d].path or d for d in corrupt[:3])
            problems.append(f"{len(corrupt)} article text file(s) in {self.articles.root} are corrupt (e.g. "
                            f"{corrupt[0]}); their text cannot be restored: re-ingest their files ({paths})")
        extra = stored - set(m.docs)
        if extra:
            problems.append(f"{len(extra)} orphan article file(s) not in the manifest (interrupted ingest)")
        return problems

    def _bm25_problems(self, m: Manifest, expected: set[str]) -> list[str]:
        bm = BM25Index.load(self._bm25_path)  # the saved one: what the next open loads
        if bm is None and m.docs:
            return ["the BM25 index is missing or unreadable; run `newsrag index rebuild`"]
        if bm is not None:
            if bm.generation != m.generation:
                return [f"the BM25 index is at generation {bm.generation}, the manifest at "
                        f"{m.generation} (interrupted ingest); it is rebuilt at the next open"]
            if set(bm.ids) != expected or len(bm.ids) != len(expected):
                return ["the BM25 index and the manifest list different chunks; run `newsrag index rebuild`"]
        return []

    def repair(self) -> None:
        """Remove orphans of an interrupted ingest and bring BM25 in line. Caller holds the lock."""
        m = self.manifest
        self._repair_chunks(m, f"in {self.root}", f"`newsrag index rebuild --index {self.root}`")
        # Orphan article files exist only after an interrupted commit, which leaves its marker behind:
        # listing every article file at each open would cost seconds at a million articles.
        if self._pending_marker.exists():
            for doc_id in self.articles.all_ids() - set(m.docs):
                self.articles.delete(doc_id)
        self._load_bm25()
        self._pending_marker.unlink(missing_ok=True)

    @property
    def _pending_marker(self) -> Path:
        return self.root / ".commit-pending"

    def _manifest_lost(self) -> bool:
        """No manifest, no interrupted first commit, yet stored articles: the manifest was deleted. Opening
        normally would treat every article as an orphan; only a rebuild can restore the index."""
        if self.manifest_path.exists() or self._pending_marker.exists():
            return False
        return next(iter(self.articles.root.glob("*/*.json")), None) is not None

    # ------------------------------------------------------------------ writes
    def commit(self, new: list[tuple[Article, list[Chunk], str, str]], remove: Iterable[str],
               furniture: dict[str, dict[str, int]] | None = None, progress=None) -> int:
        """Add ``new`` (article, chunks, key, content_hash) and remove doc ids, atomically. Returns chunks added."""
        remove = [d for d in remove if d in self.manifest.docs]
        with self._rw, self.lock.hold():
            m = self.manifest.model_copy(deep=True)
            write_atomic(self._pending_marker, str(m.generation + 1).encode())  # see repair()
            # 1-2: article texts and vectors
            all_chunks = [(a, c) for a, cs, _, _ in new for c in cs]
            for art, _, _, _ in new:
                self.articles.put(art)
            crash_point("articles-written")
            self._embed_and_upsert(all_chunks, progress)
            # 3: manifest content + BM25 at the next generation
            for doc_id in remove:
                m.docs.pop(doc_id, None)
            for art, cs, key, chash in new:
                m.docs[art.doc_id] = DocEntry(
                    doc_id=art.doc_id, key=key, path=art.path, content_hash=chash, n_chunks=len(cs),
                    **meta_of(art), ingested_at=art.ingested_at)
            if furniture is not None:
                m.furniture = furniture
            m.generation += 1
            m.embed_model, m.embed_dim, m.chunk_tokens = self.model_id, self.embedder.dim, self.chunk_limit
            m.embed_precision = getattr(self.embedder, "recorded_precision", "")
            ids, bm_texts = self._chunk_texts_incremental(m, {a.doc_id: cs for a, cs, _, _ in new})
            bm = BM25Index.build(ids, bm_texts, m.generation)
            bm.save(self._bm25_path)
            crash_point("bm25-saved")
            # 4: commit
            save_manifest(self.manifest_path, m)
            crash_point("manifest-saved")
            old = self.manifest
            self.manifest, self.bm25 = m, bm
            # 5: clean up what the committed manifest no longer lists
            stale = [cid for d in remove for cid in old.docs[d].chunk_ids() if d not in m.docs]
            if stale:
                crash_point("cleanup")
                self.chroma.delete(stale)
            for d in remove:
                if d not in m.docs:
                    self.articles.delete(d)
            self._pending_marker.unlink(missing_ok=True)
            return len(all_chunks)

    def _chunk_texts_incremental(self, m: Manifest, fresh: dict[str, list[Chunk]]):
        """All chunk texts for BM25: new articles' from ``fresh``, the others' read back from Chroma.

        Re-chunking every stored article costs ~6 ms of CPU each (tokenizer + sentence splitter), i.e.
        minutes per ingest at 100k articles; Chroma already holds the same chunk texts. An article whose
        chunks Chroma does not list completely is re-chunked from its stored text, as before."""
        stored: dict[str, list[tuple[str, str]]] = {}
        if any(d not in fresh for d in m.docs):
            try:
                stored = self.chroma.texts_by_doc(None)
            except RagError as exc:
                log.warning("reading chunk texts from Chroma failed (%s); re-chunking the stored articles", exc)
        ids, texts = [], []
        for entry in m.docs.values():
            if entry.doc_id in fresh:
                pairs = [(c.chunk_id, c.text) for c in fresh[entry.doc_id]]
            else:
                pairs = stored.get(entry.doc_id, [])
                if [cid for cid, _ in pairs] != entry.chunk_ids():
                    pairs = [(c.chunk_id, c.text) for c in self.chunks_of(entry.doc_id, entry.n_chunks)]
            for cid, t in pairs:
                ids.append(cid)
                texts.append(t)
        return ids, texts

    def rebuild(self, progress=None) -> int:
        """Re-create Chroma and BM25 from the stored article texts (no original files needed)."""
        with self._rw, self.lock.hold():
            self.use_configured()
            m = self.manifest
            stored = self.articles.all_ids()
            arts = []
            for doc_id in sorted(stored):
                try:
                    arts.append(self.articles.get(doc_id))
                except RagError as exc:
                    log.warning("skipping %s: %s", doc_id, exc)
                    self.articles.set_aside(doc_id)  # kept for inspection, no longer an "orphan"
            keys = {d.doc_id: (d.key, d.content_hash) for d in m.docs.values()}
            # Recreate the embedded store from scratch: it may be the damaged part.
            import shutil

            from chromadb.api.client import SharedSystemClient

            self._chroma = None
            SharedSystemClient.clear_system_cache()
            shutil.rmtree(self.root / "chroma", ignore_errors=True)
            self.chroma.reset_collection(self.model_id, self.embedder.dim)
            fresh = Manifest(furniture=m.furniture, generation=m.generation)
            self.manifest = fresh
            new = []
            for art in arts:
                key, chash = keys.get(art.doc_id, (art.path or art.doc_id, ""))
                new.append((art, self.chunker(art), key, chash))
            return self.commit(new, [], furniture=m.furniture, progress=progress)
