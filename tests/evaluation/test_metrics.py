"""Evaluation metrics on hand-computed cases, including the 0 and 1 edges and empty inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.evaluation import metrics as m
from rag.support import SupportResult


class KeywordScorer:
    """A transparent stand-in for the support scorer: evidence supports a claim when every word
    in the claim's {curly} markers appears in it. Lets the citation metrics be checked by hand."""

    def _one(self, claim: str, evidence: str | list[str]) -> SupportResult:
        text = " ".join(evidence) if isinstance(evidence, list) else evidence
        need = [w.strip("{}") for w in claim.split() if w.startswith("{")]
        ok = all(n in text.split() for n in need)
        return SupportResult(1.0 if ok else 0.0, ok, [])

    def score(self, claim, evidence):
        return self._one(claim, evidence)

    def score_many(self, claims, evidences):
        return [self._one(c, e) for c, e in zip(claims, evidences, strict=True)]


# --- SQuAD answer metrics -----------------------------------------------------------------------


def test_normalize_answer_follows_squad():
    assert m.normalize_answer("The  Cat's hat!") == "cats hat"
    assert m.normalize_answer("An apple, a pear and THE plum.") == "apple pear and plum"
    assert m.normalize_answer("  ") == ""
    assert m.normalize_answer("theater") == "theater"  # articles only as whole words


def test_answer_contains_gold():
    assert m.answer_contains_gold("Nearly seven mortar rounds landed [1].", ["seven mortar rounds"])
    assert m.answer_contains_gold("It was the Normans.", ["Normans", "the Norse"])
    assert not m.answer_contains_gold("It was the Norsemen.", ["Norse"])  # whole words only
    assert not m.answer_contains_gold("anything", [])
    assert not m.answer_contains_gold("anything", ["", "the"])  # empty golds never match


def test_token_f1_hand_computed():
    assert m.token_f1("the cat sat", ["cat sat"]) == 1.0
    assert m.token_f1("dog", ["cat"]) == 0.0
    # pred: [big, red, dog]; gold: [red, dog, barked] -> common 2, p=2/3, r=2/3
    assert m.token_f1("a big red dog", ["red dog barked"]) == pytest.approx(2 / 3)
    # max over golds
    assert m.token_f1("red dog", ["cat", "red dog"]) == 1.0
    assert m.token_f1("anything", []) == 0.0
    assert m.token_f1("", [""]) == 1.0  # both empty after normalisation, as in the SQuAD script


# --- retrieval ----------------------------------------------------------------------------------


def test_hit_at_k_and_mrr():
    ranked = ["a", "b", "c", "d"]
    assert m.hit_at_k(ranked, {"c"}, 3)
    assert not m.hit_at_k(ranked, {"c"}, 2)
    assert not m.hit_at_k(ranked, {"z"}, 10)
    assert not m.hit_at_k(ranked, {"a"}, 0)
    assert m.mrr(ranked, {"c", "d"}) == pytest.approx(1 / 3)
    assert m.mrr(ranked, {"a"}) == 1.0
    assert m.mrr(ranked, {"z"}) == 0.0
    assert m.mrr([], {"a"}) == 0.0


# --- faithfulness and citations ------------------------------------------------------------------


def test_faithfulness_and_hallucination_rate():
    s = KeywordScorer()
    sents = [
        ("{seven} rounds landed", ["nearly seven rounds"]),
        ("{twelve} rounds landed", ["nearly seven rounds"]),
        ("{Baghdad} embassy", []),  # cites nothing: unsupported
        ("{Friday} and {4am}", ["on Friday", "at 4am"]),  # supported by the concatenation
    ]
    assert m.faithfulness(sents, s) == pytest.approx(2 / 4)
    assert m.hallucination_rate(sents, s) == pytest.approx(2 / 4)
    assert m.faithfulness([("{x}", ["x"])], s) == 1.0
    assert m.hallucination_rate([("{x}", ["y"])], s) == 1.0
    assert m.faithfulness([], s) is None
    assert m.hallucination_rate([], s) is None


def test_citation_recall():
    s = KeywordScorer()
    sents = [("{a} {b}", ["a", "b"]), ("{a}", ["c"]), ("{a}", [])]
    assert m.citation_recall(sents, s) == pytest.approx(1 / 3)
    assert m.citation_recall([], s) is None


def test_citation_precision_alce():
    s = KeywordScorer()
    # sentence 1: needs a and b; cites [a], [b], [c]:
    #   [a] alone no; rest [b, c] lacks a -> needed -> precise
    #   [b] alone no; rest [a, c] lacks b -> precise
    #   [c] alone no; rest [a, b] supports -> irrelevant
    # sentence 2: needs a; cites [a x], [a y]: each supports alone -> both precise
    # sentence 3: needs z; cites [a]: unsupported overall -> imprecise (ALCE)
    sents = [("{a} {b}", ["a", "b", "c"]), ("{a}", ["a x", "a y"]), ("{z}", ["a"]), ("{q}", [])]
    assert m.citation_precision(sents, s) == pytest.approx(4 / 6)
    assert m.citation_precision([("{a}", ["a"])], s) == 1.0
    assert m.citation_precision([("{a}", ["b"])], s) == 0.0
    assert m.citation_precision([("{a}", [])], s) is None
    assert m.citation_precision([], s) is None


def test_citation_metrics_with_the_real_scorer():
    from rag.support import SupportScorer

    s = SupportScorer()  # lexical only: no model needed for this check
    ev_mortar = "Early on Friday, nearly seven mortar rounds landed in the U.S. Embassy compound in Baghdad."
    ev_other = "Sirens calling on people to take cover were activated."
    sents = [
        ("Nearly seven mortar rounds landed in the U.S. Embassy compound in Baghdad.", [ev_mortar, ev_other]),
        ("Twelve mortar rounds landed in the embassy compound.", [ev_mortar]),
    ]
    assert m.citation_recall(sents, s) == pytest.approx(0.5)
    # sentence 1: mortar citation precise, siren citation irrelevant; sentence 2 unsupported -> imprecise
    assert m.citation_precision(sents, s) == pytest.approx(1 / 3)


# --- refusals -----------------------------------------------------------------------------------


def test_refusal_scores_hand_computed():
    items = [
        {"answerable": False, "refused": True},
        {"answerable": False, "refused": True},
        {"answerable": False, "refused": False},
        {"answerable": True, "refused": True},
        {"answerable": True, "refused": False},
        {"answerable": True, "refused": False},
        {"answerable": True, "refused": False},
    ]
    r = m.refusal_scores(items)
    assert r["refusal_precision"] == pytest.approx(2 / 3)
    assert r["refusal_recall"] == pytest.approx(2 / 3)
    assert r["false_refusal_rate"] == pytest.approx(1 / 4)
    assert (r["n_unanswerable"], r["n_answerable"]) == (3, 4)


def test_refusal_scores_edges():
    none = m.refusal_scores([])
    assert none["refusal_precision"] is None and none["refusal_recall"] is None
    assert none["false_refusal_rate"] is None
    only_answered = m.refusal_scores([{"answerable": True, "refused": False}])
    assert only_answered["false_refusal_rate"] == 0.0
    assert only_answered["refusal_precision"] is None  # no refusals
    assert only_answered["refusal_recall"] is None  # no unanswerable questions
    perfect = m.refusal_scores(
        [{"answerable": False, "refused": True}, {"answerable": True, "refused": False}]
    )
    assert perfect["refusal_precision"] == perfect["refusal_recall"] == 1.0
    assert perfect["false_refusal_rate"] == 0.0


# --- percentile ---------------------------------------------------------------------------------


def test_percentile_hand_computed():
    assert m.percentile([], 50) is None
    assert m.percentile([7], 95) == 7
    assert m.percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert m.percentile([10, 20, 30, 40, 50], 0) == 10
    assert m.percentile([10, 20, 30, 40, 50], 100) == 50
    assert m.percentile([50, 10, 40, 20, 30], 90) == pytest.approx(46.0)
    with pytest.raises(ValueError):
        m.percentile([1], 101)
    assert m.mean([1, None, 3]) == 2
    assert m.mean([None]) is None


@settings(deadline=None, max_examples=200)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50), st.floats(0, 100))
def test_percentile_matches_numpy(values, p):

    got = m.percentile(values, p)
    assert math.isclose(got, float(np.percentile(values, p)), rel_tol=1e-9, abs_tol=1e-6)
    assert min(values) - 1e-9 <= got <= max(values) + 1e-9
