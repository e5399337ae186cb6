"""The deterministic, question-aware answerability check, run before any text is generated.

A retrieved sentence can be *about* the question's topic without answering it: asked for "the name
of the US ambassador to Iraq", an article about attacks on the US embassy in Iraq is on topic and
scores well, yet says nothing about an ambassador. The answer-or-refuse decision
(:mod:`rag.answer.decision`) weighs every rule's objection; these rules also veto, and each stays only
because grouped cross-validation over articles shows its veto helps beyond that decision on the dev runs
(``python -m rag.evaluation.train_decision ablate-rules``, ``eval/reports/decision/rule-ablation-*.json``).
Each objection adds a reason and names its kind (:data:`RULE_KINDS`); ``missing`` lists what was absent:

- ``name``: every name in the question must occur in the evidence (case, possessives,
  "U.S."/"US"/"United States", plurals, "Iraq"/"Iraqi" and surname-only forms are tolerated).
  Question words ("What", "Who", "How") are never names.
- ``number``: every number of the question must occur (except the size of the answer: "what are the
  two sources ...").
- ``coverage``: at least ``min_question_coverage`` of the question's content words (stemmed, weighted
  by length) must occur in the evidence.
- ``slot``: the role whose holder is asked for — the head noun after "name of the" or "who is
  the" ("ambassador" in "the name of the US ambassador to Iraq") — must occur in the evidence.
  (Answer-type nouns, as in "which country" or "how many times", are not required: evidence
  names the country without the word "country".)
- ``premise``: the past-tense verb of a "when/after/before ..." clause ("when she conceded the
  election") must occur in the evidence: the question takes that event for granted.
- ``polarity``: a negated question ("which group did not ...") needs a negation in the evidence
  sentence that carries it; a question word whose opposite the evidence uses instead ("away" vs
  "towards", "armed" vs "disarmed") fails.

Deleted because their veto changed no outcome on any dev run (issue #14 item 4): the evidence-score
floor, the date rule (months, weekdays) and the best-single-sentence coverage.

The numbers are Settings fields (group "answer check"), passed down as :class:`rag.knobs.Knobs`.

Paraphrases of a question's *names* are not accepted (a name is a name), but ordinary words are
only required through coverage, so a paraphrased question still passes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from rag.answer.evidence import pool_idf_overlap
from rag.knobs import DEFAULT_KNOBS, Knobs
from rag.question import analyse, question_terms
from rag.support import weighted_recall
from rag.text import lexical as tu
from rag.text.sentences import sentences, split_sentences
from rag.text.words import words

log = logging.getLogger(__name__)

# Words that say what kind of answer is wanted, not what it is about.
_GENERIC_SLOT = set(words("answerable", "generic_slot"))
_COUNT_OF_ANSWER = re.compile(r"\b(?:the|what|which|name|list|give|are|were)\s+$", re.I)
_QUESTION_WORDS = set(words("answerable", "question_words"))
_SLOT_PATTERNS = [
    # "what is the name of the US ambassador to Iraq" -> "US ambassador"
    re.compile(
        r"\b(?:name|title|identity|number|amount|size|percentage|share|age)\s+of\s+(?:the\s+|a\s+|an\s+)?"
        r"(?P<np>[\w'’\- ]+?)(?=\s+(?:of|to|in|at|for|on|from|by|with|that|who|which|was|is|were|are|did"
        r"|does|do|has|have|had|will|would|can|could)\b|[?,.]|$)",
        re.I,
    ),
    # "who is the US ambassador to Iraq" -> "US ambassador"
    re.compile(
        r"^\s*who\s+(?:is|was|are|were)\s+(?:the\s+|a\s+|an\s+)(?P<np>[\w'’\- ]+?)(?=\s+(?:of|to|in|at|"
        r"for|on|from|by|with|that|who|which)\b|[?,.]|$)",
        re.I,
    ),
]


@dataclass
class Answerability:
    """The verdict: ``answerable``, human-readable ``reasons`` when not, and the ``missing`` terms.
    ``kinds[i]`` names the rule behind ``reasons[i]`` (one of :data:`RULE_KINDS`), so each rule's effect can
    be measured on its own (the decision records them), and ``words[i]`` the words it is about, as the
    question or the evidence writes them (what a refusal tells the reader). No evidence at all is no rule's
    objection: its reason has no kind."""

    answerable: bool
    reasons: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    words: list[tuple[str, ...]] = field(default_factory=list)


# the rules of check(), by the kind of objection each makes
RULE_KINDS = ("name", "number", "coverage", "slot", "premise", "polarity")


def question_slot(question: str) -> list[str]:
    """Head noun(s) of the asked-for thing (surface words), or [] when no pattern applies."""
    for rx in _SLOT_PATTERNS:
        m = rx.search(question)
        if not m:
            continue
        words = [w for w in re.findall(r"[\w'’\-]+", m.group("np"))]
        words = [w for w in words if w.lower() not in tu.STOPWORDS and w.lower() not in _GENERIC_SLOT]
        if not words:
            continue
        return [words[-1]]  # the head of an English noun phrase is its last word
    return []


def _has(stem_set: set[str], word: str) -> bool:
    st = tu.stem(word.lower())
    return st in stem_set or any(tu._tok_match(st, h) for h in stem_set if h[:3] == st[:3])


def check(question: str, evidence: list[str], knobs: Knobs = DEFAULT_KNOBS) -> Answerability:
    """Whether ``evidence`` (sentences) can answer ``question`` — deterministic rules, no model."""
    reasons: list[str] = []
    kinds: list[str] = []
    missing: list[str] = []
    about: list[tuple[str, ...]] = []

    def objects(kind: str, reason: str, *words_: str) -> None:
        kinds.append(kind)
        reasons.append(reason)
        about.append(words_)
    ev = [e for e in evidence if e and e.strip()]
    if not ev:
        return Answerability(False, ["no evidence"], [], [])
    joined = " ".join(ev)
    ev_stems = set(tu.stems(joined))

    # names
    asked = analyse(question)  # the question's names and premise, parsed once for the whole chain
    names = [n for n in asked.names if n.lower() not in _QUESTION_WORDS]
    for name in names:
        if not tu.entity_in(name, joined):
            objects("name", f"name '{name}' not in the evidence", name)
            missing.append(name)

    # numbers
    ev_nums = tu.number_values(joined, permissive=True)
    for n in tu.extract_numbers(question):
        if n.text.lower() == "first":
            continue
        if n.text.isalpha() and n.value <= knobs.answer_size_max and _COUNT_OF_ANSWER.search(question[: n.start]):
            continue  # "what are the two sources ...": the size of the answer, not a fact to find
        if round(n.value, 6) not in ev_nums:
            objects("number", f"number {n.text} not in the evidence", n.text)
            missing.append(n.text)

    # coverage of content words
    q_terms = [t for t in dict.fromkeys(tu.content_stems(question)) if t not in _GENERIC_SLOT]
    cover = weighted_recall(q_terms, ev_stems, knobs)
    if q_terms and cover < knobs.min_question_coverage:
        absent = [t for t in q_terms if not _has(ev_stems, t)]
        objects("coverage", f"the evidence covers {cover:.0%} of the question's terms",
                *(tu.surface(a, question) for a in absent))
        missing.extend(a for a in absent if a not in missing)

    # the asked-for slot
    for w in question_slot(question):
        if not _has(ev_stems, w):
            objects("slot", f"nothing about '{w}' in the evidence", w)
            if w not in missing:
                missing.append(w)

    # the premise of a "when/after she <did something>" clause must be in the evidence
    verbs = asked.premise
    if verbs:
        # ... and reported of someone the question names: "Brandt conceded defeat" is not a report that
        # Okafor conceded
        sents = [e[a:b] for e in ev for a, b in split_sentences(e)]
        for verb in verbs:
            st = tu.stem(verb)
            if not any(_has(set(tu.stems(x)), st) and (not names or any(tu.entity_in(n, x) for n in names))
                       for x in sents):
                objects("premise", f"the question assumes '{verb}', which the evidence does not report", verb)
                missing.append(verb)

    # polarity, judged on the evidence sentences that carry the question
    sent_cover = [(weighted_recall(q_terms, set(tu.stems(s)), knobs), s) for s in ev]
    best_first = sorted(sent_cover, key=lambda x: -x[0])[:knobs.polarity_sentences]
    for reason, said in _polarity(question, [s for c, s in best_first if c > 0]):
        objects("polarity", reason, *said)

    ok = not reasons
    if not ok:
        log.debug("not answerable: %s", "; ".join(reasons))
    return Answerability(ok, reasons, missing, kinds, about)


def _polarity(question: str, sents: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Negation and antonym agreement between the question and its best evidence sentences: each
    objection's reason and its words (the question's word and the evidence's opposite, or the negation)."""
    if not sents:
        return []
    q_stems = set(tu.stems(question))
    text = " ".join(sents)
    s_stems = set(tu.stems(text))
    out: list[tuple[str, tuple[str, ...]]] = []
    for c in sorted(q_stems):
        if (
            c in s_stems
            or c not in tu.ANTONYMS
            and not any(s == p + c for s in s_stems for p in ("un", "dis", "non"))
        ):
            continue
        opp = sorted(s for s in s_stems if tu.are_antonyms(c, s) and s not in q_stems)
        if opp:
            out.append((f"the question says '{c}' where the evidence says '{opp[0]}'",
                        (tu.surface(c, question), tu.surface(opp[0], text))))
    have = set(tu.stems(text))
    q_neg = [c for c in tu.negation_scopes(question) if any(x in have for x in c.scope)]
    if q_neg and not tu.negation_scopes(text):
        out.append((f"the question is negated ('{q_neg[0].text}') but the evidence is not", (q_neg[0].text,)))
    return out


# --------------------------------------------------------------------------------------------------
# measurement on SQuAD 2.0 (impossible questions are the negatives)
# --------------------------------------------------------------------------------------------------


def squad_report(path: str, limit: int = 300, seed: int = 0) -> dict:
    """Precision/recall of :func:`check` on SQuAD 2.0 questions with the gold paragraph's sentences
    as evidence."""
    import json
    import random

    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    qs = [(qa, p["context"]) for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]]
    rng = random.Random(seed)
    qs = rng.sample(qs, min(limit, len(qs)))
    tp = fp = tn = fn = 0
    reasons: dict[str, int] = {}
    for qa, ctx in qs:
        verdict = check(qa["question"], sentences(ctx))
        gold = not qa.get("is_impossible", False)
        if verdict.answerable and gold:
            tp += 1
        elif verdict.answerable:
            fp += 1
        elif gold:
            fn += 1
            for r in verdict.reasons:
                key = r.split(" ")[0] + " " + r.split(" ")[1]
                reasons[key] = reasons.get(key, 0) + 1
        else:
            tn += 1
    return {
        "n": len(qs),
        "answerable": tp + fn,
        "unanswerable": tn + fp,
        "precision": tp / (tp + fp) if tp + fp else None,  # of questions passed, share truly answerable
        "recall": tp / (tp + fn) if tp + fn else None,  # of answerable questions, share passed
        "refusal_precision": tn / (tn + fn) if tn + fn else None,
        "refusal_recall": tn / (tn + fp) if tn + fp else None,
        "false_refusal_reasons": dict(sorted(reasons.items(), key=lambda x: -x[1])),
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m rag.answer.answerable",
        description="Measure the answerability check on SQuAD 2.0 questions.",
    )
    ap.add_argument("squad", nargs="?", default="eval/external/squad2/dev-8-articles.json")
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    res = squad_report(args.squad, args.limit, args.seed)
    for k, v in res.items():
        print(f"{k}: {v if not isinstance(v, float) else round(v, 3)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --------------------------------------------------------------------------------------------------
# "declined to give the price per dose": the article says the fact was withheld
# --------------------------------------------------------------------------------------------------

# Said of the withheld thing, which follows the verb: "declined to give the price", "did not say when".
_WITHHELD_ACTIVE = re.compile(
    r"\b(?:declined|refused|would\s+not|did\s+not|could\s+not|wouldn't|didn't|couldn't)\s+(?:to\s+)?"
    r"(?:give|say|disclose|reveal|name|confirm|specify|identify|provide|release|publish)\b", re.I)
# Said of the withheld thing, which comes before the verb: "Their names were not released".
_WITHHELD_PASSIVE = re.compile(
    r"\b(?:was|were|is|are|has|have|had|would|will)\s+not\s+(?:be\s+|been\s+|yet\s+been\s+|yet\s+)?(?:disclosed|"
    r"released|revealed|made\s+public|published|named|identified|known)\b|\bundisclosed\b", re.I)
# Not yet settled or found out ("The contract has not been awarded", "the council has not yet decided which",
# "the cause was under investigation"): news says so of what it cannot report yet. Only for a question with a
# question word (a yes/no question is answered by such a sentence: "Has the contract been awarded?" - no).
_UNSETTLED_ACTIVE = re.compile(
    r"\b(?:has|have|had)\s+not\s+(?:yet\s+)?(?:decided|announced|said|disclosed|revealed|confirmed)\b"
    r"|\b(?:it\s+)?(?:is|was|remains|remained)\s+(?:still\s+)?(?:unclear|unknown|not\s+clear)\b", re.I)
_UNSETTLED_PASSIVE = re.compile(
    r"\b(?:has|have|had)\s+not\s+(?:yet\s+)?been\s+(?:decided|announced|awarded|set|determined|established|"
    r"chosen|agreed)\b|\b(?:is|was|are|were|remains|remained)\s+(?:still\s+)?under\s+investigation\b", re.I)
_WITHHELD = re.compile("|".join(p.pattern for p in (_WITHHELD_ACTIVE, _WITHHELD_PASSIVE, _UNSETTLED_ACTIVE,
                                                  _UNSETTLED_PASSIVE)), re.I)


_PRONOUN_OBJECT = set(words("answerable", "pronoun_object"))


def _content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[\w'-]+", text.lower()) if w not in _PRONOUN_OBJECT]


def _withheld_object(sentence: str, m: re.Match, before_verb: bool = False) -> str:
    """What was withheld: the words after the verb up to the clause end ("the price per dose"), or,
    when they are only a pronoun ("which it declined to name", "declined to name them"), the clause
    before it in the same sentence. ``before_verb``: the clause before and the verb ("the cause of the
    fire was under investigation"), the other side only when that is a pronoun ("It was unclear whether")."""
    after = re.split(r"[.;!?,]", sentence[m.end():], maxsplit=1)[0]
    start = max(sentence.rfind(". ", 0, m.start()), sentence.rfind("? ", 0, m.start()))
    before = sentence[start + 1:m.start()]
    if before_verb:
        before = re.split(r"[;,]", before)[-1]
        return before + m.group(0) if len(_content_words(before)) >= 2 else after
    return after if len(_content_words(after)) >= 2 else before


def withheld(question: str, sentences: list[str], knobs: Knobs = DEFAULT_KNOBS) -> str:
    """The evidence sentence that says what the question asks was not disclosed ("He declined to give
    the price per dose") or is not settled yet ("The contract has not been awarded"), or "". News reports
    say so explicitly; a model shown that sentence tends to answer with a nearby number instead. What was
    withheld must hold most of the question's own words (weighted by rarity among the evidence), and the
    sentence must match the question better than any other evidence sentence, so a withheld detail next to
    a stated answer ("the company has offered 4 percent" / "declined to say whether it would improve its
    offer") does not block the answer."""
    if _WITHHELD.search(question) or not sentences:
        return ""
    terms = question_terms(question)[1] - _GENERIC_SLOT
    if not terms:
        return ""
    overlap = pool_idf_overlap(terms, sentences)
    scores = [overlap(s) for s in sentences]
    best = max(scores)
    if scores.count(best) > 1:
        return ""
    forms = [(_WITHHELD_ACTIVE, False), (_WITHHELD_PASSIVE, True)]
    if analyse(question).wh:
        forms += [(_UNSETTLED_ACTIVE, False), (_UNSETTLED_PASSIVE, True)]
    for s, sc in zip(sentences, scores, strict=True):
        if sc < best:
            continue
        for pattern, before_verb in forms:
            for m in pattern.finditer(s):
                if overlap(_withheld_object(s, m, before_verb)) >= knobs.withheld_min_overlap:
                    return s
    return ""
