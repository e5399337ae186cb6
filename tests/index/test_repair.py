"""Restoring a lost manifest from the stored articles (rag/index/repair.py), without a real index."""

from __future__ import annotations

import pytest

from rag.index.repair import manifest_from_articles
from rag.types import Article, RagError

pytestmark = pytest.mark.unit


class _Store:
    def __init__(self, arts, broken=()):
        self.arts = {a.doc_id: a for a in arts}
        self.broken = set(broken)

    def all_ids(self):
        return set(self.arts) | self.broken

    def get(self, doc_id):
        if doc_id in self.broken:
            raise RagError("corrupt")
        return self.arts[doc_id]


class _Index:
    def __init__(self, store):
        self.articles = store


def test_keys_are_what_the_next_ingest_matches_files_by():
    arts = [Article(doc_id="t", text="x", path="docs/a.txt", title="A", source="S", published="2024-01-02"),
            Article(doc_id="j", text="x", path="docs/b.jsonl", extra={"ext_id": "42"}),
            Article(doc_id="n", text="x", path="docs/c.json")]
    m = manifest_from_articles(_Index(_Store(arts, broken=["bad"])))
    assert set(m.docs) == {"t", "j", "n"}  # the unreadable one is left to rebuild() to report
    assert m.docs["t"].key == "docs/a.txt" and m.docs["t"].title == "A" and m.docs["t"].published == "2024-01-02"
    assert m.docs["j"].key == "docs/b.jsonl#42"
    assert m.docs["n"].key == "docs/c.json:restored-n"
    assert all(d.n_chunks == 0 and d.content_hash == "" for d in m.docs.values())  # re-derived by rebuild
