"""Question analysis, in one place: what a question asks for and what it names.

The answering chain reads a question several times (evidence ranking, the answerability rules,
verification, the answer-or-refuse decision); each reads the same :class:`QuestionAnalysis`, computed
once per question by :func:`analyse` (cached), instead of re-parsing the question its own way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.knobs import DEFAULT_KNOBS
from rag.text import lexical as tu
from rag.text.lexical import content_set, content_stems, extract_entities, number_values
from rag.text.words import words


def is_short_answer(text: str, max_words: int = DEFAULT_KNOBS.short_answer_words) -> bool:
    """A short answer ("seven", "3:40 a.m.") names the answer and says nothing of its own: it is verified,
    checked and judged together with its question. Longer text is a sentence. ``max_words``:
    ``Settings.short_answer_words``."""
    return len(text.split()) <= max_words


_WH = re.compile(r"\b(who|whom|whose|what|which|when|where|why|how)\b", re.I)


@dataclass(frozen=True)
class QuestionAnalysis:
    """What the chain needs to know about a question (all derived from its text)."""

    text: str
    wh: str  # the question word ("who", "how", ...; "" when none)
    kind: str  # the kind of answer asked for ("a number", "a place", ...; "" when not clear)
    names: tuple[str, ...]  # names the question gives
    name_terms: frozenset[str]  # stemmed words of those names
    other_terms: frozenset[str]  # the other stemmed content words
    premise: tuple[str, ...]  # events the question assumes ("when she conceded" -> "conceded")
    counts: tuple[str, ...] = ()  # stems of what "how many ..." counts ("how many US soldiers" -> "soldier")
    parts: tuple[str, ...] = ()  # the questions of a question that asks several things; () when it asks one


@lru_cache(maxsize=512)
def analyse(question: str) -> QuestionAnalysis:
    wh = _WH.search(question)
    names, other = question_terms(question)
    return QuestionAnalysis(
        text=question, wh=wh.group(1).lower() if wh else "", kind=asked_kind(question),
        names=tuple(e.text for e in extract_entities(question)), name_terms=frozenset(names),
        other_terms=frozenset(other), premise=tuple(premise_verbs(question)), counts=counted_terms(question),
        parts=question_parts(question))


def question_terms(question: str) -> tuple[set[str], set[str]]:
    """(name terms, other content terms) of a question, stemmed."""
    names: set[str] = set()
    for ent in extract_entities(question):
        names |= content_set(ent.text)
    return names, content_set(question) - names


def name_heads(question: str) -> set[str]:
    """The last stem of each name in the question: news names a person or body in full once and by
    surname or short form after that ("Lloyd Austin" ... "Austin said")."""
    return {st[-1] for e in extract_entities(question) if (st := content_stems(e.text))}


# What kind of answer a question asks for, by its opening words. Only the unambiguous openings: an
# answer of the wrong kind ("2,100 cubic metres per second" for "How old is ...?") is no answer, however
# well its sentence matches the question's names.
_ASKS = [
    ("an age", re.compile(r"^\s*(?:how old|(?:at )?what age)\b", re.I)),
    ("a number", re.compile(r"^\s*(?:how (?:many|much)|what (?:percentage|percent|share|proportion|number)"
                            r"|by how (?:many|much))\b", re.I)),
    ("a clock time", re.compile(r"^\s*(?:at )?what (?:time|hour)\b", re.I)),
    ("a time or date", re.compile(r"^\s*(?:when|(?:on |in )?what (?:date|day|year|month))\b", re.I)),
    ("a reason", re.compile(r"^\s*why\b", re.I)),
    ("a place", re.compile(r"^\s*(?:where|(?:in|from) (?:which|what) (?:town|city|country|village|region|province))\b",
                           re.I)),
    # "What is X?" with nothing else asked: what X is, not a fact that merely mentions X
    ("a definition", re.compile(r"^\s*what (?:is|are|was|were) (?!the (?:name|number|cost|price|age|date|size)\b)"
                                r"(?:an? |the )?[^?,]{1,50}\?\s*$", re.I)),
]
# "... is described by Boyle's law": a relation to X, not what X is (one form of a supported sentence
# that does not answer the question)
_NOT_A_DEFINITION = re.compile(r"\b(?:is|are|was|were|be|being)\s+(?:described|governed|explained|covered|determined|"
                               r"modell?ed|characteri[sz]ed|predicted|named|influenced)\s+by\b", re.I)
# what names a place when the answer has no new proper name: "in a village near the border"
_PLACE_WORD = re.compile(
    r"\b(?:town|village|city|capital|country|province|region|district|county|state|island|coast|river|valley|"
    r"street|road|square|port|harbour|harbor|airport|station|stadium|court|hospital|school|university|college|"
    r"abroad|overseas|home|border|north|south|east|west|northern|southern|eastern|western|upstream|"
    r"downstream|kilomet(?:re|er)s?|miles?|near|outside|inside)\b", re.I)
_NOT_PLACES = re.compile(r"^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|"
                         r"april|may|june|july|august|september|october|november|december|i|the|a|an)$", re.I)
_CLOCK = re.compile(r"\b\d{1,2}(?::\d{2})?\s*(?:a\.?m\b|p\.?m\b|h\b|hours\b|o'clock)|\b\d{1,2}:\d{2}\b|\b(?:noon|midday|"
                    r"midnight)\b", re.I)
_CLAUSE = re.compile(r"\b(?:because|after|since|due|so|as|to|for|over|amid|following|that|is|are|was|were|had|has|"
                     r"have|would|could|will|did|does|\w{3,}ed|\w{3,}ing)\b", re.I)
_AGE = re.compile(r"\b(?:aged?|years?[- ]old|year-olds?|birthday|born)\b", re.I)
_TIME_WORD = re.compile(
    r"\b(?:\d{1,4}|a\.m|p\.m|noon|midnight|morning|afternoon|evening|night|overnight|dawn|dusk|today|yesterday|"
    r"tomorrow|week|weekend|month|year|decade|century|ago|later|earlier|since|until|before|after|during|"
    r"january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"spring|summer|autumn|fall|winter)\b", re.I)


def asked_kind(question: str) -> str:
    for kind, rx in _ASKS:
        if rx.search(question):
            return kind
    return ""


def gives_kind(kind: str, text: str, evidence: str = "", question: str = "") -> bool:
    if kind == "a number":
        return bool(number_values(text))
    if kind == "a time or date":
        return bool(_TIME_WORD.search(text))
    if kind == "a clock time":
        return bool(_CLOCK.search(text))
    if kind == "a reason":
        # a reason is a clause ("seals were broken", "after 14 boxes were found"), not a bare name
        return bool(_CLAUSE.search(text))
    if kind == "a place":
        # a proper name the question does not already have, or a word that locates something
        words = re.findall(r"[A-Za-z][\w'’-]*", text)
        asked = question.lower()
        new_names = [w for i, w in enumerate(words) if w[0].isupper() and not _NOT_PLACES.match(w)
                     and w.lower() not in asked and (i > 0 or len(words) <= 4)]
        return bool(new_names or _PLACE_WORD.search(text))
    if kind == "a definition":
        return not _NOT_A_DEFINITION.search(text)
    if kind == "an age":
        # the number must be an age: "aged 54", "54 years old", "Okafor, 54, said" (a bare number
        # right after a name in the evidence, the news convention)
        if not number_values(text):
            return False
        return bool(_AGE.search(text) or _AGE.search(evidence) or
                    any(re.search(rf"[A-Za-z], {re.escape(n)},", evidence) for n in re.findall(r"\d{1,3}", text)))
    return True


_HOW_MANY = re.compile(r"\bhow\s+many\s+([^?,;:]*)", re.I)
_COUNT_PHRASE_END = set(words("question", "count_phrase_end"))
COUNT_GENERIC = frozenset(words("question", "count_generic"))
_UNIT_ALIASES = dict(words("question", "count_unit_aliases"))


def count_stem(word: str) -> str:
    """The stem a counted word is compared by, an abbreviated unit read as its word ("km" -> "kilometr")."""
    w = word.lower()
    return tu.stem(_UNIT_ALIASES.get(w, w))


def count_phrase(ws: list[str]) -> list[str]:
    """The words of a counted noun phrase ("how many <US soldiers> were killed", "15 <militants> in Iraq"):
    at most four, up to the word that ends it: a verb, a preposition, a participle after the noun."""
    out: list[str] = []
    for i, w in enumerate(ws[:4]):
        lw = w.lower()
        if lw in _COUNT_PHRASE_END or (lw.endswith("ing") and len(lw) > 5):
            break  # "... kilometres passing through": a participle after the noun
        if (lw.endswith("ed") and len(lw) > 4) or tu.IRREGULAR.get(lw, lw) != lw:
            nxt = ws[i + 1].lower() if i + 1 < len(ws) else ""
            if not nxt or nxt in tu.STOPWORDS or nxt in _COUNT_PHRASE_END:
                break  # the verb that ends the phrase: "rounds landed in ...", "barges sank"
            continue  # a participle before its noun: "how many paid holidays", "wounded soldiers"
        out.append(w)
    return out


_PARTITIVE_HEADS = set(words("question", "count_partitive_heads"))
_PARTITIVE_DETERMINERS = set(words("question", "count_partitive_determiners"))


def counted_phrase(ws: list[str]) -> list[str]:
    """:func:`count_phrase`, read on past "of" when what comes before it only names a part of a group:
    "<members> of staff" -> members, staff; "85 <of the permanent employees>" -> permanent, employees."""
    phrase = count_phrase(ws)
    i = len(phrase)  # the word that ended the phrase, when the phrase is all the words before it
    if ws[:i] == phrase and i < len(ws) and ws[i].lower() == "of" and (
            not phrase or (i == 1 and phrase[0].lower() in _PARTITIVE_HEADS)):
        rest = ws[i + 1:]
        while rest and rest[0].lower() in _PARTITIVE_DETERMINERS:
            rest = rest[1:]
        phrase = phrase + count_phrase(rest)
    return phrase


def counted_terms(question: str) -> tuple[str, ...]:
    """Stems of what a "how many" question counts: the noun phrase after "how many" ("How many US soldiers
    were killed?" -> ("soldier",)). Empty when the question counts nothing in particular ("how many
    people", "how many times") or is no "how many" question."""
    m = _HOW_MANY.search(question)
    if not m:
        return ()
    phrase = [w.lower() for w in counted_phrase(re.findall(r"[A-Za-z][\w'’-]*", m.group(1)))]
    if any(w in COUNT_GENERIC for w in phrase):
        return ()
    return tuple(dict.fromkeys(count_stem(w) for w in phrase if w not in tu.STOPWORDS))


_PART_WH = "|".join(words("question", "part_wh_openers"))
_PART_AUX = "|".join(words("question", "part_aux_openers"))
_PART_SUBJ = "|".join(words("question", "part_aux_subjects"))
# "..., and how did ...", "... and was any data taken?": "and" opening a new question. An auxiliary opens
# one only before its subject (a determiner, a pronoun or a name): "and is based in ..." describes the
# first part's subject instead.
# A question word right before a subject pronoun (words.toml: part_clause_pronouns) opens a clause, not a question.
_PART_CLAUSE = "|".join(words("question", "part_clause_pronouns"))
_PART_SPLIT = re.compile(rf"(?i:,?\s+and\s+)(?=(?i:(?:{_PART_WH})\b(?!\s+(?:{_PART_CLAUSE})\b))"
                         rf"|(?i:{_PART_AUX})\s+(?:(?i:{_PART_SUBJ})\b|[A-Z]))")
_QUESTION_START = re.compile(rf"^\s*(?:{_PART_AUX})\b", re.I)


def question_parts(question: str, min_words: int = 3) -> tuple[str, ...]:
    """The questions of a question that asks several things, each ending with "?": "What did the deal give
    workers, and how did members vote on it?" -> ("What did the deal give workers?", "how did members vote
    on it?"). () when it asks one thing, or when a part would have fewer than ``min_words`` words
    ("Who won and when?" is answered whole). A later part may refer back ("it"): a model is asked it in
    the conversation that holds the first part; its evidence is searched among the whole question's passages."""
    pieces = [p.strip(" ,;") for p in _PART_SPLIT.split(question.strip())]
    # the first part must be a question too ("At the start of the strike, what was ..."): a question word
    # in it, or an auxiliary opening it
    if len(pieces) < 2 or not (_WH.search(pieces[0]) or _QUESTION_START.match(pieces[0])) or any(
            len(p.split()) < min_words for p in pieces):
        return ()
    return tuple(p.rstrip("?").rstrip() + "?" for p in pieces)


_PREMISE_CLAUSE = re.compile(r"\b(?:when|after|before|while|once)\s+([^,?;]+)", re.I)
_WHY_NAME_VERB = re.compile(r"^\s*[Ww]hy\s+(?:did|does|do)\s+((?:[A-Z][\w'’.-]*\s+)+)([a-z]+)\b")
# past tenses spelt like the present: "when the embankment burst" reports a burst
_SAME_FORM_PAST = set(words("question", "same_form_past"))


def premise_verbs(question: str) -> list[str]:
    """Past-tense verbs of a "when/after/before ..." clause: "What did she say when she conceded the
    election?" assumes she conceded. (Only clauses with a past-tense verb: "after the collapse" states
    no event of its own.)"""
    out = []
    # "Why did Anna Brandt resign ...?" assumes she resigned
    m = _WHY_NAME_VERB.match(question)
    if m and m.group(2).lower() not in tu.STOPWORDS:
        out.append(m.group(2).lower())
    for m in _PREMISE_CLAUSE.finditer(question):
        if not question[:m.start()].strip():
            continue  # "When did she found the party?" asks when; it assumes nothing
        for w in re.findall(r"[A-Za-z]+", m.group(1)):
            lw = w.lower()
            if w[0].isupper():
                continue  # names are checked as names
            if (lw.endswith("ed") and len(lw) > 4) or (lw in tu.IRREGULAR and tu.IRREGULAR[lw] != lw) or (
                    lw in _SAME_FORM_PAST and not m.group(1).lower().startswith(lw)):
                out.append(lw)
                break  # the clause's first verb is its event
    return out
