"""Chroma collection access: embedded ``PersistentClient`` by default, ``HttpClient`` in server mode.

The collection records the embedding model and dimension it was built with; opening it with
another model is refused with the rebuild command, because mixing vector spaces silently ruins
retrieval.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rag.settings import Settings
from rag.types import IndexMismatchError, RagError

log = logging.getLogger(__name__)
_BATCH = 1000


def date_ord(iso: str) -> int:
    """``YYYY-MM-DD`` -> 20240131 for Chroma range filters (which only compare numbers); 0 = unknown."""
    try:
        y, m, d = iso.split("-")
        return int(y) * 10000 + int(m) * 100 + int(d)
    except (ValueError, AttributeError):
        return 0


def make_client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.server_mode:
        try:
            return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port,
                                       settings=chroma_settings)
        except Exception as exc:  # noqa: BLE001
            raise RagError(
                f"Cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} ({exc}). "
                "Start it with `chroma run --path DIR --port PORT` or unset CHROMA_HOST for the local index."
            ) from exc
    path = Path(settings.index_dir) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:  # noqa: BLE001
        raise RagError(
            f"The Chroma store in {path} cannot be opened ({exc.__class__.__name__}: {exc}). "
            f"Run `newsrag index rebuild --index {settings.index_dir}` to rebuild it from the stored articles."
        ) from exc


class ChromaStore:
    def __init__(self, settings: Settings, embed_model: str, embed_dim: int, create: bool = True):
        self.settings = settings
        self.client = make_client(settings)
        name = settings.collection
        meta = {"embed_model": embed_model, "embed_dim": embed_dim}
        try:
            if create:
                self.col = self.client.get_or_create_collection(
                    name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}, metadata=meta)
            else:
                self.col = self.client.get_collection(name, embedding_function=None)
        except RagError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise RagError(f"Cannot open the Chroma collection {name!r} ({exc}). Run `newsrag index rebuild`."
                           ) from exc
        have = self.col.metadata or {}
        if have.get("embed_model") and (have.get("embed_model") != embed_model
                                        or int(have.get("embed_dim", embed_dim)) != embed_dim):
            raise IndexMismatchError(
                f"The index was built with the embedding model {have.get('embed_model')!r} "
                f"(dimension {have.get('embed_dim')}), but the configured model is {embed_model!r} "
                f"(dimension {embed_dim}). Either set RAG_EMBED_MODEL={have.get('embed_model')} or rebuild the "
                f"index with the new model: `newsrag index rebuild --index {settings.index_dir}`."
            )

    def count(self) -> int:
        return self.col.count()

    def all_ids(self) -> set[str]:
        ids: set[str] = set()
        offset = 0
        while True:
            got = self.col.get(include=[], limit=10000, offset=offset)["ids"]
            ids.update(got)
            if len(got) < 10000:
                return ids
            offset += len(got)

    def upsert(self, ids: list[str], vectors, texts: list[str], metas: list[dict[str, Any]]) -> None:
        for i in range(0, len(ids), _BATCH):
            self.col.upsert(ids=ids[i:i + _BATCH], embeddings=vectors[i:i + _BATCH],
                            documents=texts[i:i + _BATCH], metadatas=metas[i:i + _BATCH])

    def delete(self, ids: list[str]) -> None:
        for i in range(0, len(ids), _BATCH):
            self.col.delete(ids=ids[i:i + _BATCH])

    def query(self, vector, n: int, where: dict | None = None) -> list[tuple[str, float, str, dict]]:
        n = max(1, min(n, self.count() or 1))
        res = self.col.query(query_embeddings=[vector], n_results=n, where=where or None,
                             include=["distances", "documents", "metadatas"])
        out = []
        for cid, dist, doc, meta in zip(res["ids"][0], res["distances"][0], res["documents"][0],
                                        res["metadatas"][0], strict=True):
            out.append((cid, 1.0 - float(dist), doc or "", dict(meta or {})))
        return out

    def get(self, ids: list[str]) -> dict[str, tuple[str, dict]]:
        if not ids:
            return {}
        res = self.col.get(ids=ids, include=["documents", "metadatas"])
        return {cid: (doc or "", dict(meta or {}))
                for cid, doc, meta in zip(res["ids"], res["documents"], res["metadatas"], strict=True)}

    def reset_collection(self, embed_model: str, embed_dim: int) -> None:
        try:
            self.client.delete_collection(self.settings.collection)
        except Exception:  # noqa: BLE001 - absent is fine
            pass
        self.col = self.client.get_or_create_collection(
            self.settings.collection, embedding_function=None, configuration={"hnsw": {"space": "cosine"}},
            metadata={"embed_model": embed_model, "embed_dim": embed_dim})
