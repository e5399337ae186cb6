"""The interface every index backend offers, and ``open_index``, which picks the backend for a deployment.

Two backends implement it: the embedded store (rag/index/store.py: Chroma, BM25 and article files under
``index_dir``) and the server store (rag/index/server_index.py: one ``chroma run`` server shared by every
app process), chosen by ``settings.chroma_host``. Callers (API, ingest, retrieval, repair) use only this
interface.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from rag.index.base import Chunker
from rag.index.check import CheckReport
from rag.index.manifest import DocEntry, Manifest
from rag.settings import Settings
from rag.types import Article, Chunk


class IndexBackend(Protocol):
    settings: Settings
    root: Path
    embedder: Any
    manifest: Manifest
    bm25: Any  # BM25Index | None: None searches dense only
    articles: Any  # ArticleStore-like: get(doc_id) -> Article, all_ids()
    lock: Any  # hold() context manager: the one writer of the index

    @property
    def chroma(self) -> Any: ...

    @property
    def model_id(self) -> str: ...

    @property
    def chunk_limit(self) -> int: ...

    @property
    def chunker(self) -> Chunker: ...

    def chunks_of(self, doc_id: str, n_chunks: int | None = None) -> list[Chunk]: ...

    def check(self) -> CheckReport: ...

    def repair(self) -> None: ...

    def commit(self, new: list[tuple[Article, list[Chunk], str, str]], remove: Iterable[str],
               furniture: dict[str, dict[str, int]] | None = None, progress=None) -> int: ...

    def remove(self, doc_ids: Iterable[str]) -> int: ...

    def rebuild(self, progress=None) -> int: ...

    def list_docs(self) -> list[DocEntry]: ...


def open_index(settings: Settings, embedder=None, repair: bool = True, check_model: bool = True,
               chunker: Chunker | None = None) -> IndexBackend:
    """The index of this deployment: on the Chroma server when ``settings.chroma_host`` is set, else the
    embedded store in ``settings.index_dir``. ``repair=False`` opens read-only (``index check``)."""
    if settings.server_mode:
        from rag.index.server_index import ServerNewsIndex

        return ServerNewsIndex(settings, embedder, repair=repair, check_model=check_model, chunker=chunker)
    from rag.index.store import EmbeddedIndex

    return EmbeddedIndex(settings, embedder, repair=repair, check_model=check_model, chunker=chunker)
