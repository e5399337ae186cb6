"""Verification: every answer sentence must be supported by the evidence it cites.

For each sentence of a generated answer, using the one support scorer (``rag.support``):
- supported by its cited evidence        -> keep (citing only the items that support it);
- supported by another evidence sentence -> re-cite to that one (small models often cite the wrong
  number; dropping a true sentence would cost a correct answer);
- supported by nothing                   -> drop, and say so in the notes.
If nothing survives, the chain refuses.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from rag.ingest.sentences import split_sentences

_MARKER = re.compile(r"\s*\[(\d{1,3})\]")
_NO_CONTENT = re.compile(r"^[\W_]*$")


@dataclass
class VerifiedSentence:
    text: str
    cites: list[int]  # evidence numbers (1-based, as shown to the model)
    action: str  # "kept" | "recited"
    score: float


@dataclass
class Verification:
    sentences: list[VerifiedSentence] = field(default_factory=list)
    dropped: list[tuple[str, list[str]]] = field(default_factory=list)  # (sentence, reasons)

    @property
    def recited(self) -> int:
        return sum(1 for s in self.sentences if s.action == "recited")


def split_answer(text: str) -> list[tuple[str, list[int]]]:
    """Answer text -> [(sentence without markers, inline [n] markers)]."""
    out = []
    for s, e in split_sentences(text):
        sent = text[s:e]
        marks = [int(m) for m in _MARKER.findall(sent)]
        clean = _MARKER.sub("", sent).strip()
        if clean and not _NO_CONTENT.match(clean):
            out.append((clean, marks))
    # a trailing marker after the final period belongs to the previous sentence
    return out


def as_claim(sentence: str, question: str) -> str:
    """A fragment answer ("seven", "Abu Ali al-Askari") is only a claim together with its question."""
    if question and len(sentence.split()) <= 8:
        return f"{question.strip()} {sentence}"
    return sentence


class _FragmentScorer:
    """For a fragment answer the question carries the claim's meaning, so the evidence must also cover
    what the question asks ("called the embassy a nest of espionage"), not just contain the answer word:
    a headline that merely mentions the answer is not support."""

    def __init__(self, scorer, question: str, min_coverage: float = 0.5):
        from rag.answer.evidence import question_terms

        self.scorer, self.terms, self.min = scorer, question_terms(question), min_coverage

    def _gate(self, evidence, res):
        from rag.answer.evidence import lexical_overlap

        text = " ".join(evidence) if isinstance(evidence, list) else evidence
        cov = lexical_overlap(self.terms, text)
        if res.supported and cov < self.min:
            res = dataclasses.replace(res, supported=False, reasons=[
                *res.reasons, f"evidence covers {cov:.0%} of what the question asks"])
        return res

    def score(self, claim, evidence):
        return self._gate(evidence, self.scorer.score(claim, evidence))

    def best(self, claim, candidates):
        results = [self.score(claim, c) for c in candidates]
        idx = max(range(len(results)), key=lambda i: (results[i].supported, results[i].score))
        return idx, results[idx]


def verify(answer_text: str, cited: list[int], items, scorer, question: str = "") -> Verification:
    by_n = {it.n: it for it in items}
    result = Verification()
    parts = split_answer(answer_text)
    texts = [it.display_text for it in items]
    plain = scorer
    fragment = _FragmentScorer(scorer, question) if question else scorer
    for shown, marks in parts:
        sent = as_claim(shown, question)
        scorer = fragment if sent != shown else plain
        hint = [n for n in (marks or cited) if n in by_n]
        kept = False
        if hint:
            alone = [(n, scorer.score(sent, by_n[n].display_text)) for n in hint]
            good = [(n, r) for n, r in alone if r.supported]
            if good:
                best = max(r.score for _, r in good)
                result.sentences.append(VerifiedSentence(shown, [n for n, _ in good], "kept", best))
                kept = True
            elif len(hint) > 1 and scorer is plain:  # a fragment answer must stand on one sentence
                joint = scorer.score(sent, [by_n[n].display_text for n in hint])
                if joint.supported:
                    result.sentences.append(VerifiedSentence(shown, hint, "kept", joint.score))
                    kept = True
        if kept:
            continue
        if texts:
            idx, res = scorer.best(sent, texts)
            if res.supported:
                result.sentences.append(VerifiedSentence(shown, [items[idx].n], "recited", res.score))
                continue
            reasons = res.reasons or ["not supported by any evidence sentence"]
        else:
            reasons = ["no evidence"]
        result.dropped.append((shown, reasons))
    return result
