"""Hybrid retrieval on the seed article: paraphrases (dense) and exact names (BM25)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("query,expect", [
    ("Which militia leader promised more strikes on American troops?", "Askari"),
    ("What did the Pentagon chief say to the Iraqi prime minister?", "Austin"),
    ("Abu Ali al-Askari", "al-Askari"),
    ("Ain al-Asad", "Ain al-Asad"),
    ("mortar rounds embassy compound", "mortar rounds"),
])
def test_seed_found(seed_assistant, query, expect):
    passages = seed_assistant.search(query, k=3)
    assert passages and passages[0].title.startswith("Kata'ib Hezbollah")
    assert any(expect in p.text for p in passages)


def test_scores_and_offsets(seed_assistant):
    passages = seed_assistant.search("Ain al-Asad airbase west of Baghdad", k=5)
    top = passages[0]
    assert "Ain al-Asad" in top.text
    assert top.bm25_score is not None and top.dense_score is not None
    art = seed_assistant.article(top.doc_id)
    assert art.text[top.start:top.end] == top.text
    assert [p.score for p in passages] == sorted([p.score for p in passages], reverse=True)


def test_filters(seed_assistant):
    assert seed_assistant.search("embassy", filters={"sources": ["Shafaq News"]})
    assert seed_assistant.search("embassy", filters={"sources": ["Other Paper"]}) == []
    assert seed_assistant.search("embassy", filters={"date_from": "2030-01-01"}) == []  # seed has no date
    doc = seed_assistant.documents()[0].doc_id
    assert all(p.doc_id == doc for p in seed_assistant.search("embassy", filters={"doc_ids": [doc]}))


def test_top_k_clamped(seed_assistant):
    assert len(seed_assistant.search("embassy", k=10_000)) <= seed_assistant.settings.max_top_k
