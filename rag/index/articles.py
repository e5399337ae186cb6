"""The article store: one JSON file per cleaned article (text + metadata).

Citations point into these texts by offsets, evidence selection reads neighbouring sentences from
them, and ``newsrag index rebuild`` re-creates Chroma and BM25 from them without the original files.
"""

from __future__ import annotations

from pathlib import Path

from rag.index.manifest import write_atomic
from rag.types import Article, RagError


class ArticleStore:
    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, Article] = {}

    def _path(self, doc_id: str) -> Path:
        return self.root / doc_id[:2] / f"{doc_id}.json"

    def put(self, article: Article) -> None:
        write_atomic(self._path(article.doc_id), article.model_dump_json().encode("utf-8"))

    def get(self, doc_id: str) -> Article:
        art = self._cache.get(doc_id)
        if art is not None:
            return art
        p = self._path(doc_id)
        try:
            art = Article.model_validate_json(p.read_bytes())
        except FileNotFoundError:
            raise RagError(f"Article {doc_id} is missing from the article store ({p}). Run "
                           "`newsrag index check` and re-ingest the file.") from None
        except ValueError as exc:
            raise RagError(f"Article file {p} is corrupt ({exc.__class__.__name__}); re-ingest its source "
                           "file or remove it with `newsrag remove`.") from exc
        if len(self._cache) > 2048:
            self._cache.clear()
        self._cache[doc_id] = art
        return art

    def unreadable(self, doc_ids) -> list[str]:
        """The ids among ``doc_ids`` whose file is present but cannot be parsed (truncated, corrupt)."""
        bad = []
        for doc_id in doc_ids:
            p = self._path(doc_id)
            try:
                Article.model_validate_json(p.read_bytes())
            except FileNotFoundError:
                continue  # reported as missing by the caller
            except (OSError, ValueError):
                bad.append(doc_id)
        return bad

    def set_aside(self, doc_id: str) -> Path | None:
        """Rename an unreadable article file to ``<id>.json.corrupt``: out of the store, not destroyed."""
        self._cache.pop(doc_id, None)
        p = self._path(doc_id)
        if not p.exists():
            return None
        dest = p.with_name(p.name + ".corrupt")
        p.replace(dest)
        return dest

    def exists(self, doc_id: str) -> bool:
        return self._path(doc_id).exists()

    def delete(self, doc_id: str) -> None:
        self._cache.pop(doc_id, None)
        self._path(doc_id).unlink(missing_ok=True)

    def all_ids(self) -> set[str]:
        if not self.root.exists():
            return set()
        return {p.stem for p in self.root.glob("*/*.json")}
