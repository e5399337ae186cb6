"""Chroma collection access: embedded ``PersistentClient`` by default, ``HttpClient`` in server mode.

The collection records the embedding model and dimension it was built with; opening it with
another model is refused with the rebuild command, because mixing vector spaces silently ruins
retrieval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.net import is_loopback
from rag.settings import Settings
from rag.types import IndexMismatchError, RagError

log = logging.getLogger(__name__)
_BATCH = 1000
_WRITE_BATCH = 5000  # at most this many chunks per upsert call (embedded Chroma accepts 5,461)


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
        return _http_client(settings, chromadb, ChromaSettings)
    path = Path(settings.index_dir) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:  # noqa: BLE001
        raise RagError(
            f"The Chroma store in {path} cannot be opened ({exc.__class__.__name__}: {exc}). "
            f"Run `newsrag index rebuild --index {settings.index_dir}` to rebuild it from the stored articles."
        ) from exc


def _http_client(settings: Settings, chromadb, ChromaSettings):
    """The Chroma server's client: plain HTTP, or HTTPS with a bearer token through a reverse proxy (a server
    on another machine). Every failure names what to change: the token, the CA file, the scheme."""
    ca = settings.chroma_ca_file
    if ca is not None and not Path(ca).is_file():
        raise RagError(f"RAG_CHROMA_CA_FILE={ca}: no such file. Give the PEM file of the CA that signed the "
                       "Chroma server's certificate, or unset it to trust the system's CAs.")
    if settings.chroma_token and not settings.chroma_ssl and not is_loopback(settings.chroma_host):
        log.warning("RAG_CHROMA_TOKEN is sent in clear text to %s: set RAG_CHROMA_SSL=1 (a TLS proxy in front of "
                    "the server)", settings.chroma_host)
    where = f"{'https' if settings.chroma_ssl else 'http'}://{settings.chroma_host}:{settings.chroma_port}"
    headers = {"Authorization": f"Bearer {settings.chroma_token}"} if settings.chroma_token else None
    extra = {"chroma_server_ssl_verify": str(ca)} if ca is not None else {}
    try:
        return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, ssl=settings.chroma_ssl,
                                   headers=headers, settings=ChromaSettings(anonymized_telemetry=False, **extra))
    except Exception as exc:  # noqa: BLE001 - chromadb and httpx raise many kinds; say which setting to fix
        raise RagError(f"Cannot reach the Chroma server at {where} ({_short(exc)}). "
                       f"{_connect_hint(settings, exc)}") from exc


def _chain_text(exc: BaseException) -> str:
    """The exception and its causes: chromadb wraps a TLS failure in "Could not connect to a Chroma server"."""
    parts, e = [], exc
    while e is not None and len(parts) < 6:
        parts.append(f"{e.__class__.__name__}: {e}")
        e = e.__cause__ or e.__context__
    return " <- ".join(parts)


def _short(exc: BaseException) -> str:
    """One line: a proxy's HTML error page by its title, else the first exception."""
    import re

    text = _chain_text(exc)
    title = re.search(r"<title>(.*?)</title>", text, re.S)
    return title.group(1).strip() if title else text.split(" <- ")[0][:300]


def _connect_hint(settings: Settings, exc: BaseException) -> str:
    """Which setting to change, read from the failure (a proxy's status page, or the TLS error under it)."""
    low = _chain_text(exc).lower()
    if any(k in low for k in ("401 authorization required", "403 forbidden", "unauthorized", " 401", " 403")):
        return ("The server (or the proxy in front of it) refused this client: check RAG_CHROMA_TOKEN"
                + ("" if settings.chroma_token else ", which is not set") + ".")
    if "certificate" in low:
        return "Its TLS certificate is not trusted: set RAG_CHROMA_CA_FILE to the PEM file of the CA that signed it."
    if any(k in low for k in ("plain http request", "wrong version number", "ssl", "400 bad request")):
        return (f"RAG_CHROMA_SSL={'1' if settings.chroma_ssl else '0'} may not match the server: HTTPS for a TLS "
                "proxy, plain HTTP for `chroma run` itself.")
    return "Start it with `chroma run --path DIR --port PORT` or unset CHROMA_HOST for the local index."



class ChromaStore:
    def __init__(self, settings: Settings, embed_model: str, embed_dim: int, create: bool = True,
                 verify_model: bool = True):
        self.settings = settings
        # server mode: chunks of a concurrent, not yet committed ingest are in the collection too;
        # the index sets this to "doc is in my manifest" so queries never return them
        self.visible: Callable[[str], bool] | None = None
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
        if verify_model and have.get("embed_model") and (have.get("embed_model") != embed_model
                                        or int(have.get("embed_dim", embed_dim)) != embed_dim):
            raise IndexMismatchError(
                f"The index was built with the embedding model {have.get('embed_model')!r} "
                f"(dimension {have.get('embed_dim')}), but the configured model is {embed_model!r} "
                f"(dimension {embed_dim}). Either set RAG_EMBED_MODEL={have.get('embed_model')} or rebuild the "
                f"index with the new model: `newsrag index rebuild --index {settings.index_dir}`."
            )

    def _reopen_if_gone(self, exc: Exception) -> bool:
        """Server mode: another process's `index rebuild` replaced the collection; pick up the new one."""
        if "does not exist" not in str(exc) and "NotFound" not in exc.__class__.__name__:
            return False
        try:
            self.col = self.client.get_collection(self.settings.collection, embedding_function=None)
        except Exception:  # noqa: BLE001 - still gone: let the original error surface
            return False
        return True

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if self._reopen_if_gone(exc):
                return fn(*args, **kwargs)
            raise

    def count(self) -> int:
        return self._call(lambda: self.col.count())

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
        """``vectors``: a float32 array (or a list of lists); written in as few calls as Chroma accepts."""
        n = getattr(self, "_write_batch", 0)
        if not n:
            try:
                n = max(1, min(_WRITE_BATCH, int(self.client.get_max_batch_size())))
            except Exception:  # noqa: BLE001 - an old server without the call: the conservative size
                n = _BATCH
            self._write_batch = n
        for i in range(0, len(ids), n):
            self.col.upsert(ids=ids[i:i + n], embeddings=vectors[i:i + n],
                            documents=texts[i:i + n], metadatas=metas[i:i + n])

    def delete(self, ids: list[str]) -> None:
        for i in range(0, len(ids), _BATCH):
            self.col.delete(ids=ids[i:i + _BATCH])

    def query(self, vector, n: int, where: dict | None = None) -> list[tuple[str, float, str, dict]]:
        visible = self.visible
        # over-fetch what the visibility filter may drop. No clamp to count(): Chroma returns what it
        # has, and count() costs a round trip (~6 ms at 100k chunks) on every query.
        want = max(1, n if visible is None else n * 2 + 10)
        res = self._call(lambda: self.col.query(query_embeddings=[vector], n_results=want, where=where or None,
                                                include=["distances", "documents", "metadatas"]))
        out = []
        for cid, dist, doc, meta in zip(res["ids"][0], res["distances"][0], res["documents"][0],
                                        res["metadatas"][0], strict=True):
            if visible is not None and not visible(str((meta or {}).get("doc_id", ""))):
                continue
            out.append((cid, 1.0 - float(dist), doc or "", dict(meta or {})))
        return out[:n]

    def query_ids(self, vector, n: int, where: dict | None = None) -> list[tuple[str, float]]:
        """Nearest chunk ids and cosine similarities only: without documents and metadata the kNN call is
        several times cheaper; fetch the texts of the few results kept with ``get``."""
        visible = self.visible
        want = max(1, n if visible is None else n * 2 + 10)
        res = self._call(lambda: self.col.query(query_embeddings=[vector], n_results=want, where=where or None,
                                                include=["distances"]))
        out = [(cid, 1.0 - float(dist)) for cid, dist in zip(res["ids"][0], res["distances"][0], strict=True)
               if visible is None or visible(cid.rsplit("-", 1)[0])]
        return out[:n]

    def texts_by_doc(self, doc_ids: list[str] | None = None) -> dict[str, list[tuple[str, str]]]:
        """doc_id -> [(chunk_id, text)] for the given docs (all when None), in chunk order."""
        out: dict[str, list[tuple[str, str]]] = {}

        def take(res) -> None:
            for cid, doc in zip(res["ids"], res["documents"], strict=True):
                out.setdefault(cid.rsplit("-", 1)[0], []).append((cid, doc or ""))

        if doc_ids is None:
            offset = 0
            while True:
                res = self.col.get(include=["documents"], limit=5000, offset=offset)
                take(res)
                if len(res["ids"]) < 5000:
                    break
                offset += len(res["ids"])
        else:
            for i in range(0, len(doc_ids), 200):
                take(self.col.get(where={"doc_id": {"$in": doc_ids[i:i + 200]}}, include=["documents"]))
        for v in out.values():
            v.sort()
        return out

    def get(self, ids: list[str]) -> dict[str, tuple[str, dict]]:
        if not ids:
            return {}
        res = self._call(lambda: self.col.get(ids=ids, include=["documents", "metadatas"]))
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
