"""HybridSearch on an in-memory index (fake embedder, real chunker and BM25): fusion, filters, bounds."""

from __future__ import annotations

import pytest
from fakes import MemoryIndex

from rag.retrieve.hybrid import Filters, HybridSearch, rrf
from rag.settings import Settings
from rag.types import Article

pytestmark = pytest.mark.unit

ARTICLES = [
    Article(doc_id="a1", title="Embassy attacked", source="Shafaq News", published="2024-01-05",
            text="Mortar rounds landed in the embassy compound on Friday. Nobody was hurt."),
    Article(doc_id="a2", title="Dam collapse", source="River Times", published="2024-03-10",
            text="The Korrin Dam spillway wall collapsed on Sunday. An inquiry was ordered."),
    Article(doc_id="a3", title="Embassy statement", source="River Times", published="",
            text="The embassy said its staff were safe after the attack on the compound."),
]


@pytest.fixture(scope="module")
def index():
    return MemoryIndex(Settings(backend="extractive"), ARTICLES)


def test_rrf_rewards_agreement():
    scores = rrf([["x", "y"], ["y", "z"]], k=60)
    assert scores["y"] > scores["x"] > scores["z"]


def test_both_retrievers_contribute_and_offsets_point_into_the_article(index):
    got = HybridSearch(index, top_k=3).search("mortar rounds embassy compound")
    assert got[0].doc_id == "a1"
    assert got[0].dense_score is not None and got[0].bm25_score is not None
    assert [p.score for p in got] == sorted((p.score for p in got), reverse=True)
    for p in got:
        assert index.articles[p.doc_id].text[p.start:p.end] == p.text


def test_filters_apply_to_dense_and_lexical_hits(index):
    search = HybridSearch(index, top_k=5)
    river = search.search("embassy", filters={"sources": ["River Times"]})
    assert river[0].doc_id == "a3" and {p.source for p in river} == {"River Times"}
    assert "a1" in {p.doc_id for p in search.search("embassy")}
    assert {p.doc_id for p in search.search("collapsed", filters={"date_from": "2024-02-01"})} == {"a2"}
    assert search.search("embassy", filters={"date_from": "2030-01-01"}) == []
    assert {p.doc_id for p in search.search("embassy", filters={"doc_ids": "a1"})} == {"a1"}
    assert Filters.coerce({"source": "X"}).sources == ["X"]


def test_bounds_and_empty_queries(index):
    assert HybridSearch(index).search("   ") == []
    assert len(HybridSearch(index, top_k=10_000).search("the")) <= index.settings.max_top_k
