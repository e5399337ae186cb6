"""Server mode: the BM25 index of each committed generation, saved in the user's cache dir.

Without it every app process rebuilds BM25 from all chunk texts fetched from the Chroma server when it
opens (97 s at 400k chunks, docs/scaling.md). With it, the first process on a machine that needs a
generation builds and saves it; later ones load it, memory-mapped, so they also share its pages.

A snapshot is keyed by what identifies one committed state of one server index (``SnapshotKey``): the
collection name, the side collection's Chroma id (a random UUID given when the collection is created: a
server wiped and refilled, or another server, has another one, so equal generation counters never
collide), the generation, and the order-free checksum of the live doc ids and the chunk count (what
``ServerMeta.verify`` checks a manifest against; doc ids are content hashes, so equal ids mean equal
texts). The server's address is left out on purpose: the same server reached by another name or port
keeps its snapshots. A snapshot whose key differs is never used: the caller rebuilds and saves a fresh one.

Layout: ``<bm25_cache_dir>/<index slug>/g<generation>-<docs_xor>/`` with ``model/`` (bm25s),
``ids.json`` and ``snapshot.json`` (the key and every file's size). A process writes into its own
temporary directory and renames it into place, so a reader sees a whole snapshot or none, and two
processes saving at once do not mix their files (the second rename fails, its copy is dropped). Damage
after that (a truncated file, bad JSON, a foreign key) makes ``load`` return None with a warning. The
snapshot is only a cache: the indexed data stays in the server, untouched by anything here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.index.bm25 import BM25Index
from rag.index.manifest import Manifest, write_atomic
from rag.index.server_meta import docs_checksum
from rag.index.snapshot_dirs import KEEP, STALE_S, index_root, prune  # noqa: F401 - KEEP, STALE_S: tests read them

log = logging.getLogger(__name__)

FORMAT = 1
_MARKER = ".newsrag-bm25"
_INFO = "snapshot.json"


@dataclass(frozen=True)
class SnapshotKey:
    collection: str  # the collection name (settings.collection)
    collection_id: str  # the side collection's Chroma id
    generation: int
    docs_xor: str
    n_chunks: int

    @classmethod
    def of(cls, collection: str, collection_id: str, m: Manifest) -> SnapshotKey:
        return cls(collection, collection_id, m.generation, docs_checksum(m.docs), m.n_chunks)

    @property
    def dirname(self) -> str:
        return f"g{self.generation:08d}-{self.docs_xor}"


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != _INFO}


class BM25Snapshots:
    """The snapshots of one server index (one collection name and side collection id)."""

    def __init__(self, cache_dir: Path, collection: str, collection_id: str, mmap: bool = True):
        self.collection, self.collection_id, self.mmap = collection, collection_id, mmap
        self.root = index_root(cache_dir, collection, collection_id)
        self.loads = 0  # snapshots loaded / saved by this object (tests and logs read them)
        self.saves = 0

    def key(self, m: Manifest) -> SnapshotKey:
        return SnapshotKey.of(self.collection, self.collection_id, m)

    def load(self, m: Manifest) -> BM25Index | None:
        """The snapshot of ``m``'s generation; None when there is none or it cannot be trusted."""
        key = self.key(m)
        folder = self.root / key.dirname
        info_path = folder / _INFO
        if not info_path.exists():
            return None
        try:
            info = json.loads(info_path.read_text("utf-8"))
            if info.get("format") != FORMAT or info.get("key") != asdict(key):
                raise ValueError(f"it is for another index state ({info.get('key')})")
            if _files(folder) != info.get("files"):
                raise ValueError("its files are not the ones it was saved with (truncated or changed)")
            bm = BM25Index.read_files(folder, mmap=self.mmap)
            if bm.generation != m.generation or len(bm.ids) != info.get("n_ids"):
                raise ValueError(f"it holds {len(bm.ids)} chunks at generation {bm.generation}")
        except Exception as exc:  # noqa: BLE001 - any damage means: rebuild (the server holds the data)
            log.warning("BM25 snapshot %s is unusable (%s); rebuilding it", folder, exc)
            self._discard(folder)
            return None
        self.loads += 1
        try:
            os.utime(self.root)  # in use: ``_prune`` of another index keeps it
        except OSError:
            pass
        log.info("BM25 loaded from the snapshot %s (%d chunks)", folder, len(bm.ids))
        return bm

    def save(self, m: Manifest, bm: BM25Index) -> None:
        """Save ``bm`` as the snapshot of ``m``'s generation. Best effort: a failure is logged, never raised
        (the index works without it; the next process rebuilds)."""
        key = self.key(m)
        if not bm.ids:
            return  # an empty index is rebuilt for free
        if bm.generation != m.generation:
            log.warning("not saving a BM25 snapshot: it is at generation %d, not %d", bm.generation, m.generation)
            return
        folder = self.root / key.dirname
        if (folder / _INFO).exists():
            return  # another process saved it first
        tmp = self.root / f".tmp-{key.dirname}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            tmp.mkdir(parents=True)
            (self.root / _MARKER).touch()  # marks the directory as ours (``_prune`` removes only those)
            bm.write_files(tmp)
            # the info goes last and lists every file's size: a snapshot missing a piece never loads
            info = {"format": FORMAT, "key": asdict(key), "n_ids": len(bm.ids), "files": _files(tmp)}
            write_atomic(tmp / _INFO, json.dumps(info).encode())
            _fsync_tree(tmp)
            try:
                tmp.rename(folder)  # atomic; fails when another process renamed its copy in first
            except OSError:
                if not (folder / _INFO).exists():
                    raise
                log.info("BM25 snapshot %s was saved by another process meanwhile", folder)
                return
            self.saves += 1
            log.info("BM25 snapshot saved to %s (%d chunks)", folder, len(bm.ids))
        except Exception as exc:  # noqa: BLE001 - a cache: never fail the caller
            log.warning("could not save the BM25 snapshot to %s (%s)", folder, exc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._prune(key.generation)

    def _discard(self, folder: Path) -> None:
        """Move an unusable snapshot out of the way (one atomic rename), so the rebuilt one can take its
        place; only complete snapshots are ever renamed in, so this one is damaged, not being written."""
        trash = self.root / f".bad-{folder.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            folder.rename(trash)
        except OSError:
            return  # another process moved it already
        shutil.rmtree(trash, ignore_errors=True)

    def _prune(self, newest: int) -> None:
        prune(self.root, newest, _MARKER, "BM25")


def _fsync_tree(folder: Path) -> None:
    """Flush the files before the rename publishes them (a crash then leaves a whole snapshot or none)."""
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
