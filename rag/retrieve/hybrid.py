"""Hybrid retrieval: dense (Chroma) + BM25, fused by reciprocal-rank fusion, with metadata filters.

Dense search catches paraphrases; BM25 catches exact names and numbers that small embedding models
blur ("Ain al-Asad"). RRF needs no score calibration between the two.
``HybridSearch.search()`` returns typed ``Passage`` objects; ``HybridRetriever`` (in
``rag.retrieve.llamaindex``) is the same search as a llama-index ``BaseRetriever``. This module does not
import llama-index: importing it costs about a second, which a cold ``newsrag ask`` should not pay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from rag.types import META_FIELDS, Passage

log = logging.getLogger(__name__)


@dataclass
class Filters:
    sources: list[str] = field(default_factory=list)
    date_from: str = ""  # ISO YYYY-MM-DD, inclusive
    date_to: str = ""
    doc_ids: list[str] = field(default_factory=list)

    @classmethod
    def coerce(cls, value: Filters | dict[str, Any] | None) -> Filters:
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        src = value.get("sources") or value.get("source") or []
        ids = value.get("doc_ids") or value.get("doc_id") or []
        return cls(sources=[src] if isinstance(src, str) else list(src),
                   date_from=str(value.get("date_from") or ""), date_to=str(value.get("date_to") or ""),
                   doc_ids=[ids] if isinstance(ids, str) else list(ids))

    def empty(self) -> bool:
        return not (self.sources or self.date_from or self.date_to or self.doc_ids)

    def chroma_where(self) -> dict | None:
        from rag.index.chroma_store import date_ord

        clauses: list[dict] = []
        if self.sources:
            clauses.append({"source": {"$in": self.sources}})
        if self.doc_ids:
            clauses.append({"doc_id": {"$in": self.doc_ids}})
        if self.date_from:
            clauses.append({"published_ord": {"$gte": date_ord(self.date_from)}})
        if self.date_to:
            clauses.append({"published_ord": {"$lte": date_ord(self.date_to)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def accepts(self, entry) -> bool:
        """Same filter applied to a manifest entry (for BM25 hits)."""
        if self.sources and entry.source not in self.sources:
            return False
        if self.doc_ids and entry.doc_id not in self.doc_ids:
            return False
        if self.date_from and not (entry.published and entry.published >= self.date_from):
            return False
        if self.date_to and not (entry.published and entry.published <= self.date_to):
            return False
        return True


def rrf(rankings: list[list[str]], k: int) -> dict[str, float]:
    """Reciprocal-rank fusion; ``k`` is ``Settings.rrf_k``."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, cid in enumerate(ranking):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (k + rank + 1)
    return scores


class HybridSearch:
    def __init__(self, index, top_k: int | None = None, filters: Filters | dict | None = None):
        self.index = index
        self.settings = index.settings
        self.top_k = self.settings.clamp_top_k(top_k)
        self.filters = Filters.coerce(filters)

    def search(self, query: str, top_k: int | None = None, filters: Filters | dict | None = None,
               query_vector=None) -> list[Passage]:
        index = self.index
        k = self.settings.clamp_top_k(top_k or self.top_k)
        flt = Filters.coerce(filters) if filters is not None else self.filters
        docs = index.manifest.docs
        if not docs or not query.strip():
            return []
        n_cand = max(self.settings.candidates, k)
        # dense
        vec = query_vector if query_vector is not None else index.embedder.encode_one(query)
        dense = index.chroma.query(list(map(float, vec)), n_cand, flt.chroma_where())
        dense_rank = {cid: (i, score) for i, (cid, score, _, _) in enumerate(dense)}
        texts = {cid: (text, meta) for cid, _, text, meta in dense}
        # lexical: over-fetch, then apply the same filters via the manifest
        bm = index.bm25
        lex: list[tuple[str, float]] = []
        if bm is not None:
            want = n_cand if flt.empty() else n_cand * self.settings.filter_overfetch
            for cid, score in bm.search(query, want):
                entry = docs.get(cid.rsplit("-", 1)[0])
                if entry is not None and flt.accepts(entry):
                    lex.append((cid, score))
                if len(lex) >= n_cand:
                    break
        lex_rank = {cid: (i, s) for i, (cid, s) in enumerate(lex)}
        fused = rrf([[c for c, *_ in dense], [c for c, _ in lex]], self.settings.rrf_k)
        best = sorted(fused, key=lambda c: -fused[c])[:k]
        missing = [c for c in best if c not in texts]
        if missing:
            texts.update(index.chroma.get(missing))
        out: list[Passage] = []
        for cid in best:
            if cid not in texts:
                continue  # removed between the two searches
            text, meta = texts[cid]
            dr = dense_rank.get(cid)
            lr = lex_rank.get(cid)
            out.append(Passage(
                chunk_id=cid, doc_id=str(meta.get("doc_id", "")), text=text,
                start=int(meta.get("start", 0)), end=int(meta.get("end", len(text))),
                **{k: str(meta.get(k, "")) for k in META_FIELDS},
                score=fused[cid], dense_score=dr[1] if dr else None, bm25_score=lr[1] if lr else None,
                dense_rank=dr[0] if dr else None, bm25_rank=lr[0] if lr else None, meta=meta,
            ))
        return out

