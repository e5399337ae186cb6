"""Verification: every answer sentence must be supported by the evidence it cites.

For each sentence of a generated answer, using the one support scorer (``rag.support``):
- supported by its cited evidence        -> keep (citing only the items that support it);
- supported by another evidence sentence -> re-cite to that one (small models often cite the wrong
  number; dropping a true sentence would cost a correct answer);
- supported by nothing                   -> drop, and say so in the notes.
If nothing survives, the chain refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from rag.knobs import DEFAULT_KNOBS, Knobs
from rag.question import COUNT_GENERIC, analyse, count_stem, counted_phrase, gives_kind, is_short_answer
from rag.text.sentences import split_sentences
from rag.text.words import words

_MARKER = re.compile(r"\s*\[(\d{1,3})\]")
_NO_CONTENT = re.compile(r"^[\W_]*$")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d{1,3}\])+")


@dataclass
class VerifiedSentence:
    text: str
    cites: list[int]  # evidence numbers (1-based, as shown to the model)
    action: str  # "kept" | "recited"
    score: float
    # other cited sentences of the same article: not support, but what the sentence is about ("No
    # customer data was taken," Brandt said. -- after "Intruders defaced the firm's website")
    context: list[int] = field(default_factory=list)


@dataclass
class Verification:
    sentences: list[VerifiedSentence] = field(default_factory=list)
    dropped: list[tuple[str, list[str]]] = field(default_factory=list)  # (sentence, reasons)

    @property
    def recited(self) -> int:
        return sum(1 for s in self.sentences if s.action == "recited")


def split_answer(text: str) -> list[tuple[str, list[int]]]:
    """Answer text -> [(sentence without markers, inline [n] markers)]."""
    out: list[tuple[str, list[int]]] = []
    for s, e in split_sentences(text):
        sent = text[s:e]
        # markers written after a full stop ("... dam. [1] Next ...") open the next span: they belong
        # to the sentence before
        lead = _LEADING_MARKERS.match(sent)
        if lead and out:
            out[-1][1].extend(int(m) for m in _MARKER.findall(lead.group(0)))
            sent = sent[lead.end():]
        marks = [int(m) for m in _MARKER.findall(sent)]
        clean = _MARKER.sub("", sent).strip()
        if clean and not _NO_CONTENT.match(clean):
            out.append((clean, marks))
    return out


_WHO_SUBJECT = re.compile(r"^\s*who\s+(?!is\b|was\b|are\b|were\b|'s\b)(\w.*?)\??\s*$", re.I)


def as_claim(sentence: str, question: str, short_words: int = DEFAULT_KNOBS.short_answer_words) -> str:
    """A fragment answer is a claim only together with its question. For "Who <did something>?" the
    answer takes the place of "who", so the scorer checks the speaker/agent like any other claim."""
    if not question or not is_short_answer(sentence, short_words):
        return sentence
    m = _WHO_SUBJECT.match(question)
    if m:
        return f"{sentence.rstrip('. ')} {m.group(1)}."
    return f"{question.strip()} {sentence}"


# the support scorer's reasons that say the evidence contradicts a claim (not merely that it lacks a
# name the question already gave); the polarity ones, for a short answer, contradict the question itself
_POLARITY = ("negation mismatch", "antonym mismatch")
_CONTRADICTS = (*_POLARITY, "quote", "speaker")


def premise_contradicted(result: Verification, short_words: int = DEFAULT_KNOBS.short_answer_words) -> bool:
    """Whether a short answer was dropped because the evidence says the opposite of its question
    ("Thursday evening" for "On what day did Brandt claim victory?" when he conceded defeat)."""
    return any(is_short_answer(t, short_words) and r.startswith(_POLARITY) for t, rs in result.dropped for r in rs)


class _FragmentScorer:
    """Verifies a short answer ("3:40 a.m.", "Norvik Construction") the way extractive QA is verified:
    an evidence sentence supports it when it contains the answer (its content words, every number and
    name), covers what the question asks, and the answer adds something the question did not say."""

    def __init__(self, question: str, plain=None, knobs: Knobs = DEFAULT_KNOBS):
        from rag.question import question_terms

        self.question = question
        self.plain = plain  # the support scorer, for what a containment test cannot see
        self.terms = question_terms(question)
        self.knobs = knobs
        self.fragment = ""

    def _result(self, score: float, ok: bool, reasons: list[str]):
        from rag.support import SupportResult

        return SupportResult(score=round(score, 4), supported=ok, reasons=reasons)

    def score(self, claim, evidence, context: list[str] | None = None):
        """``context``: other sentences of the same article the answer cites. The answer must stand in
        ``evidence``; what the question asks may be spread over the article ("A group calling itself
        a group of students claimed responsibility" after "Intruders defaced the Norland council
        website")."""
        from rag.answer.evidence import lexical_overlap
        from rag.text.lexical import content_set, number_values

        text = " ".join(evidence) if isinstance(evidence, list) else evidence
        scope = [text, *(context or [])]  # where what the question asks may be found
        frag = content_set(self.fragment)
        names, other = self.terms
        if not frag or frag <= (names | other):
            return self._result(0.0, False, ["the answer only repeats the question"])
        have = content_set(text)
        contained = len(frag & have) / len(frag)
        missing_nums = number_values(self.fragment) - number_values(text)
        k = self.knobs
        cov = lexical_overlap(self.terms, " ".join(scope), k)
        reasons = []
        if contained < k.fragment_min_contained:
            reasons.append(f"evidence contains {contained:.0%} of the answer")
        if missing_nums:
            reasons.append(f"number(s) {sorted(missing_nums)} not in evidence")
        if cov < k.fragment_min_coverage:
            reasons.append(f"evidence covers {cov:.0%} of what the question asks")
        if not reasons and self.plain is not None:
            # "Thursday evening" for "On what day did Brandt claim victory?" stands in "Brandt conceded
            # defeat on Thursday evening": the question and its answer, read together, contradict it
            reasons += [r for r in self.plain.score(claim, scope).reasons
                        if r.startswith(_CONTRADICTS)]
        w = k.fragment_contained_weight
        return self._result(w * contained + (1 - w) * cov, not reasons, reasons)

    def best(self, claim, candidates):
        results = [self.score(claim, c) for c in candidates]
        idx = max(range(len(results)), key=lambda i: (results[i].supported, results[i].score))
        return idx, results[idx]


def verify(answer_text: str, cited: list[int], items, scorer, question: str = "",
           knobs: Knobs = DEFAULT_KNOBS, headline: bool = False) -> Verification:
    """Each sentence of the answer kept when a sentence it cites (or, re-cited, another evidence sentence)
    supports it. ``headline``: a model's short answer may cover the question with its sentence's article
    headline (``_score_cited``); not for a quote, which was chosen for matching the question, not for
    answering it (measured on news dev: it let an extractive quote about the story's topic through)."""
    from rag.text.lexical import content_set

    by_n = {it.n: it for it in items}
    result = Verification()
    parts = split_answer(answer_text)
    texts = [it.display_text for it in items]
    plain = scorer
    fragment = _FragmentScorer(question, plain=scorer, knobs=knobs) if question else None
    asked = content_set(question) if question else set()
    for shown, marks in parts:
        sent = as_claim(shown, question, knobs.short_answer_words)
        if sent == shown and asked and content_set(shown) <= asked:
            # "Anna Brandt told the chamber during the debate." for "What did Brandt tell the chamber
            # during the debate?" is true, cited and no answer
            result.dropped.append((shown, ["the answer only repeats the question"]))
            continue
        if fragment is not None and sent != shown and not _WHO_SUBJECT.match(question):
            fragment.fragment = shown
            scorer = fragment
        else:
            scorer = plain
        hint = [n for n in (marks or cited) if n in by_n]
        kept = False
        if hint:
            alone = [(n, _score_cited(scorer, headline and scorer is fragment, sent, by_n[n], knobs)) for n in hint]
            if headline and scorer is plain and sent != shown and knobs.fragment_title_coverage:
                alone = [(n, r if r.supported else _names_in_article(plain, sent, shown, by_n[n], question, r))
                         for n, r in alone]
            good = [(n, r) for n, r in alone if r.supported]
            if not good and scorer is fragment and len(hint) > 1:
                good = _with_article_context(scorer, sent, hint, by_n)
            if good:
                best = max(r.score for _, r in good)
                cites = [n for n, _ in good]
                result.sentences.append(VerifiedSentence(shown, cites, "kept", best, _same_article(cites, hint, by_n)))
                kept = True
            elif len(hint) > 1 and sent == shown:  # a short answer must stand on one sentence
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
        clauses = (compound_clauses(shown) if knobs.verify_clauses and sent == shown and question
                   and analyse(question).parts else [])
        if clauses:
            # one sentence answering two parts of the question ("X cost 240,000 crowns, and the ferry fired
            # 12 flares"), each from another evidence sentence: each clause stands or falls on its own
            sub = verify(" ".join(clauses), marks or cited, items, plain, knobs=knobs)
            if sub.sentences:
                result.sentences += sub.sentences
                result.dropped += sub.dropped
                continue
        result.dropped.append((shown, reasons))
    if question:
        _drop_unanswering(result, question, by_n, knobs)
        _cite_the_named(result, question, items, knobs.short_answer_words)
    return result


def _drop_unanswering(result: Verification, question: str, by_n: dict, knobs: Knobs) -> None:
    """Drop the sentences that do not address the question or give the wrong kind of answer. A sentence
    answers a question that asks several things when it answers one of its parts: "The repairs cost 240,000
    crowns." is no count, and no answer to "how many flares ...?", but it answers "How much did the repairs
    cost?"."""
    asked = (question, *analyse(question).parts) if knobs.answer_each_part else (question,)
    kept: list[VerifiedSentence] = []
    for s in result.sentences:
        first: list[tuple[str, list[str]]] = []
        for q in asked:
            one = Verification(sentences=[replace(s, cites=list(s.cites), context=list(s.context))])
            _drop_off_topic(one, q, by_n, knobs)
            _drop_wrong_type(one, q, by_n, knobs.short_answer_words)
            if one.sentences:
                kept += one.sentences
                break
            first = first or one.dropped
        else:
            result.dropped += first
    result.sentences = kept


_CLAUSE_JOIN = re.compile(r",\s+and\s+|;\s+")


def compound_clauses(sentence: str, min_words: int = 4) -> list[str]:
    """The clauses of a sentence that joins statements with ", and" or ";", each written as a sentence;
    [] when it has one clause or a part is too short to state anything."""
    pieces = [p.strip(" .") for p in _CLAUSE_JOIN.split(sentence.strip())]
    if len(pieces) < 2 or any(len(p.split()) < min_words for p in pieces):
        return []
    return [p[0].upper() + p[1:] + "." for p in pieces]


def _cite_the_named(result: Verification, question: str, items,
                    short_words: int = DEFAULT_KNOBS.short_answer_words) -> None:
    """A short answer is read with its question: when its sentence says "the vaccine" where the
    question says "Norvax-9", also cite the sentence of the same article that names it, so the reader
    (and the scorer) can see the answer is about what was asked."""
    from rag.text.lexical import entity_in, extract_entities

    names = [e.text for e in extract_entities(question)]
    if not names:
        return
    for s in result.sentences:
        if not is_short_answer(s.text, short_words):
            continue
        cited = [it for it in items if it.n in s.cites]
        docs = {getattr(it, "doc_id", None) for it in cited} - {None}
        for name in names:
            if any(entity_in(name, it.display_text) for it in cited):
                continue
            extra = next((it for it in items if it.n not in s.cites and getattr(it, "doc_id", None) in docs
                          and entity_in(name, it.display_text)), None)
            if extra is not None:
                s.cites.append(extra.n)
                cited.append(extra)


_WORD = re.compile(r"[A-Za-z0-9][\w'-]*")
# "a return ticket": a modifier is the word between a determiner and its noun
_DETERMINERS = set(words("verify", "determiners"))


def contrasting_modifier(question: str, sentence: str) -> str:
    """A modifier the question puts on a noun where the sentence puts another on the same noun
    ("return ticket" / "single tickets"): the sentence is about something else. Returns the pair."""
    from rag.text.lexical import STOPWORDS, content_set, number_values, stem

    have = content_set(sentence)
    q = _WORD.findall(question)
    s = _WORD.findall(sentence)
    for before, a, b in zip(["", *q], q, q[1:], strict=False):
        if (before.lower() not in _DETERMINERS or not a[0].islower() or not b[0].islower()
                or a.lower() in STOPWORDS or b.lower() in STOPWORDS or stem(a.lower()) in have
                or number_values(a)):
            continue
        head = stem(b.lower())
        for x, y in zip(s, s[1:], strict=False):
            if (stem(y.lower()) == head and x[0].islower() and x.lower() not in STOPWORDS
                    and not number_values(x) and stem(x.lower()) != stem(a.lower())):
                return f"'{a} {b}' / '{x} {y}'"
    return ""


def _same_article(ns: list[int], hint: list[int], by_n: dict) -> list[int]:
    """The sentences of ``hint`` not in ``ns`` that come from the same article as one of ``ns``."""
    docs = {getattr(by_n[n], "doc_id", None) for n in ns} - {None}
    return [m for m in hint if m not in ns and getattr(by_n[m], "doc_id", None) in docs]


def _in_context(scorer: _FragmentScorer, claim: str, sentence: str, context: list[str]):
    """A short answer that stands in ``sentence``, with what the question asks covered by the sentence and
    ``context`` (other sentences of its article, or its headline); None when it does not hold, or when the
    sentence qualifies what it reports differently from the question (a single fare for a return fare:
    ``contrasting_modifier``)."""
    r = scorer.score(claim, sentence, context=context)
    return r if r.supported and not contrasting_modifier(scorer.question, sentence) else None


def _score_cited(scorer, use_headline: bool, claim: str, item, knobs: Knobs):
    """A claim scored against the sentence it cites. A short answer whose sentence names the story's subject
    by a short form ("The bridge was built in 1971") may cover what the question asks together with its
    article's headline (``Settings.fragment_title_coverage``), when the sentence alone falls short."""
    r = scorer.score(claim, item.display_text)
    title = getattr(item, "title", "")
    if r.supported or not use_headline or not knobs.fragment_title_coverage or not title:
        return r
    return _in_context(scorer, claim, item.display_text, [title]) or r


_MISSING_NAME = re.compile(r"^entity '(.+)' not in evidence$")


def _names_in_article(scorer, claim: str, answer: str, item, question: str, failed):
    """A model's short answer to "Who <did something>?" is checked as the claim "<answer> <did something>",
    and the story's names in it ("... finished third in the <Town> mayoral race") often stand only in its
    headline or passage, not in the sentence that names the answer ("Independent candidate <name> came
    third ..."). When the names missing are the question's own and the headline or passage the reader sees
    with the sentence has them, the claim is scored with those as context. The answer's own words must
    stand in the sentence."""
    from rag.text.lexical import content_set, entity_in, extract_entities

    missing = [m.group(1) for r in failed.reasons if (m := _MISSING_NAME.match(r))]
    if not missing or len(missing) != len(failed.reasons):
        return failed  # something else failed too
    asked = [e.text for e in extract_entities(question)]
    sentence = item.display_text
    context = [t for t in (getattr(item, "title", ""), getattr(item, "passage_text", "")) if t]
    if (not all(any(entity_in(m, q) for q in asked) for m in missing)
            or not all(entity_in(m, " ".join(context)) for m in missing)
            or not content_set(answer) <= content_set(sentence)
            or not all(entity_in(e.text, sentence) for e in extract_entities(answer))):
        return failed
    r = scorer.score(claim, [sentence, *context])
    return r if r.supported and not contrasting_modifier(question, sentence) else failed


def _with_article_context(scorer: _FragmentScorer, claim: str, hint: list[int], by_n: dict) -> list:
    """A short answer found in one cited sentence, with what the question asks covered by that sentence
    and the other cited sentences of the same article. Cites all of them: together they support it."""
    for n in hint:
        same = _same_article([n], hint, by_n)
        if not same:
            continue
        r = _in_context(scorer, claim, by_n[n].display_text, [by_n[m].display_text for m in same])
        if r is not None:
            return [(m, r) for m in [n, *same]]
    return []


def names_the_asker(question: str, answer: str, short_words: int = DEFAULT_KNOBS.short_answer_words) -> bool:
    """In "Who <did something to> <someone>?" the someone is not the answer: an answer that opens with
    words of the question ("Iraqi Prime Minister al-Sudani" for "Who told the Iraqi prime minister
    ...?") names the person the question mentions, not the one it asks for."""
    from rag.text.lexical import _tok_match, content_set, content_stems, entity_in, extract_entities

    if not _WHO_SUBJECT.match(question) or not is_short_answer(answer, short_words):
        return False

    head = content_stems(answer)[:2]
    known = content_set(question)
    # "Iraq Prime Minister ..." names the same person as "the Iraqi prime minister"
    if len(head) == 2 and all(any(_tok_match(h, k) for k in known) for h in head):
        return True
    # "Former transport minister Okafor" for "Who told Ben Okafor ...?": every name
    # in the answer is one the question already has
    names = [e.text for e in extract_entities(answer)]
    return bool(names) and all(entity_in(n, question) for n in names)


_CLAUSE_END = re.compile(r"[,;:()!?\"“”]|\.(?:\s|$)")


def _counted_window(text: str) -> list[str]:
    """The words after a number that say what it counts ("9 signal rockets before ..." -> signal, rockets)."""
    from rag.text.lexical import STOPWORDS, number_values

    cut = _CLAUSE_END.search(text[:80])
    words_ = counted_phrase(_WORD.findall(text[:cut.start()] if cut else text[:80]))
    return [w for w in words_ if w.lower() not in STOPWORDS and not number_values(w.lower())]


_ONE = re.compile(r"\b(?:one|a single)\s+", re.I)
_MONEY_BEFORE = re.compile(r"[$€£¥]\s*$")
_MONEY_WORDS = list(words("question", "money_words"))
_PERCENT = re.compile(r"(?:%|\bper\s*cent)$", re.I)
_YEAR = re.compile(r"^(?:1[0-9]|20)\d\d$")


def count_verdict(counts: tuple[str, ...], answer: str, evidence: str, question: str = "") -> tuple[str, str]:
    """For "how many <counts>": what the answer's number counts in ``evidence``. ``("asked", "")`` when one
    of its mentions, or a "one <thing>", counts the asked thing (or people in general: "15 people");
    ``("other", words)`` when every mention that says what it counts counts another thing ("15 militants"
    for "How many soldiers were killed?", "12 distress flares" for "How many passengers were injured?");
    ``("", "")`` when the evidence does not say ("the toll rose to 15") or the check does not apply.
    Ordinals, and years (a four-digit number not followed by a common noun), are no counts."""
    from rag.text.lexical import _tok_match, extract_numbers, number_values

    values = {round(v, 6) for v in number_values(answer)} - {round(v, 6) for v in number_values(question)}
    if not counts or not values:
        return "", ""

    def counts_asked(window: list[str]) -> bool:
        return any(w.lower() in COUNT_GENERIC or any(_tok_match(count_stem(w), c) for c in counts) for w in window)

    if any(counts_asked(_counted_window(evidence[m.end():])) for m in _ONE.finditer(evidence)):
        return "asked", ""  # "one rotation of the crank": a bare "one" is no number mention, but it counts
    other = ""
    for mention in extract_numbers(evidence):
        if round(mention.value, 6) not in values or mention.ordinal or (
                _YEAR.match(mention.text) and not re.match(r"\s+[a-z]", evidence[mention.end:])):
            continue  # "in 1936 Warsaw's museum ...": a year; "2000 kilometres" is a count
        if _MONEY_BEFORE.search(evidence[:mention.start]):
            # "spent £86,000 on agency nurses": a sum of money, whatever noun follows it
            if counts_asked(_MONEY_WORDS):
                return "asked", ""
            other = other or "a sum of money"
            continue
        if _PERCENT.search(mention.text):
            # "5 percent of workers": a share, not a count of them
            if counts_asked(["percent"]):
                return "asked", ""
            other = other or "a percentage"
            continue
        window = _counted_window(evidence[mention.end:])
        # the sentence names what it counts when a common noun follows ("9 signal rockets"); a name alone
        # ("15 Velk ...") may be a modifier of a noun further on
        nouns = [w.lower() for w in window if w[0].islower() and w.isalpha()]
        if not nouns:
            continue
        if counts_asked(window):
            return "asked", ""
        other = other or " ".join(nouns)
    return ("other", other) if other else ("", "")


def counts_something_else(counts: tuple[str, ...], answer: str, evidence: str, question: str = "") -> str:
    """What the answer's number counts in ``evidence`` when that is not what the question asks, else ""."""
    verdict, other = count_verdict(counts, answer, evidence, question)
    return other if verdict == "other" else ""


def _drop_wrong_type(result: Verification, question: str, by_n: dict,
                     short_words: int = DEFAULT_KNOBS.short_answer_words) -> None:
    asked = analyse(question)  # computed once for the chain (cached)
    kind, counts = asked.kind, asked.counts
    kept = []
    for s in result.sentences:
        evidence = " ".join(by_n[n].display_text for n in s.cites if n in by_n)
        other = counts_something_else(counts, s.text, evidence, question) if kind == "a number" else ""
        if other and is_short_answer(s.text, short_words):
            # a short answer cited to the wrong sentence (small models often cite the wrong number): the
            # evidence sentence where its number counts the asked thing supports it
            right = [n for n, it in by_n.items() if n not in s.cites
                     and count_verdict(counts, s.text, it.display_text, question)[0] == "asked"]
            if right:
                s.cites, s.context, s.action, other = right[:1], [], "recited", ""
        if kind and not gives_kind(kind, s.text, evidence, question):
            result.dropped.append((s.text, [f"the question asks for {kind}; the answer gives none"]))
        elif other:
            result.dropped.append((s.text, [f"the answer's number counts {other}, not what the question asks"]))
        elif names_the_asker(question, s.text, short_words):
            result.dropped.append((s.text, ["the answer names someone the question already names"]))
        else:
            kept.append(s)
    result.sentences = kept


def _drop_off_topic(result: Verification, question: str, by_n: dict, knobs: Knobs = DEFAULT_KNOBS) -> None:
    """A true sentence that does not address the question is no answer ("Austin condemned the attacks"
    for "Who called the embassy a nest of espionage?"): its evidence must cover part of what is asked
    (``off_topic_min_coverage``)."""
    from rag.answer.evidence import lexical_overlap
    from rag.question import question_terms

    terms = question_terms(question)
    if not (terms[0] or terms[1]):
        return
    kept = []
    for s in result.sentences:
        cited = [by_n[n] for n in s.cites + s.context if n in by_n]
        # the reader sees each citation under its article's headline, which names what "her report" is
        titles = list(dict.fromkeys(getattr(it, "title", "") for it in cited))
        text = " ".join([s.text, *titles] + [it.display_text for it in cited])
        cov = lexical_overlap(terms, text, knobs)
        if cov < knobs.off_topic_min_coverage:
            result.dropped.append((s.text, [f"does not address the question ({cov:.0%} of its terms)"]))
            continue
        own = " ".join([s.text] + [by_n[n].display_text for n in s.cites if n in by_n])
        # on topic only by its headline or context, and about another thing of the kind asked ("single
        # tickets" for "a return ticket")
        contrast = (contrasting_modifier(question, own)
                    if lexical_overlap(terms, own, knobs) < knobs.off_topic_min_coverage else "")
        if contrast:
            result.dropped.append((s.text, [f"is about something else ({contrast})"]))
        else:
            kept.append(s)
    result.sentences = kept
