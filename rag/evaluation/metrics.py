"""Evaluation metrics as pure functions: answers, retrieval, faithfulness, citations, refusals.

Conventions: every metric returns ``None`` when its denominator is empty (no answerable questions,
no cited sentences ...), so a report can say "n/a" instead of a misleading 0 or 1. Support
judgements (faithfulness, citation recall/precision) come from the one
:class:`rag.support.SupportScorer`, the same scorer the answering chain verifies with.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.support import SupportScorer

_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"“", "”", "‘", "’", "–", "—", "…"}


# --------------------------------------------------------------------------------------------------
# answers (SQuAD conventions)
# --------------------------------------------------------------------------------------------------


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation, drop articles a/an/the, squeeze spaces."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES_RE.sub(" ", s)
    return " ".join(s.split())


def answer_contains_gold(answer: str, golds: Iterable[str]) -> bool:
    """Whether some non-empty normalised gold answer occurs in the normalised answer as whole words."""
    norm = f" {normalize_answer(answer)} "
    for g in golds:
        ng = normalize_answer(g)
        if ng and f" {ng} " in norm:
            return True
    return False


_TRAILING_MARKS = re.compile(r"([.!?][\"'\u201d\u2019)]*)((?:\s*\[\d{1,3}\])+)")


def split_cited(text: str) -> list[tuple[str, list[int]]]:
    """Answer text -> ``[(sentence, [n, ...])]``, with markers written after the full stop
    ("... dam. [1]", as the chain renders answers) kept with the sentence they follow.

    ``verify.split_answer`` alone would hand such a marker to the *next* sentence (or drop it at the
    end), so the markers are first moved inside the sentence they close.
    """
    from rag.answer.verify import split_answer

    return split_answer(_TRAILING_MARKS.sub(lambda m: m.group(2) + m.group(1), text))


def groups_met(answer: str, required: Sequence[Sequence[str]]) -> int:
    """How many required groups the answer satisfies (a group: one of its alternatives present, as in
    :func:`answer_contains_gold`)."""
    return sum(1 for group in required if answer_contains_gold(answer, group))


OUTCOMES = ("correct", "answered_wrong", "correct_refusal", "false_refusal")


def outcome(answerable: bool, refused: bool, correct_strict: bool) -> str:
    """One of four outcomes. ``answered_wrong`` covers an answerable question answered incompletely or
    wrongly and *any* answer to an unanswerable question: what a reader is hurt by most."""
    if refused:
        return "false_refusal" if answerable else "correct_refusal"
    return "correct" if answerable and correct_strict else "answered_wrong"


def outcome_rates(outcomes: Sequence[str]) -> dict[str, Any]:
    """Counts of the four outcomes, the wrong-answer rate over all questions and among answered ones."""
    n = len(outcomes)
    counts = {k: sum(1 for o in outcomes if o == k) for k in OUTCOMES}
    answered = counts["correct"] + counts["answered_wrong"]
    return {
        "counts": counts,
        "n": n,
        "answered": answered,
        "wrong_answer_rate": counts["answered_wrong"] / n if n else None,
        "wrong_among_answered": counts["answered_wrong"] / answered if answered else None,
    }


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    p = same / len(pred_tokens)
    r = same / len(gold_tokens)
    return 2 * p * r / (p + r)


def token_f1(answer: str, golds: Iterable[str]) -> float:
    """SQuAD token F1 of the answer against the best-matching gold (0.0 when there is no gold)."""
    pred = normalize_answer(answer).split()
    scores = [_f1(pred, normalize_answer(g).split()) for g in golds]
    return max(scores) if scores else 0.0


# --------------------------------------------------------------------------------------------------
# retrieval
# --------------------------------------------------------------------------------------------------


def hit_at_k(ranked_ids: Sequence[str], gold_ids: Iterable[str], k: int) -> bool:
    """Whether any gold id is among the first ``k`` ranked ids."""
    gold = set(gold_ids)
    return any(r in gold for r in list(ranked_ids)[: max(0, k)])


def mrr(ranked_ids: Sequence[str], gold_ids: Iterable[str]) -> float:
    """Reciprocal rank of the first gold id (0.0 when none is retrieved)."""
    gold = set(gold_ids)
    for i, r in enumerate(ranked_ids, 1):
        if r in gold:
            return 1.0 / i
    return 0.0


# --------------------------------------------------------------------------------------------------
# faithfulness and citations (ALCE-style)
# --------------------------------------------------------------------------------------------------

CitedSentence = tuple[str, Sequence[str]]  # (sentence text, texts of the passages it cites)


def faithfulness(sentences: Sequence[CitedSentence], scorer: SupportScorer) -> float | None:
    """Share of answer sentences supported by the concatenation of their cited passages.

    A sentence citing nothing counts as unsupported. ``None`` for an answer without sentences
    (a refusal, say). Hallucination rate is ``1 - faithfulness``.
    """
    if not sentences:
        return None
    flags = _recalled(sentences, scorer)
    return sum(flags) / len(flags)


def hallucination_rate(sentences: Sequence[CitedSentence], scorer: SupportScorer) -> float | None:
    """``1 - faithfulness`` (``None`` when faithfulness is)."""
    f = faithfulness(sentences, scorer)
    return None if f is None else 1.0 - f


def _recalled(sentences: Sequence[CitedSentence], scorer: SupportScorer) -> list[bool]:
    idx = [i for i, (_, cites) in enumerate(sentences) if cites]
    results = scorer.score_many([sentences[i][0] for i in idx], [list(sentences[i][1]) for i in idx])
    flags = [False] * len(sentences)
    for i, r in zip(idx, results, strict=True):
        flags[i] = r.supported
    return flags


def citation_recall(sentences: Sequence[CitedSentence], scorer: SupportScorer) -> float | None:
    """ALCE citation recall: share of sentences whose cited passages, concatenated, support them.

    A sentence without citations is not recalled. ``None`` when there are no sentences.
    """
    return faithfulness(sentences, scorer)


def citation_precision(sentences: Sequence[CitedSentence], scorer: SupportScorer) -> float | None:
    """ALCE citation precision: share of citations that are not irrelevant.

    A citation is irrelevant when the sentence is not supported by that passage alone AND the
    sentence's other citations still support it without it. (So for a sentence its citations do
    not support at all, every citation counts as imprecise, as in ALCE.) ``None`` when no sentence
    cites anything.
    """
    total = 0
    precise = 0
    for text, cites in sentences:
        cites = list(cites)
        if not cites:
            continue
        total += len(cites)
        full = scorer.score(text, cites).supported
        if not full:
            continue  # ALCE: citations of an unsupported sentence are not precise
        alone = scorer.score_many([text] * len(cites), cites)
        for j, r in enumerate(alone):
            if r.supported:
                precise += 1
                continue
            rest = cites[:j] + cites[j + 1 :]
            rest_supports = bool(rest) and scorer.score(text, rest).supported
            if not rest_supports:
                precise += 1  # needed for the support, though not sufficient alone
    return precise / total if total else None


# --------------------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------------------


def refusal_scores(items: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
    """Refusal quality from items ``{"answerable": bool, "refused": bool}``.

    - ``refusal_precision``: of the refusals, the share on unanswerable questions;
    - ``refusal_recall``: of the unanswerable questions, the share refused;
    - ``false_refusal_rate``: of the answerable questions, the share refused.
    Each is ``None`` when its denominator is empty; counts are included.
    """
    tp = fp = fn = tn = 0
    for it in items:
        answerable = bool(it["answerable"])
        refused = bool(it["refused"])
        if not answerable and refused:
            tp += 1
        elif not answerable:
            fn += 1
        elif refused:
            fp += 1
        else:
            tn += 1
    return {
        "refusal_precision": tp / (tp + fp) if tp + fp else None,
        "refusal_recall": tp / (tp + fn) if tp + fn else None,
        "false_refusal_rate": fp / (fp + tn) if fp + tn else None,
        "n_unanswerable": tp + fn,
        "n_answerable": fp + tn,
    }


# --------------------------------------------------------------------------------------------------
# summaries
# --------------------------------------------------------------------------------------------------


def percentile(values: Iterable[float], p: float) -> float | None:
    """The ``p``-th percentile (0..100) with linear interpolation, like ``numpy.percentile``."""
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    if not 0 <= p <= 100:
        raise ValueError("p must be within 0..100")
    pos = (len(xs) - 1) * p / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    if lo == hi:
        return xs[lo]
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the non-None values (``None`` when there are none)."""
    xs = [float(v) for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None
