"""Server mode: the manifest of each committed generation, saved in the user's cache dir.

Without it every app process reads the manifest from the Chroma server when it opens: one paged ``get``
of every article record's metadata in the side collection (14 pages, 9–12 s wall at 400k chunks,
docs/scaling.md). With it, the process reads the ``state`` record (one small ``get``), and loads the
generation's manifest from this machine's snapshot; the first process that needs a generation reads it
from the server and saves it. It works like the BM25 snapshot (rag/index/bm25_snapshot.py) and is keyed
the same way:

``ManifestKey`` is the collection name, the side collection's Chroma id (a random UUID given when the
collection is created: a server wiped and refilled, or another server, has another one), the generation,
and the live docs' count and order-free checksum, as the ``state`` record states them. A snapshot is
looked up by the key read from the server's ``state`` and used only when its stored key is that key, its
bytes are the ones saved (size and blake2b digest), and the manifest it holds passes
``ServerMeta.verify`` against that ``state`` (count and checksum of its doc ids). Anything else
(missing, stale, truncated, edited, another index's) returns None with a warning, and the caller reads the
manifest from the server and saves a fresh snapshot. The generation's other fields (model, chunking,
furniture table) always come from the ``state`` record just read, not from the file.

Layout: ``<manifest_cache_dir>/<index slug>/g<generation>-<docs_xor>.json``: one line of JSON (the key,
size and digest), then the manifest JSON. Written to a temporary file, fsynced and renamed into place
(``write_atomic``), so a reader sees a whole snapshot or none. The snapshot is only a cache: the manifest
stays in the server, and nothing here writes to the server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.index.manifest import Manifest, write_atomic
from rag.index.server_meta import ServerMeta, docs_checksum
from rag.index.snapshot_dirs import KEEP, STALE_S, index_root, prune  # noqa: F401 - KEEP, STALE_S: tests read them

log = logging.getLogger(__name__)

FORMAT = 1
_MARKER = ".newsrag-manifest"


@dataclass(frozen=True)
class ManifestKey:
    collection: str  # the collection name (settings.collection)
    collection_id: str  # the side collection's Chroma id
    generation: int
    n_docs: int
    docs_xor: str

    @classmethod
    def of_state(cls, collection: str, collection_id: str, state: dict[str, Any]) -> ManifestKey | None:
        """The key of the generation ``state`` commits; None before the first commit (nothing to cache)."""
        if "n_docs" not in state or "docs_xor" not in state:
            return None
        return cls(collection, collection_id, int(state.get("generation", 0)), int(state["n_docs"]),
                   str(state["docs_xor"]))

    @classmethod
    def of(cls, collection: str, collection_id: str, m: Manifest) -> ManifestKey:
        return cls(collection, collection_id, m.generation, len(m.docs), docs_checksum(m.docs))

    @property
    def filename(self) -> str:
        return f"g{self.generation:08d}-{self.docs_xor}.json"


class ManifestSnapshots:
    """The manifest snapshots of one server index (one collection name and side collection id)."""

    def __init__(self, cache_dir: Path, collection: str, collection_id: str):
        self.collection, self.collection_id = collection, collection_id
        self.root = index_root(cache_dir, collection, collection_id)
        self.loads = 0  # snapshots loaded / saved by this object (tests and logs read them)
        self.saves = 0

    def path(self, key: ManifestKey) -> Path:
        return self.root / key.filename

    def load(self, state: dict[str, Any]) -> Manifest | None:
        """The manifest of the generation ``state`` (the server's ``state`` record) commits; None when there
        is no snapshot of it or the snapshot cannot be trusted."""
        key = ManifestKey.of_state(self.collection, self.collection_id, state)
        if key is None:
            return None
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("manifest snapshot %s is unreadable (%s); reading the manifest from the server", path, exc)
            return None
        try:
            head, sep, body = data.partition(b"\n")
            info = json.loads(head) if sep else None
            if not isinstance(info, dict) or info.get("format") != FORMAT:
                raise ValueError("it has no snapshot header")
            if info.get("key") != asdict(key):
                raise ValueError(f"it is for another index state ({info.get('key')})")
            if info.get("size") != len(body) or info.get("digest") != _digest(body):
                raise ValueError("its bytes are not the ones it was saved with (truncated or changed)")
            saved = Manifest.model_validate_json(body)
            m = ServerMeta._manifest_from_state(state)  # model, chunking, furniture: the server's record
            m.docs = saved.docs
            if saved.generation != key.generation or not ServerMeta.verify(m, state):
                raise ValueError(f"its {len(saved.docs)} docs at generation {saved.generation} do not match the "
                                 "server's count and checksum")
        except Exception as exc:  # noqa: BLE001 - any damage means: read it from the server
            log.warning("manifest snapshot %s is unusable (%s); reading the manifest from the server", path, exc)
            _discard(path)
            return None
        self.loads += 1
        try:
            os.utime(self.root)  # in use: ``_prune`` of another index keeps it
        except OSError:
            pass
        log.info("manifest loaded from the snapshot %s (generation %d, %d docs)", path, m.generation, len(m.docs))
        return m

    def save(self, m: Manifest) -> None:
        """Save ``m`` (a committed, verified manifest) as the snapshot of its generation. Best effort: a
        failure is logged, never raised (the index works without it; the next process reads the server)."""
        if not m.docs:
            return  # nothing committed, or an empty index: read from the server for free
        key = ManifestKey.of(self.collection, self.collection_id, m)
        path = self.path(key)
        if path.exists():
            return  # another process saved it first
        try:
            body = m.model_dump_json().encode("utf-8")
            head = json.dumps({"format": FORMAT, "key": asdict(key), "size": len(body), "digest": _digest(body)})
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / _MARKER).touch()  # marks the directory as ours (``_prune`` removes only those)
            write_atomic(path, head.encode() + b"\n" + body)  # temp file, fsync, rename: whole or absent
            self.saves += 1
            log.info("manifest snapshot saved to %s (generation %d, %d docs)", path, m.generation, len(m.docs))
        except Exception as exc:  # noqa: BLE001 - a cache: never fail the caller
            log.warning("could not save the manifest snapshot to %s (%s)", path, exc)
            return
        self._prune(key.generation)

    def _prune(self, newest: int) -> None:
        prune(self.root, newest, _MARKER, "manifest")


def _digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def _discard(path: Path) -> None:
    """Remove an unusable snapshot, so the one read from the server can take its place. Only whole files
    are ever renamed in (``write_atomic``), so this one is damaged, not being written."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
