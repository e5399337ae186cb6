"""``NewsIndex`` in server mode: every app process shares one ``chroma run`` server.

What differs from the embedded index (rag/index/store.py; both build on rag/index/base.py):

* the manifest, article texts and writer lock live in the server (rag/index/server_meta.py); the
  ``state`` record's generation is the commit point instead of ``manifest.json``;
* the manifest is loaded at open from this machine's snapshot of the generation the server's ``state``
  record commits (rag/index/manifest_snapshot.py, ``RAG_MANIFEST_SNAPSHOT``; checked against that record's
  count and checksum), else read from the server's article records and saved as the snapshot;
* BM25 is loaded from this machine's snapshot of the generation (rag/index/bm25_snapshot.py,
  ``RAG_BM25_SNAPSHOT``), else rebuilt in memory from the chunk texts stored in Chroma and saved as the
  snapshot: at open, and whenever the generation moves (checked at most every ``RAG_SYNC_INTERVAL_S``
  seconds, default 0.5, when the manifest is read: i.e. before a query). A process that rebuilt or
  wrote holds the chunk texts and keeps them current (fetching only new articles' texts), for its
  next build; one that only loaded snapshots holds none (its memory stays small), and fetches them all
  when it has to build: a snapshot missing, or its first write (before it takes the writer lock);
* repair of an interrupted ingest happens when a writer takes the lock (never at open: an ingest
  running in another process would look interrupted);
* a writer re-reads the committed state under the lock and merges: articles another process
  committed meanwhile are not added twice, and the newest version of a source key wins.
"""

from __future__ import annotations

import logging
import threading
import time

from rag.faults import crash_point
from rag.index.base import Chunker, IndexBase
from rag.index.bm25 import BM25Index
from rag.index.bm25_snapshot import BM25Snapshots
from rag.index.manifest import DocEntry, Manifest
from rag.index.manifest_snapshot import ManifestSnapshots
from rag.index.server_meta import ServerArticleStore, ServerLock, ServerMeta
from rag.settings import Settings
from rag.types import Article, Chunk, RagError, meta_of

log = logging.getLogger(__name__)


class ServerNewsIndex(IndexBase):
    ORPHAN_CHUNKS_NOTE = ("{n} chunk(s) in Chroma not in the manifest (an ingest is running, or was "
                          "interrupted: they are removed at the next ingest)")

    def __init__(self, settings: Settings, embedder=None, repair: bool = True, check_model: bool = True,
                 chunker: Chunker | None = None):
        """``repair`` is accepted for the common signature and ignored: a server index repairs when a writer
        takes the lock, never at open (an ingest running in another process would look interrupted)."""
        from rag.index.chroma_store import ChromaStore

        super().__init__(settings, embedder, chunker)  # root stays unused for data: everything is on the server
        self.where = f"chroma://{settings.chroma_host}:{settings.chroma_port}/{settings.collection}"
        self._chroma = ChromaStore(settings, self.model_id, self.embedder.dim, verify_model=check_model)
        self.meta = ServerMeta(self._chroma.client, settings.collection)
        self.lock = ServerLock(self.meta, settings.lock_ttl_s)
        self.articles = ServerArticleStore(self.meta, self.where)
        self._rw = threading.RLock()
        self._sync_lock = threading.RLock()
        self._interval = settings.sync_interval_s
        # chunk texts of the docs this process's BM25 was built from; None when it came from a snapshot
        self._texts: dict[str, list[tuple[str, str]]] | None = None
        self.snapshots = (BM25Snapshots(settings.resolved_bm25_cache_dir, settings.collection, str(self.meta.col.id))
                          if settings.bm25_snapshot else None)
        self.manifest_snapshots = (ManifestSnapshots(settings.resolved_manifest_cache_dir, settings.collection,
                                                     str(self.meta.col.id)) if settings.manifest_snapshot else None)
        self._manifest = self._open_manifest()
        self.adopt_built_with(self._manifest)
        self._checked = time.monotonic()
        if check_model:
            self._check_model()
        self._chroma.visible = self._visible
        self.bm25, self._texts = self._bm25_at(self._manifest, ())

    # ------------------------------------------------------------------ shared state
    @property
    def manifest(self) -> Manifest:
        if time.monotonic() - self._checked >= self._interval:
            self.sync()
        return self._manifest

    @manifest.setter
    def manifest(self, m: Manifest) -> None:
        self._manifest = m

    @property
    def chroma(self):
        return self._chroma

    def _visible(self, doc_id: str) -> bool:
        return doc_id in self._manifest.docs

    def sync(self, force: bool = False) -> bool:
        """Catch up with commits made by other processes. True when the generation moved."""
        with self._sync_lock:
            if not force and time.monotonic() - self._checked < self._interval:
                return False
            self._checked = time.monotonic()
            old = self._manifest
            if self.meta.generation() == old.generation:
                return False
            got = self.meta.update_manifest(old)
            if got is None:
                log.info("manifest delta did not check out; reloading it whole")
                m = self.meta.load_manifest()
                added, removed = set(m.docs) - set(old.docs), set(old.docs) - set(m.docs)
            else:
                m, added, removed = got
            bm, texts = self._bm25_at(m, added)
            self.articles.forget(removed)
            self._manifest, self._texts, self.bm25 = m, texts, bm
            self.adopt_built_with(m)  # the first articles may have come from another process
            self._save_manifest_snapshot(m)  # verified against the state: the next process here loads it
            log.info("index at generation %d (%d added, %d removed by another process)", m.generation,
                     len(added), len(removed))
            return True

    def _open_manifest(self) -> Manifest:
        """The committed manifest: this machine's snapshot of the generation the server's ``state`` commits
        (one small ``get``), else every article record read from the server, then saved as the snapshot."""
        if self.manifest_snapshots is None:
            return self.meta.load_manifest()
        m = self.manifest_snapshots.load(self.meta.read_state())
        if m is None:
            m = self.meta.load_manifest()
            self.manifest_snapshots.save(m)
        return m

    def _save_manifest_snapshot(self, m: Manifest) -> None:
        if self.manifest_snapshots is not None:
            self.manifest_snapshots.save(m)  # nothing written when this generation's is saved already

    def _fetch_texts(self, m: Manifest, doc_ids: list[str] | None) -> dict[str, list[tuple[str, str]]]:
        got = self._chroma.texts_by_doc(doc_ids) if doc_ids is None or doc_ids else {}
        out = {d: v for d, v in got.items() if d in m.docs}
        short = [d for d in (doc_ids if doc_ids is not None else m.docs)
                 if len(out.get(d, [])) != m.docs[d].n_chunks]
        if short:
            log.warning("%d article(s) have fewer chunks in Chroma than the manifest lists (e.g. %s); "
                        "run `newsrag index check`", len(short), short[0])
        return out

    def _texts_of(self, m: Manifest, added) -> dict[str, list[tuple[str, str]]]:
        """Chunk texts of every doc of ``m``: the held ones plus ``added``'s, or all of them fetched anew when
        this process holds none (its BM25 came from a snapshot)."""
        if self._texts is None:
            return self._fetch_texts(m, None) if m.docs else {}
        texts = {d: v for d, v in self._texts.items() if d in m.docs}
        texts.update(self._fetch_texts(m, sorted(added)))
        return texts

    def _bm25_at(self, m: Manifest, added) -> tuple[BM25Index, dict[str, list[tuple[str, str]]] | None]:
        """BM25 at ``m``'s generation, and the texts to hold from now on: the snapshot when there is one
        (no texts), else rebuilt from the texts, then saved as the snapshot for the next process."""
        if self.snapshots is not None:
            bm = self.snapshots.load(m)
            if bm is not None:  # texts stay held (and current) in a process that holds them: a writer
                return bm, (self._texts_of(m, added) if self._texts is not None else None)
        texts = self._texts_of(m, added)
        bm = self._bm25_for(m, texts)
        if self.snapshots is not None:
            self.snapshots.save(m, bm)
        return bm, texts

    @staticmethod
    def _bm25_for(m: Manifest, texts: dict[str, list[tuple[str, str]]]) -> BM25Index:
        ids, bodies = [], []
        for d in sorted(m.docs):
            for cid, t in texts.get(d, []):
                ids.append(cid)
                bodies.append(t)
        return BM25Index.build(ids, bodies, m.generation)

    def _load_bm25(self) -> None:
        self.bm25, self._texts = self._bm25_at(self._manifest, ())

    # ------------------------------------------------------------------ consistency
    def repair(self) -> None:
        """Undo what an interrupted writer left. Caller holds the writer lock (no other writer runs)."""
        self._repair_records()
        self._repair_chunks(self._manifest, f"on {self.where}", "`newsrag index rebuild`")

    def _manifest_to_check(self) -> Manifest:
        self.sync(force=True)
        return self._manifest

    def _article_problems(self, m: Manifest) -> list[str]:
        problems = []
        lost = set(m.docs) - self.meta.all_doc_ids()
        if lost:
            problems.append(f"{len(lost)} article record(s) missing on the server (e.g. {sorted(lost)[0]}); "
                            "re-ingest their files")
        pending_add, pending_rem, _ = self.meta.stale_records(m.generation)
        if pending_add or pending_rem:
            problems.append(f"{len(pending_add) + len(pending_rem)} uncommitted article change(s) (an ingest is "
                            "running, or was interrupted: undone at the next ingest)")
        return problems

    def _bm25_problems(self, m: Manifest, expected: set[str]) -> list[str]:
        bm_ids = self.bm25.ids if self.bm25 is not None else []  # this process's, in memory
        if set(bm_ids) != expected or len(bm_ids) != len(expected):
            return ["this process's BM25 index and the manifest list different chunks"]
        return []

    # ------------------------------------------------------------------ writes
    def _repair_records(self) -> None:
        """Undo an interrupted writer's article records. Caller holds the writer lock."""
        pending_add, pending_rem, _ = self.meta.stale_records(self._manifest.generation)
        if pending_add:
            log.warning("removing %d uncommitted article record(s) left by an interrupted ingest", len(pending_add))
            self.meta.delete_docs(pending_add)
        if pending_rem:
            self.meta.reset_removed(pending_rem)

    def _hold_texts(self) -> None:
        """Fetch every chunk text, once, before a write takes the writer lock: the BM25 build needs them,
        and at 1M chunks fetching them takes minutes, longer than the lock lives unrefreshed."""
        with self._sync_lock:
            if self._texts is None:
                log.info("fetching every chunk text for the BM25 build of this write")
                self._texts = self._fetch_texts(self._manifest, None) if self._manifest.docs else {}

    def commit(self, new: list[tuple[Article, list[Chunk], str, str]], remove,
               furniture: dict[str, dict[str, int]] | None = None, progress=None) -> int:
        self._hold_texts()
        with self._rw, self.lock.hold():
            self.sync(force=True)
            self.repair()
            m = self._manifest
            remove = [d for d in remove if d in m.docs]
            # merge with what other processes committed since the caller computed its changes
            new = [x for x in new if x[0].doc_id not in m.docs]
            by_key = {d.key: d.doc_id for d in m.docs.values()}
            for _, _, key, _ in new:
                other = by_key.get(key)
                if other is not None and other not in remove:
                    remove.append(other)
            return self._commit_locked(m, new, remove, furniture, progress)

    def _commit_locked(self, base: Manifest, new, remove: list[str], furniture, progress,
                       drop_records: list[str] | None = None) -> int:
        m = base.model_copy(deep=True)
        gen = m.generation + 1
        entries = [(art, DocEntry(doc_id=art.doc_id, key=key, path=art.path, content_hash=chash,
                                  n_chunks=len(cs), **meta_of(art), ingested_at=art.ingested_at))
                   for art, cs, key, chash in new]
        # 1-2: article records and vectors, invisible to readers until the state says `gen`
        self.meta.put_docs(entries, gen)
        crash_point("articles-written")
        all_chunks = [(a, c) for a, cs, _, _ in new for c in cs]
        self._embed_and_upsert(all_chunks, progress, on_batch=self.lock.refresh)
        # 3: next manifest and this process's BM25
        for doc_id in remove:
            m.docs.pop(doc_id, None)
        for art, entry in entries:
            m.docs[art.doc_id] = entry
        if furniture is not None:
            m.furniture = furniture
        m.generation = gen
        m.embed_model, m.embed_dim, m.chunk_tokens = self.model_id, self.embedder.dim, self.chunk_limit
        m.embed_precision = getattr(self.embedder, "recorded_precision", "")
        kept = Manifest(generation=m.generation, docs={d: e for d, e in base.docs.items() if d in m.docs})
        texts = self._texts_of(kept, ())  # held since ``_hold_texts`` (a rebuild keeps none)
        texts.update({a.doc_id: [(c.chunk_id, c.text) for c in cs] for a, cs, _, _ in new})
        self.lock.refresh()  # the BM25 build takes a while on a large corpus
        bm = self._bm25_for(m, texts)
        crash_point("bm25-saved")
        # 4: commit (the lock is re-checked: an expired lock may have been taken over)
        with self._sync_lock:
            self.lock.check()
            if self.meta.generation() != gen - 1:
                raise RagError("Another process committed to the index while this ingest held the writer "
                               "lock (its lock had expired); nothing was committed. Retry.")
            self.meta.mark_removed(remove + list(drop_records or []), gen)
            self.meta.write_state(m)
            crash_point("manifest-saved")
            self._manifest, self._texts, self.bm25 = m, texts, bm
            self._checked = time.monotonic()
        # the next app process on this machine loads this generation's BM25 instead of rebuilding it;
        # saved only now, after the commit point, so no snapshot exists of a generation never committed
        if self.snapshots is not None:
            self.snapshots.save(m, bm)
        self._save_manifest_snapshot(m)
        # 5: cleanup. Chunks of removed articles go now (readers filter by their manifest anyway);
        # their article records one generation later, so a reader one commit behind still finds them.
        stale = [cid for d in remove if d in base.docs for cid in base.docs[d].chunk_ids()]
        if stale:
            crash_point("cleanup")
            self._chroma.delete(stale)
        _, _, done = self.meta.stale_records(gen)
        done = [d for d in done if d not in m.docs]
        if done:
            self.meta.delete_docs(done)
        self.articles.forget(remove)
        return len(all_chunks)

    def rebuild(self, progress=None) -> int:
        """Re-embed every committed article from its stored text into a fresh vector collection.

        Other processes see no passages until it commits (their next query after it sees all)."""
        with self._rw, self.lock.hold():
            self.sync(force=True)
            self._repair_records()
            self.use_configured()
            m = self._manifest
            ids = sorted(m.docs)
            arts: list[Article] = []
            for i in range(0, len(ids), 200):
                got = self.meta.get_articles(ids[i:i + 200])
                arts.extend(got[d] for d in ids[i:i + 200] if d in got)
            lost = sorted(set(ids) - {a.doc_id for a in arts})
            if lost:
                log.warning("%d article record(s) are unreadable and are dropped (e.g. %s)", len(lost), lost[0])
            self._chroma.reset_collection(self.model_id, self.embedder.dim)
            new = []
            for art in arts:
                e = m.docs[art.doc_id]
                new.append((art, self.chunker(art), e.key, e.content_hash))
            base = Manifest(generation=m.generation, furniture=m.furniture)
            return self._commit_locked(base, new, [], m.furniture, progress, drop_records=lost)
