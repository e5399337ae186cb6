"""The manifest: which articles are indexed, and the commit point of every ingest.

It is written last, atomically (temp file + fsync + rename). Anything in Chroma, BM25 or the
article store that the manifest does not list is an orphan of an interrupted ingest and is removed
at the next open; so a kill at any point leaves no duplicate and no half-ingested article.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

from rag.types import ArticleMeta, RagError, meta_fields_after

FORMAT_VERSION = 1


class DocEntry(ArticleMeta):
    doc_id: str
    key: str  # origin: file path, or file#id / file:line for JSON records
    path: str
    content_hash: str
    n_chunks: int
    ingested_at: str = ""

    _in_contract_order = meta_fields_after("n_chunks")  # the manifest's on-disk format

    def chunk_ids(self) -> list[str]:
        return [f"{self.doc_id}-{i:04d}" for i in range(self.n_chunks)]


class Manifest(BaseModel):
    version: int = FORMAT_VERSION
    generation: int = 0
    embed_model: str = ""
    embed_dim: int = 0
    chunk_tokens: int = 0
    # the embedder's precision setting the vectors were computed with ("" = before this field: "default")
    embed_precision: str = ""
    docs: dict[str, DocEntry] = Field(default_factory=dict)
    # source -> {line key: number of docs containing it}; finds cross-article site furniture
    furniture: dict[str, dict[str, int]] = Field(default_factory=dict)

    def by_key(self) -> dict[str, DocEntry]:
        return {d.key: d for d in self.docs.values()}

    def chunk_ids(self) -> set[str]:
        return {cid for d in self.docs.values() for cid in d.chunk_ids()}

    @property
    def n_chunks(self) -> int:
        return sum(d.n_chunks for d in self.docs.values())


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load_manifest(path: Path) -> Manifest | None:
    if not path.exists():
        return None
    try:
        return Manifest.model_validate_json(path.read_bytes())  # pydantic-core parses: ~1.5x json.loads
    except (OSError, ValueError) as exc:
        raise RagError(
            f"The index manifest {path} is unreadable or truncated ({exc.__class__.__name__}). "
            f"Run `newsrag index rebuild --index {path.parent}` to rebuild it from the stored articles."
        ) from exc


def save_manifest(path: Path, manifest: Manifest) -> None:
    write_atomic(path, manifest.model_dump_json(indent=None).encode("utf-8"))
