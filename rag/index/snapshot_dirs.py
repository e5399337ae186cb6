"""Where server-mode snapshots live in the user's cache dir, and how old ones go (the BM25 and the manifest
snapshots, rag/index/bm25_snapshot.py and manifest_snapshot.py, share this).

One directory per server index (``index_root``: a slug of the collection name and the side collection's
Chroma id), holding one entry per generation named ``g<generation>-<docs_xor>...``, beside the temporary
(``.tmp-g…``, ``.g….json.<random>``) and discarded (``.bad-g…``) entries a process may leave, and a marker
file that says the directory is ours.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)

KEEP = 3  # generations kept per index: a process one commit behind may still be loading the previous one
STALE_S = 30 * 86400  # another index's snapshots untouched this long are dropped (a server long gone)


def index_root(cache_dir: Path, collection: str, collection_id: str) -> Path:
    """The directory of one server index's snapshots under ``cache_dir``."""
    return cache_dir / hashlib.blake2b(f"{collection}\n{collection_id}".encode(), digest_size=8).hexdigest()


def is_slug(name: str) -> bool:
    return len(name) == 16 and all(c in "0123456789abcdef" for c in name)


def generation_of(name: str) -> int | None:
    """The generation in a snapshot entry's name, whole, temporary or discarded; None for anything else."""
    stem = name.removeprefix(".").removeprefix("tmp-").removeprefix("bad-")
    if not stem.startswith("g"):
        return None
    try:
        return int(stem[1:].split("-", 1)[0])
    except ValueError:
        return None


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def prune(root: Path, newest: int, marker: str, what: str) -> None:
    """Drop all but the ``KEEP`` newest generations in ``root`` (with temporary copies of older ones), and
    the directories of other indexes (servers, collections) that hold ``marker`` and saved nothing for
    ``STALE_S``. A process that memory-mapped a dropped file keeps its pages (POSIX unlink semantics)."""
    try:
        for p in root.iterdir():
            gen = generation_of(p.name)
            if gen is not None and gen <= newest - KEEP:
                _remove(p)
    except OSError:
        pass
    try:
        # only our own slugs: the setting may point at a directory that holds other things too
        for p in root.parent.iterdir():
            if (p != root and is_slug(p.name) and (p / marker).exists()
                    and time.time() - p.stat().st_mtime > STALE_S):
                log.info("dropping the %s snapshots of an index unused for %d days: %s", what, STALE_S // 86400, p)
                shutil.rmtree(p, ignore_errors=True)
    except OSError:
        pass
