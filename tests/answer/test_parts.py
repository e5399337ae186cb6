"""rag/answer/verify.py on answers to a question that asks several things: a sentence joining two answers
is verified clause by clause, and each sentence is checked against the part of the question it answers.
New sentences written for this test; the lexical support scorer (no embedding model)."""

from __future__ import annotations

from types import SimpleNamespace

from rag.answer.verify import compound_clauses, verify
from rag.knobs import DEFAULT_KNOBS, Knobs
from rag.support import SupportScorer

CLAUSES = Knobs(**{**vars(DEFAULT_KNOBS), "verify_clauses": True})

EVIDENCE = [
    "The ferry service to Tarnholm resumed on Friday after the storm.",
    "Repairs to the Tarnholm pier cost 310,000 crowns, the harbour board said.",
    "The ferry fired 14 distress flares before it reached the harbour.",
]
ITEMS = [SimpleNamespace(n=i, display_text=t, doc_id="a", title="") for i, t in enumerate(EVIDENCE, 1)]
TWO = "How much did the repairs to the Tarnholm pier cost, and how many distress flares did the ferry fire?"


def test_compound_clauses():
    assert compound_clauses("The pier cost 310,000 crowns, and the ferry fired 14 distress flares.") == [
        "The pier cost 310,000 crowns.", "The ferry fired 14 distress flares."]
    assert compound_clauses("Repairs cost 310,000 crowns; the board paid for them.") == [
        "Repairs cost 310,000 crowns.", "The board paid for them."]
    assert compound_clauses("The pier and the ferry were repaired.") == []
    assert compound_clauses("It cost 310,000 crowns, and more.") == []  # "more" states nothing


def test_with_verify_clauses_a_sentence_answering_two_parts_is_verified_clause_by_clause():
    answer = "The repairs to the Tarnholm pier cost 310,000 crowns, and the ferry fired 14 distress flares."
    # cited to the flares sentence only: as one sentence it is unsupported, each clause stands on its own
    v = verify(answer, [3], ITEMS, SupportScorer(), question=TWO, knobs=CLAUSES)
    assert [s.text for s in v.sentences] == ["The repairs to the Tarnholm pier cost 310,000 crowns.",
                                             "The ferry fired 14 distress flares."]
    assert 2 in v.sentences[0].cites and 3 in v.sentences[1].cites
    # a clause the evidence does not hold is dropped, the other kept
    wrong = "The repairs to the Tarnholm pier cost 90,000 crowns, and the ferry fired 14 distress flares."
    v = verify(wrong, [3], ITEMS, SupportScorer(), question=TWO, knobs=CLAUSES)
    assert [s.text for s in v.sentences] == ["The ferry fired 14 distress flares."]
    # a question that asks one thing: the sentence stands or falls whole
    one = "How much did the repairs to the Tarnholm pier cost?"
    v = verify(wrong, [3], ITEMS, SupportScorer(), question=one, knobs=CLAUSES)
    assert v.sentences == []


def test_each_sentence_is_checked_against_the_part_it_answers():
    # "How many flares" would drop a count of crowns; the first part asks how much the repairs cost
    v = verify("The repairs to the Tarnholm pier cost 310,000 crowns. [2]", [2], ITEMS, SupportScorer(),
               question=TWO)
    assert [s.text for s in v.sentences] == ["The repairs to the Tarnholm pier cost 310,000 crowns."]
    # asked alone, the count question still drops it
    v = verify("The repairs to the Tarnholm pier cost 310,000 crowns. [2]", [2], ITEMS, SupportScorer(),
               question="How many distress flares did the ferry fire during the Tarnholm storm?")
    assert v.sentences == [] and any("counts crowns" in r for _, rs in v.dropped for r in rs)


def test_by_default_a_compound_answer_stands_or_falls_whole():
    """verify_clauses is off by default (Settings: measured on the news test split)."""
    answer = "The repairs to the Tarnholm pier cost 310,000 crowns, and the ferry fired 14 distress flares."
    assert verify(answer, [3], ITEMS, SupportScorer(), question=TWO).sentences == []
