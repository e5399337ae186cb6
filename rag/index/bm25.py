"""Lexical index: bm25s with PyStemmer (English), persisted beside the vectors.

bm25s has no incremental add, so it is rebuilt from the chunk texts after each ingest (fast: sparse
matrices). The saved index carries the manifest generation it matches; a mismatch at open means an
interrupted ingest and triggers a rebuild.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from rag.index.manifest import write_atomic

log = logging.getLogger(__name__)


def _bm25s():
    """bm25s, imported on first use. Its import sets its own logger to DEBUG, which would print
    "Building index from IDs objects" on every ingest: put it back under our level (quiet unless -vv)."""
    import bm25s

    logging.getLogger("bm25s").setLevel(max(logging.getLogger().getEffectiveLevel(), logging.WARNING))
    return bm25s


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


class BM25Index:
    def __init__(self, ids: list[str], retriever=None, generation: int = -1):
        self.ids = ids
        self.retriever = retriever
        self.generation = generation
        self._stem = _stemmer()

    @classmethod
    def build(cls, ids: list[str], texts: list[str], generation: int) -> BM25Index:
        bm25s = _bm25s()

        if not ids:
            return cls([], None, generation)
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return cls(list(ids), retriever, generation)

    def save(self, root: Path) -> None:
        """Write to a fresh directory and swap it in, so a crash never leaves a half-written index."""
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = root.with_name(root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.write_files(tmp)
        old = root.with_name(root.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if root.exists():
            root.rename(old)
        tmp.rename(root)
        shutil.rmtree(old, ignore_errors=True)

    def write_files(self, folder: Path) -> None:
        """The model and ``ids.json`` into an existing, fresh ``folder`` (callers make the swap atomic)."""
        if self.retriever is not None:
            self.retriever.save(str(folder / "model"), show_progress=False)
        write_atomic(folder / "ids.json", json.dumps({"generation": self.generation, "ids": self.ids}).encode())

    @classmethod
    def read_files(cls, folder: Path, mmap: bool = False) -> BM25Index:
        """What ``write_files`` wrote; raises when unreadable. ``mmap`` maps the score matrices instead of
        reading them (processes loading the same files then share their pages)."""
        bm25s = _bm25s()

        info = json.loads((folder / "ids.json").read_text("utf-8"))
        retriever = (bm25s.BM25.load(str(folder / "model"), mmap=mmap, show_progress=False)
                     if info["ids"] else None)
        return cls(list(info["ids"]), retriever, int(info["generation"]))

    @classmethod
    def load(cls, root: Path) -> BM25Index | None:
        """None when absent or unreadable (the caller rebuilds)."""
        if not (root / "ids.json").exists():
            return None
        try:
            return cls.read_files(root)
        except Exception as exc:  # noqa: BLE001 - any corruption means rebuild
            log.warning("BM25 index at %s is unreadable (%s); it will be rebuilt", root, exc)
            return None

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        bm25s = _bm25s()

        if self.retriever is None or not self.ids:
            return []
        q = bm25s.tokenize([query], stopwords="en", stemmer=self._stem, show_progress=False,
                           return_ids=False)[0]
        # unknown tokens would raise inside bm25s; they cannot match anyway
        q = [t for t in q if t in self.retriever.vocab_dict]
        if not q:
            return []
        k = min(k, len(self.ids))
        docs, scores = self.retriever.retrieve([q], k=k, show_progress=False, n_threads=1)
        out = []
        for i, s in zip(docs[0], scores[0], strict=True):
            if s > 0:
                out.append((self.ids[int(i)], float(s)))
        return out
