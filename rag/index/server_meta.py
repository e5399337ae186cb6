"""Server mode: the manifest, article texts and writer lock, kept in Chroma itself.

When several app processes share one ``chroma run`` server, nothing may live in one process's files:
every process must see the same articles at the same commit. So a side collection
``<collection>__meta`` holds (with a 1-d dummy vector, since Chroma records need one):

* ``state``: the commit point. ``generation`` (a counter), the embedding model, chunking settings,
  ``n_docs`` and ``docs_xor`` (an order-free checksum of the live doc ids) and, as its document,
  the furniture table.
* ``doc:<doc_id>``: one record per article: the ``DocEntry`` fields as metadata, the article JSON as
  document, and ``gen_added``/``gen_removed``. A process at generation G sees exactly the docs with
  ``gen_added <= G`` and (``gen_removed == 0`` or ``gen_removed > G``): a writer's records for G+1
  stay invisible until ``state`` says G+1, so every reader moves from one commit to the next.
* ``lock``: the writer lock. Chroma's ``add`` ignores an id that exists, so adding the lock record is
  an atomic test-and-set; ``delete(ids, where=owner)`` is a conditional release, and a lock whose
  ``expires`` passed (its holder died) is taken over the same way. Writers refresh it as they go and
  re-check it, and the generation, just before committing.

Readers poll ``state`` (one small ``get``, a few ms) at most every ``RAG_SYNC_INTERVAL_S`` seconds
and load only the records changed since their generation, verified against ``n_docs``/``docs_xor``
(a full reload when they disagree, e.g. records were cleaned up in between).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any

from rag.index.manifest import DocEntry, Manifest
from rag.types import Article, RagError

log = logging.getLogger(__name__)

SIDE_SUFFIX = "__meta"
STATE_ID = "state"
LOCK_ID = "lock"
DOC_PREFIX = "doc:"
_PAGE = 5000
_DUMMY = [0.0]
_ENTRY_FIELDS = ("doc_id", "key", "path", "content_hash", "n_chunks", "title", "source", "url", "published",
                 "ingested_at")


def doc_hash(doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "big")


def docs_checksum(doc_ids) -> str:
    x = 0
    for d in doc_ids:
        x ^= doc_hash(d)
    return f"{x:016x}"


def _entry_meta(entry: DocEntry, gen_added: int) -> dict[str, Any]:
    meta: dict[str, Any] = {k: getattr(entry, k) for k in _ENTRY_FIELDS}
    meta.update(kind="doc", gen_added=gen_added, gen_removed=0)
    return meta


def _entry_from_meta(meta: dict[str, Any]) -> DocEntry:
    return DocEntry(**{k: meta.get(k, "" if k != "n_chunks" else 0) for k in _ENTRY_FIELDS})


class ServerMeta:
    """The side collection of one server-mode index."""

    def __init__(self, client, collection: str):
        self.name = collection + SIDE_SUFFIX
        try:
            self.col = client.get_or_create_collection(self.name, embedding_function=None,
                                                       metadata={"newsrag": "meta", "format": 1})
        except Exception as exc:  # noqa: BLE001
            raise RagError(f"Cannot open the Chroma collection {self.name!r} on the server ({exc}).") from exc

    # ------------------------------------------------------------------ state (commit point)
    def read_state(self) -> dict[str, Any]:
        res = self.col.get(ids=[STATE_ID], include=["metadatas", "documents"])
        if not res["ids"]:
            return {"generation": 0, "furniture": {}}
        meta = dict(res["metadatas"][0] or {})
        try:
            meta["furniture"] = json.loads(res["documents"][0] or "{}")
        except ValueError:
            meta["furniture"] = {}
        return meta

    def generation(self) -> int:
        res = self.col.get(ids=[STATE_ID], include=["metadatas"])
        return int((res["metadatas"][0] or {}).get("generation", 0)) if res["ids"] else 0

    def write_state(self, m: Manifest) -> None:
        meta = {"kind": "state", "generation": m.generation, "embed_model": m.embed_model, "embed_dim": m.embed_dim,
                "chunk_tokens": m.chunk_tokens, "embed_precision": m.embed_precision, "n_docs": len(m.docs), "docs_xor": docs_checksum(m.docs)}
        self.col.upsert(ids=[STATE_ID], embeddings=[_DUMMY], metadatas=[meta], documents=[json.dumps(m.furniture)])

    # ------------------------------------------------------------------ manifest
    def _get_all(self, where: dict, include: list[str]) -> dict[str, tuple[dict, str | None]]:
        out: dict[str, tuple[dict, str | None]] = {}
        offset = 0
        while True:
            res = self.col.get(where=where, include=include, limit=_PAGE, offset=offset)
            docs = res.get("documents") or [None] * len(res["ids"])
            metas = res.get("metadatas") or [None] * len(res["ids"])
            for rid, meta, doc in zip(res["ids"], metas, docs, strict=True):
                out[rid] = (dict(meta or {}), doc)
            if len(res["ids"]) < _PAGE:
                return out
            offset += len(res["ids"])

    def load_manifest(self, attempts: int = 3) -> Manifest:
        """The manifest at the current generation, checked against the state's count and checksum."""
        for _ in range(attempts):
            state = self.read_state()
            g = int(state.get("generation", 0))
            m = self._manifest_from_state(state)
            recs = self._get_all({"$and": [{"kind": "doc"}, {"gen_added": {"$lte": g}}]}, ["metadatas"])
            for meta, _ in recs.values():
                rem = int(meta.get("gen_removed", 0))
                if rem == 0 or rem > g:
                    e = _entry_from_meta(meta)
                    m.docs[e.doc_id] = e
            if self.verify(m, state):
                return m
            log.info("manifest changed while loading (generation %d); reloading", g)
        raise RagError("Could not read a consistent manifest from the Chroma server (it kept changing); retry.")

    @staticmethod
    def _manifest_from_state(state: dict[str, Any]) -> Manifest:
        return Manifest(generation=int(state.get("generation", 0)), embed_model=str(state.get("embed_model", "")),
                        embed_dim=int(state.get("embed_dim", 0)), chunk_tokens=int(state.get("chunk_tokens", 0)),
                        embed_precision=str(state.get("embed_precision", "")), furniture=state.get("furniture") or {})

    @staticmethod
    def verify(m: Manifest, state: dict[str, Any]) -> bool:
        if "n_docs" not in state:  # nothing committed yet
            return not m.docs
        return len(m.docs) == int(state["n_docs"]) and docs_checksum(m.docs) == state.get("docs_xor")

    def update_manifest(self, old: Manifest) -> tuple[Manifest, set[str], set[str]] | None:
        """Move ``old`` to the current generation by loading only what changed since.

        Returns (manifest, added doc ids, removed doc ids), or None when the delta does not check
        out (the caller then does a full ``load_manifest``)."""
        state = self.read_state()
        g, g0 = int(state.get("generation", 0)), old.generation
        if g == g0:
            return old, set(), set()
        where = {"$and": [{"kind": "doc"}, {"$or": [
            {"$and": [{"gen_added": {"$gt": g0}}, {"gen_added": {"$lte": g}}]},
            {"$and": [{"gen_removed": {"$gt": g0}}, {"gen_removed": {"$lte": g}}]}]}]}
        m = self._manifest_from_state(state)
        m.docs = dict(old.docs)
        added, removed = set(), set()
        for meta, _ in self._get_all(where, ["metadatas"]).values():
            e = _entry_from_meta(meta)
            rem = int(meta.get("gen_removed", 0))
            if rem and g0 < rem <= g:
                if m.docs.pop(e.doc_id, None) is not None:
                    removed.add(e.doc_id)
            elif int(meta.get("gen_added", 0)) <= g and e.doc_id not in m.docs:
                m.docs[e.doc_id] = e
                added.add(e.doc_id)
        if not self.verify(m, state):
            return None
        return m, added, removed

    # ------------------------------------------------------------------ documents
    def put_docs(self, items: list[tuple[Article, DocEntry]], gen: int) -> None:
        for i in range(0, len(items), 500):
            part = items[i:i + 500]
            self.col.upsert(ids=[DOC_PREFIX + a.doc_id for a, _ in part], embeddings=[_DUMMY] * len(part),
                            metadatas=[_entry_meta(e, gen) for _, e in part],
                            documents=[a.model_dump_json() for a, _ in part])

    def mark_removed(self, doc_ids: list[str], gen: int) -> None:
        for i in range(0, len(doc_ids), 500):
            part = doc_ids[i:i + 500]
            self.col.update(ids=[DOC_PREFIX + d for d in part], metadatas=[{"gen_removed": gen}] * len(part))

    def get_articles(self, doc_ids: list[str]) -> dict[str, Article]:
        if not doc_ids:
            return {}
        res = self.col.get(ids=[DOC_PREFIX + d for d in doc_ids], include=["documents"])
        out = {}
        for rid, doc in zip(res["ids"], res["documents"], strict=True):
            try:
                out[rid[len(DOC_PREFIX):]] = Article.model_validate_json(doc or "")
            except ValueError as exc:
                raise RagError(f"The article record {rid} on the Chroma server is corrupt ({exc.__class__.__name__}); "
                               "re-ingest its source file.") from exc
        return out

    def all_doc_ids(self) -> set[str]:
        return {rid[len(DOC_PREFIX):] for rid in self._get_all({"kind": "doc"}, [])}

    def stale_records(self, g: int) -> tuple[list[str], list[str], list[str]]:
        """(pending adds above g, pending removals above g, removals at or below g-1 to delete now)."""
        recs = self._get_all({"$and": [{"kind": "doc"}, {"$or": [{"gen_added": {"$gt": g}},
                                                                 {"gen_removed": {"$gt": 0}}]}]}, ["metadatas"])
        pending_add, pending_rem, done = [], [], []
        for rid, (meta, _) in recs.items():
            d = rid[len(DOC_PREFIX):]
            rem = int(meta.get("gen_removed", 0))
            if int(meta.get("gen_added", 0)) > g:
                pending_add.append(d)
            elif rem > g:
                pending_rem.append(d)
            elif 0 < rem < g:
                done.append(d)
        return pending_add, pending_rem, done

    def reset_removed(self, doc_ids: list[str]) -> None:
        self.mark_removed(doc_ids, 0)

    def delete_docs(self, doc_ids: list[str]) -> None:
        for i in range(0, len(doc_ids), 500):
            self.col.delete(ids=[DOC_PREFIX + d for d in doc_ids[i:i + 500]])


class ServerLock:
    """A writer lock shared by every process using the server (see the module doc).

    Re-entrant within one process, like ``IndexLock``; ``refresh()`` extends it during long ingests.
    """

    def __init__(self, meta: ServerMeta, ttl_s: float | None = None):
        self.meta = meta
        self.ttl = float(ttl_s or 120)  # the product passes settings.lock_ttl_s (RAG_LOCK_TTL_S)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tlock = threading.RLock()
        self._depth = 0
        self._last_refresh = 0.0

    def _read(self) -> dict[str, Any] | None:
        res = self.meta.col.get(ids=[LOCK_ID], include=["metadatas"])
        return dict(res["metadatas"][0] or {}) if res["ids"] else None

    def _try_acquire(self) -> dict[str, Any] | None:
        """None when we hold it now, else the current holder's record."""
        col = self.meta.col
        col.add(ids=[LOCK_ID], embeddings=[_DUMMY], documents=[""],
                metadatas=[{"kind": "lock", "owner": self.owner, "expires": time.time() + self.ttl}])
        held = self._read()
        if held is not None and held.get("owner") == self.owner:
            return None
        if held is not None and float(held.get("expires", 0)) < time.time():
            log.warning("taking over the expired writer lock of %s", held.get("owner"))
            col.delete(ids=[LOCK_ID], where={"owner": str(held.get("owner"))})  # only that stale record
            return self._try_acquire_once_more()
        return held or {}

    def _try_acquire_once_more(self) -> dict[str, Any] | None:
        self.meta.col.add(ids=[LOCK_ID], embeddings=[_DUMMY], documents=[""],
                          metadatas=[{"kind": "lock", "owner": self.owner, "expires": time.time() + self.ttl}])
        held = self._read()
        return None if held is not None and held.get("owner") == self.owner else (held or {})

    def check(self) -> None:
        """Raise unless we still hold the lock (called just before committing)."""
        held = self._read()
        if held is None or held.get("owner") != self.owner:
            raise RagError("Lost the index writer lock on the Chroma server (another writer took it over after "
                           "it expired); nothing was committed. Retry the ingest.")

    def refresh(self) -> None:
        if self._depth == 0 or time.monotonic() - self._last_refresh < self.ttl / 4:
            return
        self.check()
        self.meta.col.update(ids=[LOCK_ID], metadatas=[{"expires": time.time() + self.ttl}])
        self._last_refresh = time.monotonic()

    @contextmanager
    def hold(self, timeout: float = 60.0):
        with self._tlock:
            if self._depth == 0:
                deadline = time.monotonic() + timeout
                while True:
                    holder = self._try_acquire()
                    if holder is None:
                        break
                    if time.monotonic() > deadline:
                        raise RagError(
                            f"Another newsrag process ({holder.get('owner', 'unknown')}) is writing to the index "
                            f"on the Chroma server. Wait for it to finish, or stop it and retry (a dead writer's "
                            f"lock expires after {self.ttl:.0f} s).")
                    time.sleep(0.2)
                self._last_refresh = time.monotonic()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    try:
                        self.meta.col.delete(ids=[LOCK_ID], where={"owner": self.owner})
                    except Exception as exc:  # noqa: BLE001 - it expires anyway
                        log.warning("could not release the writer lock (%s); it expires in %.0f s", exc, self.ttl)


class ServerArticleStore:
    """``ArticleStore``'s read side over the ``doc:`` records (writes go through ``ServerMeta.put_docs``)."""

    def __init__(self, meta: ServerMeta, where: str):
        self.meta = meta
        self.root = where  # shown in messages
        self._cache: dict[str, Article] = {}
        self._lock = threading.Lock()

    def get(self, doc_id: str) -> Article:
        art = self._cache.get(doc_id)
        if art is not None:
            return art
        got = self.meta.get_articles([doc_id]).get(doc_id)
        if got is None:
            raise RagError(f"Article {doc_id} is missing from the Chroma server ({self.root}). Run "
                           "`newsrag index check` and re-ingest the file.")
        with self._lock:
            if len(self._cache) > 2048:
                self._cache.clear()
            self._cache[doc_id] = got
        return got

    def exists(self, doc_id: str) -> bool:
        return bool(self.meta.get_articles([doc_id]))

    def delete(self, doc_id: str) -> None:
        self._cache.pop(doc_id, None)
        self.meta.delete_docs([doc_id])

    def forget(self, doc_ids) -> None:
        for d in doc_ids:
            self._cache.pop(d, None)

    def all_ids(self) -> set[str]:
        return self.meta.all_doc_ids()
