"""Typed records at module boundaries: Article, Chunk, Passage, Citation, Answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_serializer


class ArticleMeta(BaseModel):
    """What a reader is told about an article, defined once for every record that carries it: ``Article``,
    ``DocEntry`` (rag/index/manifest.py), ``Passage`` and ``Citation``; an evidence item reads it from its
    passage."""

    title: str = ""
    source: str = ""
    url: str = ""
    published: str = ""  # ISO date (YYYY-MM-DD) or ""


META_FIELDS: tuple[str, ...] = tuple(ArticleMeta.model_fields)


def meta_of(record: Any) -> dict[str, str]:
    """The ``ArticleMeta`` fields of any record that has them, to hand on to the next record:
    ``DocEntry(..., **meta_of(article))``. One place, so a field added to ``ArticleMeta`` travels everywhere."""
    return {name: getattr(record, name) for name in META_FIELDS}


def meta_fields_after(anchor: str):
    """A serializer that dumps the ``ArticleMeta`` fields right after ``anchor``: inherited fields come first
    in pydantic, and the JSON of ``ask --json``/``search --json``/``list --json``, the manifest and the
    article store keeps the key order it always had."""
    names = META_FIELDS

    def in_contract_order(self, handler):
        data = handler(self)
        if anchor not in data:
            return data
        meta = {k: data.pop(k) for k in names if k in data}
        out = {}
        for key, value in data.items():
            out[key] = value
            if key == anchor:
                out.update(meta)
        return out

    return model_serializer(mode="wrap")(in_contract_order)


class Article(ArticleMeta):
    """A cleaned article. ``text`` is the cleaned text every offset points into."""

    doc_id: str
    text: str
    path: str = ""
    ingested_at: str = ""
    content_hash: str = ""  # hash of the raw file bytes / record, to detect changes cheaply
    extra: dict[str, Any] = Field(default_factory=dict)  # e.g. {"fictional": true, "ext_id": "..."}

    _in_contract_order = meta_fields_after("text")  # the article store's on-disk JSON

    def meta(self) -> dict[str, Any]:
        """Flat, Chroma-safe metadata (str/int/float/bool only)."""
        m: dict[str, Any] = {
            "doc_id": self.doc_id,
            **meta_of(self),
            "path": self.path,
            "ingested_at": self.ingested_at,
        }
        for k, v in self.extra.items():
            if isinstance(v, (str, int, float, bool)) and k not in m:
                m[k] = v
        return m


class Chunk(BaseModel):
    """A span of an article: ``article.text[start:end] == text``."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    index: int
    meta: dict[str, Any] = Field(default_factory=dict)


class Passage(ArticleMeta):
    """A retrieved chunk with its scores."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    score: float = 0.0  # fused (RRF) score
    dense_score: float | None = None  # cosine similarity
    bm25_score: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    _in_contract_order = meta_fields_after("end")


class Citation(ArticleMeta):
    n: int
    doc_id: str
    text: str  # the passage shown to the reader (contains quote)
    quote: str  # the supporting sentence
    start: int  # offsets of quote in the cleaned article
    end: int

    _in_contract_order = meta_fields_after("doc_id")


class Timings(BaseModel):
    retrieve_ms: float = 0.0
    generate_ms: float = 0.0
    verify_ms: float = 0.0
    total_ms: float = 0.0


class RefusalReason(BaseModel):
    """Why an answer was refused, for the reader (``rag.answer.refusal`` writes it). ``kind`` is stable for
    scripts: empty_index, no_question, no_match, not_mentioned, contradicted, not_disclosed, model_declined,
    unsupported, unlikely."""

    kind: str
    text: str  # one sentence the reader can act on
    missing: list[str] = Field(default_factory=list)  # the question's words the closest passages lack


class Answer(BaseModel):
    question: str
    text: str
    refused: bool
    citations: list[Citation] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    timings: Timings = Field(default_factory=Timings)
    standalone_question: str = ""
    backend: str = ""
    notes: list[str] = Field(default_factory=list)  # e.g. why it refused, what verification changed
    # for the eval: the generation before verification and the evidence the model saw
    raw_generation: str = ""
    raw_citations: list[int] = Field(default_factory=list)
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    # who produced the text: "model" (the LLM's own wording, verified), "recited" (the LLM's wording with a
    # citation moved by verification), "quote" (the LLM's answer failed verification: the best evidence
    # sentence quoted instead), "extractive" (the extractive backend's quote) or "refusal"
    origin: str = ""
    # the answer-or-refuse decision: p(correct), threshold, its features and the candidate it judged
    decision: dict[str, Any] | None = None
    refusal: RefusalReason | None = None  # why it refused (None when it answered)

    def to_contract(self) -> dict[str, Any]:
        """The stable JSON object of ``newsrag ask --json`` and the Gradio ``/ask`` endpoint."""
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "citations": [c.model_dump() for c in self.citations],
            "timings": self.timings.model_dump(),
            "origin": self.origin,
            "refusal_reason": None if self.refusal is None else self.refusal.model_dump(),
        }


class IngestFailure(BaseModel):
    path: str
    reason: str


class IngestReport(BaseModel):
    documents_added: int = 0
    documents_updated: int = 0
    documents_unchanged: int = 0
    documents_removed: int = 0
    chunks_added: int = 0
    failed: list[IngestFailure] = Field(default_factory=list)
    seconds: float = 0.0
    # per-file outcome for UIs: path -> "added" | "updated" | "unchanged" | "failed: reason"
    files: dict[str, str] = Field(default_factory=dict)

    def to_contract(self) -> dict[str, Any]:
        return {
            "documents_added": self.documents_added,
            "documents_updated": self.documents_updated,
            "documents_unchanged": self.documents_unchanged,
            "documents_removed": self.documents_removed,
            "chunks_added": self.chunks_added,
            "failed": [f.model_dump() for f in self.failed],
            "seconds": round(self.seconds, 3),
        }


class RagError(Exception):
    """An error with a message meant for the user (CLI/UI show it as is, no traceback)."""


class IndexMismatchError(RagError):
    pass


class ModelNotInstalledError(RagError):
    pass
