"""The shared article metadata record, and the JSON of the records that carry it (contracts unchanged)."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from rag.answer.evidence import EvidenceItem
from rag.index.manifest import DocEntry, Manifest
from rag.types import Answer, Article, ArticleMeta, Citation, Passage, meta_of

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


def test_manifest_bytes_keep_the_on_disk_format():
    """The manifest and ``list --json`` keep the key order they had before ``ArticleMeta`` (the metadata after
    ``n_chunks``); ``embed_precision`` (2026-12-07) follows ``chunk_tokens``, and a manifest written before it
    reads back with it empty (= OpenVINO's default precision, what those indexes were built with)."""
    e = DocEntry(doc_id="d", key="a.txt", path="a.txt", content_hash="h", n_chunks=2, ingested_at="now", **META)
    m = Manifest(generation=3, docs={"d": e})
    disk = (
        '{"version":1,"generation":3,"embed_model":"","embed_dim":0,"chunk_tokens":0,"embed_precision":"",'
        '"docs":{"d":{"doc_id":"d","key":"a.txt","path":"a.txt","content_hash":"h","n_chunks":2,"title":"T",'
        '"source":"S","url":"https://example.org/a","published":"2024-01-02","ingested_at":"now"}},"furniture":{}}'
    )
    assert m.model_dump_json(indent=None) == disk
    assert Manifest.model_validate_json(disk) == m
    assert Manifest.model_validate_json(disk.replace('"embed_precision":"",', "")) == m  # an older index
    assert list(e.model_dump()) == ["doc_id", "key", "path", "content_hash", "n_chunks", *META, "ingested_at"]


def test_article_store_bytes_keep_their_format():
    a = Article(doc_id="d", text="body", path="a.txt", ingested_at="now", content_hash="h", extra={"k": 1}, **META)
    stored = (
        '{"doc_id":"d","text":"body","title":"T","source":"S","url":"https://example.org/a",'
        '"published":"2024-01-02","path":"a.txt","ingested_at":"now","content_hash":"h","extra":{"k":1}}'
    )
    assert a.model_dump_json() == stored
    assert Article.model_validate_json(stored) == a


def test_every_record_round_trips_and_hands_on_the_same_metadata():
    records = [
        Article(doc_id="d", text="body", **META),
        DocEntry(doc_id="d", key="a.txt", path="a.txt", content_hash="h", n_chunks=1, **META),
        Passage(chunk_id="d-0000", doc_id="d", text="body", start=0, end=4, score=0.5, dense_score=0.7, **META),
        Citation(n=1, doc_id="d", text="body", quote="body", start=0, end=4, **META),
    ]
    for r in records:
        assert type(r).model_validate_json(r.model_dump_json()) == r
        assert meta_of(r) == META
    # an evidence item carries no copy of its own: it reads the metadata of the passage it came from
    item = EvidenceItem(n=1, doc_id="d", chunk_id="d-0000", sentence="body", start=0, end=4, score=0.5,
                        passage=records[2])
    assert not {f.name for f in fields(EvidenceItem)} & set(META)
    assert meta_of(item.passage) == META
    # and the records built from one another carry it on unchanged
    assert meta_of(DocEntry(doc_id="d", key="k", path="p", content_hash="", n_chunks=0, **meta_of(records[0]))) == META
