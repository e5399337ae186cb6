"""The claim an answer sentence makes, as the eval scores its faithfulness.

A fragment answer ("1,150") is a claim only together with its question (``verify.as_claim``): scored bare,
"412" would be "supported" by any sentence holding 412. But the question's calendar details are the
asker's premise, not something the answer states: "How many fans attended the 2032 final? 38,412" is
faithful to a sentence giving 38,412 fans at that final even when the sentence does not repeat the year
(news sentences rarely do; the dateline does). So the eval drops from the question the years, months,
weekdays and days of the month that the cited evidence does not state, unless the evidence states another
of the same kind (then the sentence may date another event, and the claim keeps the question's date and
fails). Measured against the read labels with ``python -m rag.evaluation.labelled agreement``.
"""

from __future__ import annotations

import re

from rag.knobs import DEFAULT_KNOBS

_YEAR = re.compile(r"(?<![\d.,])(1[0-9]{3}|20[0-9]{2})(?![\d])(?!s\b|'s\b)")
_DAY = r"(?:[1-9]|[12][0-9]|3[01])(?:st|nd|rd|th)?"


def _kind_values(parts: set[str], kind: str) -> set[str]:
    return {p for p in parts if p.split(":")[0] == kind}


def premise_free(question: str, evidence: list[str]) -> str:
    """``question`` without the calendar details the cited ``evidence`` does not state (see the module)."""
    from rag.text.lexical import MONTHS, WEEKDAYS, extract_dates

    q_dates = extract_dates(question)
    if not q_dates:
        return question
    ev_dates = extract_dates(" ".join(evidence))
    spans: list[tuple[int, int]] = []
    for kind, names in (("month", MONTHS), ("weekday", WEEKDAYS)):
        asked = _kind_values(q_dates, kind)
        stated = _kind_values(ev_dates, kind)
        if not asked or (stated - asked):  # the evidence names another month/weekday: keep the premise
            continue
        for name, num in names.items():
            if f"{kind}:{num}" not in asked or f"{kind}:{num}" in stated:
                continue
            for m in re.finditer(rf"\b{name.capitalize()}\b\.?", question):
                start, end = m.start(), m.end()
                if kind == "month":  # "15 March", "March 15th": the day goes with its month
                    before = re.search(rf"{_DAY}\s+(?:of\s+)?$", question[:start])
                    after = re.match(rf"\s+{_DAY}\b,?", question[end:])
                    start = before.start() if before else start
                    end = end + after.end() if after else end
                spans.append((start, end))
    asked_years = _kind_values(q_dates, "year")
    if asked_years and not (_kind_values(ev_dates, "year") - asked_years):
        spans += [(m.start(), m.end()) for m in _YEAR.finditer(question) if f"year:{m.group(1)}" not in ev_dates]
    if not spans:
        return question
    out, last = [], 0
    for start, end in sorted(spans):
        if start >= last:
            out.append(question[last:start])
            last = end
    out.append(question[last:])
    text = re.sub(r"\s+", " ", "".join(out))
    return re.sub(r"\s+([?.,])", r"\1", text).strip()


def eval_claim(sentence: str, question: str, evidence: list[str],
               short_words: int = DEFAULT_KNOBS.short_answer_words) -> str:
    """The claim the eval scores for one answer sentence citing ``evidence``: the sentence itself, or for a
    fragment the fragment with its question, less the calendar premise the evidence does not state."""
    from rag.answer.verify import as_claim
    from rag.question import is_short_answer

    if question and is_short_answer(sentence, short_words):
        question = premise_free(question, evidence)
    return as_claim(sentence, question, short_words)
