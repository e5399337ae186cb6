"""The shared article metadata record, and the JSON of the records that carry it (contracts unchanged)."""

from __future__ import annotations

import json

import pytest

from rag.index.manifest import DocEntry
from rag.types import Answer, Article, ArticleMeta, Citation, Passage

pytestmark = pytest.mark.unit

META = {"title": "T", "source": "S", "url": "https://example.org/a", "published": "2024-01-02"}


def test_one_metadata_record_for_every_type_that_carries_it():
    for cls in (Article, DocEntry, Passage, Citation):
        assert issubclass(cls, ArticleMeta)
        assert {n: cls.model_fields[n].default for n in ArticleMeta.model_fields} == dict.fromkeys(META, "")


def test_citation_json_keeps_the_ask_contract_keys_in_order():
    c = Citation(n=1, doc_id="d", text="passage", quote="q", start=3, end=4, **META)
    # DESIGN.md: citations[{n, doc_id, title, source, url, published, text, quote, start, end}]
    order = ["n", "doc_id", "title", "source", "url", "published", "text", "quote", "start", "end"]
    assert list(c.model_dump()) == order
    assert list(json.loads(c.model_dump_json())) == order
    contract = Answer(question="q?", text="a", refused=False, citations=[c]).to_contract()
    assert list(contract["citations"][0]) == order
    assert Citation.model_validate_json(c.model_dump_json()) == c


def test_passage_json_keeps_its_key_order_and_exclusions():
    p = Passage(chunk_id="d-0000", doc_id="d", text="t", start=0, end=1, meta={"x": 1}, **META)
    assert list(p.model_dump(exclude={"meta"})) == [
        "chunk_id", "doc_id", "text", "start", "end", "title", "source", "url", "published", "score",
        "dense_score", "bm25_score", "dense_rank", "bm25_rank"]


def test_manifest_entries_and_articles_round_trip():
    e = DocEntry(doc_id="d", key="a.txt", path="a.txt", content_hash="h", n_chunks=2, **META)
    assert DocEntry.model_validate_json(e.model_dump_json()) == e
    a = Article(doc_id="d", text="body", **META)
    assert Article.model_validate_json(a.model_dump_json()) == a
    assert {k: a.meta()[k] for k in META} == META
