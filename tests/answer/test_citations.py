"""Rendering a verified answer's citations: one [n] per passage the reader opens, numbered by first use."""

from __future__ import annotations

import pytest

from rag.answer.chain import AnswerChain, contained_quotes
from rag.answer.evidence import EvidenceItem
from rag.answer.verify import Verification, VerifiedSentence
from rag.types import Passage

pytestmark = pytest.mark.unit

# written for this test: a sentence, and the next one, which opens with "The ..." and so is shown with it
FIRST = "Before dawn on Tuesday, eleven barges broke loose from the Marrow river terminal."
SECOND = "The barges drifted four miles before a tug caught the last of them."
OTHER = "The port authority said the mooring lines had been inspected in March."
TEXT = f"{FIRST} {SECOND} {OTHER}"


def _item(n: int, doc: str, sentence: str, context: str = "") -> EvidenceItem:
    start = TEXT.index(sentence)
    span_start = TEXT.index(context) if context else start
    p = Passage(chunk_id=f"{doc}-0000", doc_id=doc, text=TEXT, start=0, end=len(TEXT), title="Barges break loose")
    return EvidenceItem(n=n, doc_id=doc, chunk_id=f"{doc}-0000", sentence=sentence, start=start,
                        end=start + len(sentence), score=1.0, passage=p, context=context, span_start=span_start,
                        span_text=TEXT[span_start:start + len(sentence)], passage_text=TEXT)


def _render(sentences: list[tuple[str, list[int]]], items: list[EvidenceItem]):
    verified = Verification(sentences=[VerifiedSentence(text=t, cites=c, action="kept", score=1.0)
                                       for t, c in sentences])
    return AnswerChain._citations(None, verified, items)  # uses nothing of the chain but its arguments


def test_a_quote_inside_another_cited_quote_is_cited_once_as_the_larger():
    alone, with_context = _item(1, "a", FIRST), _item(2, "a", SECOND, context=FIRST)
    body, cites = _render([("Eleven barges broke loose.", [1, 2])], [alone, with_context])
    assert body == "Eleven barges broke loose. [1]"
    assert len(cites) == 1
    c = cites[0]
    assert c.quote == f"{FIRST} {SECOND}" and TEXT[c.start:c.end] == c.quote  # the larger quote, exact


def test_numbering_follows_first_use_after_merging():
    alone, with_context, other = _item(1, "a", FIRST), _item(2, "a", SECOND, context=FIRST), _item(3, "a", OTHER)
    body, cites = _render([("The lines were inspected in March.", [3]), ("Eleven barges broke loose.", [1]),
                           ("They drifted four miles.", [2])], [alone, with_context, other])
    assert body == ("The lines were inspected in March. [1] Eleven barges broke loose. [2] "
                    "They drifted four miles. [2]")
    assert [c.quote for c in cites] == [OTHER, f"{FIRST} {SECOND}"]


def test_quotes_of_other_articles_or_side_by_side_stay_apart():
    same_doc = {1: _item(1, "a", FIRST), 2: _item(2, "a", SECOND)}  # adjacent, neither inside the other
    assert contained_quotes([1, 2], same_doc) == {}
    other_doc = {1: _item(1, "a", FIRST), 2: _item(2, "b", SECOND, context=FIRST)}  # same text, another article
    assert contained_quotes([1, 2], other_doc) == {}
    body, cites = _render([("Eleven barges broke loose.", [1, 2])], list(other_doc.values()))
    assert body == "Eleven barges broke loose. [1][2]" and len(cites) == 2


def test_nested_and_equal_spans_map_to_one_outermost_quote():
    inner = _item(1, "a", FIRST)
    outer_a = _item(2, "a", SECOND, context=FIRST)
    outer_b = _item(3, "a", SECOND, context=FIRST)  # the same span again
    by_n = {1: inner, 2: outer_a, 3: outer_b}
    assert contained_quotes([3, 1, 2], by_n) == {1: 2, 3: 2}
    assert contained_quotes([9, 1], by_n) == {}  # a number not shown to the model is left to verification
