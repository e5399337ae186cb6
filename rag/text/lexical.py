"""Shared lexical rules: content tokens and stems, numbers, dates, entities, polarity.

Evidence selection, answer verification, the support scorer and the answerability check all need
the same notion of "the same word", "the same number" and "the same name"; keeping those rules in
one module keeps the components consistent. Everything here is deterministic, dependency-light
(PyStemmer only) and works on plain ``str``. Sentences come from :mod:`rag.text.sentences`, the one
splitter of the product.

Conventions:
- *stems* are lowercased Porter2 stems with a few normalisations on top (irregular verbs are
  lemmatised first, "U.S."/"United States" become ``us``, number words become digits);
- *content stems* are stems minus stopwords (question words included, negations excluded: polarity
  is handled separately by :func:`negation_cues` and :data:`ANTONYMS`).

The word lists (stopwords, irregular forms, number words, months, name parts, antonym pairs) are data,
``rag/data/words.toml`` (:mod:`rag.text.words`), each bound here once at import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.text.sentences import split_sentences
from rag.text.words import words

# ----------------------------------------------------------------------------------------------
# Tokens and stems
# ----------------------------------------------------------------------------------------------

STOPWORDS = frozenset(words("tokens", "stopwords"))
# Direction/comparison words are stopwords for overlap but *not* for polarity (see ANTONYMS).
NEGATIONS = frozenset(words("tokens", "negations"))
NEGATIVE_VERBS = frozenset(words("tokens", "negative_verbs"))

IRREGULAR: dict[str, str] = words("tokens", "irregular")
STEM_ALIASES: dict[str, str] = words("tokens", "stem_aliases")
# Multi-word / spelling aliases applied to lowercased text before tokenising.
_PHRASE_ALIASES = [
    (re.compile(r"\bunited states(?: of america)?\b"), "us"),
    (re.compile(r"\bunited kingdom\b"), "uk"),
    (re.compile(r"\bunited nations\b"), "un"),
    (re.compile(r"\beuropean union\b"), "eu"),
    (re.compile(r"\ba dozen\b"), "12"),
    (re.compile(r"\bper ?cent\b"), "%"),
]

_TOKEN_RE = re.compile(
    r"(?:[A-Za-z]\.){2,}(?![A-Za-z])"  # dotted acronyms U.S. a.m.
    r"|\d+(?:[.,:]\d+)*(?:st|nd|rd|th|s|'s)?"  # numbers, ordinals, decades
    r"|[A-Za-zÀ-ÖØ-öø-ÿ]+(?:['’][A-Za-z]+)*"  # words (with inner apostrophes)
    r"|n['’]t"
)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: C implementation of Snowball, fast and deterministic

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Normalised stem of one lowercase word (irregulars lemmatised, -is- spelled -iz-, aliases)."""
    s = _raw_stem(word)
    return STEM_ALIASES.get(s, s)


@lru_cache(maxsize=65536)
def _raw_stem(word: str) -> str:
    w = IRREGULAR.get(word, word)
    s = _stemmer().stemWord(w)
    if len(s) >= 6 and s.endswith("is") and not s.endswith("sis"):
        s = s[:-2] + "iz"  # organis/organiz
    return s


@dataclass(frozen=True)
class Token:
    """A word of the text: surface form, offsets, normalised stem and flags."""

    text: str
    start: int
    end: int
    stem: str
    is_stop: bool
    is_acronym: bool = False


def _norm_word(raw: str) -> tuple[str, bool]:
    """(lowercased normalised word, is_acronym) for a raw token."""
    acronym = False
    if "." in raw and re.fullmatch(r"(?:[A-Za-z]\.){2,}", raw):
        raw = raw.replace(".", "")
        acronym = True
    elif len(raw) >= 2 and raw.isupper() and raw.isalpha():
        acronym = True
    w = raw.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    elif w.endswith("s'"):
        w = w[:-1]
    return w, acronym


def tokens(text: str) -> list[Token]:
    """All word/number tokens of ``text`` with offsets and stems.

    Number words become digit strings (``seven`` → ``7``, ``1,150`` → ``1150``) so they match digits;
    "U.S."/"US"/"United States" all become ``us`` (an acronym, hence not the stopword "us").
    """
    out: list[Token] = []
    for m in _TOKEN_RE.finditer(text):
        raw = m.group(0)
        if raw.lower() in ("n't", "n’t"):
            out.append(Token(raw, m.start(), m.end(), "not", False))
            continue
        low_raw = raw.lower().replace("’", "'")
        if low_raw.endswith("n't") and len(low_raw) > 3:  # "didn't" -> did + not
            base = low_raw[:-3]
            out.append(Token(raw[:-3], m.start(), m.end() - 3, stem(base), base in STOPWORDS))
            out.append(Token(raw[-3:], m.end() - 3, m.end(), "not", False))
            continue
        w, acronym = _norm_word(raw)
        if w and w[0].isdigit():
            val = _parse_digits(w)
            st = _fmt_num(val) if val is not None else w
            out.append(Token(raw, m.start(), m.end(), st, False))
            continue
        if w in _NUM_WORDS and w != "one":
            out.append(Token(raw, m.start(), m.end(), _fmt_num(_NUM_WORDS[w]), False))
            continue
        if acronym:
            out.append(Token(raw, m.start(), m.end(), STEM_ALIASES.get(w, w), False, True))
            continue
        # words joined by apostrophes ("kata'ib") stay one token
        st = stem(w)
        out.append(Token(raw, m.start(), m.end(), st, w in STOPWORDS or _raw_stem(w) in STOPWORDS))
    return out


def _alias_text(text: str) -> str:
    out = text
    for rx, rep in _PHRASE_ALIASES:
        out = re.sub(rx.pattern, rep.upper() if rep.isalpha() else rep, out, flags=re.IGNORECASE)
    return out


def stems(text: str) -> list[str]:
    """All stems of ``text`` in order (stopwords included), after alias normalisation."""
    return [t.stem for t in tokens(_alias_text(text))]


def content_stems(text: str) -> list[str]:
    """Stems of the content words of ``text`` (no stopwords, no negations), in order."""
    return [
        t.stem
        for t in tokens(_alias_text(text))
        if not t.is_stop and t.stem not in NEGATIONS and len(t.stem) > 0
    ]


def content_set(text: str) -> set[str]:
    """The set of content stems of ``text``."""
    return set(content_stems(text))


def surface(st: str, text: str) -> str:
    """The first word of ``text`` whose stem is ``st``, as ``text`` writes it ("vaccinated" for "vaccin"),
    or ``st`` itself: what a reader is shown of a stem."""
    return next((t.text for t in tokens(text) if t.stem == st), st)


# ----------------------------------------------------------------------------------------------
# Numbers
# ----------------------------------------------------------------------------------------------

_UNITS: dict[str, int] = words("numbers", "units")
_TENS: dict[str, int] = words("numbers", "tens")
_ORDINALS: dict[str, int] = words("numbers", "ordinals")
_SCALES: dict[str, int] = words("numbers", "scales")
_NUM_WORDS: dict[str, float] = {
    **_UNITS,
    **_TENS,
    **{k: v for k, v in _ORDINALS.items() if k != "second"},
    "dozen": 12,
}


def _parse_digits(w: str) -> float | None:
    w = w.lower()
    w = re.sub(r"(st|nd|rd|th|'s|s)$", "", w)
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", w):
        w = w.replace(",", "")
    if ":" in w or w.count(".") > 1 or "," in w:
        return None
    try:
        return float(w)
    except ValueError:
        return None


def _fmt_num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


@dataclass(frozen=True)
class NumberMention:
    """A number in text: its value (scaled by million/billion...), the unscaled value and offsets."""

    value: float
    base: float
    text: str
    start: int
    end: int
    ordinal: bool = False


_NUM_RE = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(st|nd|rd|th|'s|s)?(?![\w])"
    r"(?:\s*(%|percent|per cent|hundred|thousand|million|billion|trillion|bn|mn|m|k)(?!\w))?",
    re.IGNORECASE,
)
_WORDNUM_RE = re.compile(
    r"\b(?:(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
    r"|hundred|thousand|million|billion|trillion|dozen|a|and)(?:[\s-]+|\b))+",
    re.IGNORECASE,
)
_ORD_RE = re.compile(r"\b(" + "|".join(sorted(_ORDINALS, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_SCALE_SUFFIX: dict[str, float] = words("numbers", "scale_suffix")


def _words_to_number(words: list[str]) -> float | None:
    """Value of a sequence like ["twenty", "one"], ["two", "hundred"], ["a", "dozen"]."""
    total = 0.0
    current = 0.0
    seen = False
    for w in words:
        if w in ("and",):
            continue
        if w == "a":
            current = max(current, 1.0)
            continue
        if w in _UNITS:
            current += _UNITS[w]
            seen = True
        elif w in _TENS:
            current += _TENS[w]
            seen = True
        elif w == "dozen":
            current = max(current, 1.0) * 12
            seen = True
        elif w == "hundred":
            current = max(current, 1.0) * 100
            seen = True
        elif w in ("thousand", "million", "billion", "trillion"):
            total += max(current, 1.0) * _SCALES[w]
            current = 0.0
            seen = True
    return total + current if seen else None


def extract_numbers(text: str) -> list[NumberMention]:
    """Numbers in digits ("1,150", "2.5", "84", "10th", "1990s", "5%", "2.5 million") and words
    ("seven", "twenty-one", "a dozen", "two hundred", "third"). A bare "one"/"a" is not reported:
    it is almost always an article or pronoun ("one of the groups"), not a quantity claim.
    """
    out: list[NumberMention] = []
    taken: list[tuple[int, int]] = []
    for m in _NUM_RE.finditer(text):
        base = _parse_digits(m.group(1))
        if base is None:
            continue
        # times like 4:30 and dates like 10/17 are split by the lookarounds; skip "4:30" second half
        if m.start() > 0 and text[m.start() - 1] in ":/":
            pass
        scale_word = (m.group(3) or "").lower()
        if scale_word == "m" and not re.search(r"[$€£]\s*$", text[: m.start()]):
            scale_word = ""  # "5 m" is metres unless money
        scale = _SCALE_SUFFIX.get(scale_word, 1)
        ordinal = (m.group(2) or "").lower() in ("st", "nd", "rd", "th")
        end = m.end() if scale_word else m.end(2) if m.group(2) else m.end(1)
        out.append(NumberMention(base * scale, base, text[m.start() : end], m.start(), end, ordinal))
        taken.append((m.start(), end))
    for m in _WORDNUM_RE.finditer(text):
        words = [w for w in re.split(r"[\s-]+", m.group(0).lower()) if w]
        # trim leading/trailing connectors
        while (
            words
            and words[0] in ("a", "and")
            and not (
                len(words) > 1
                and words[1] in ("dozen", "hundred", "thousand", "million", "billion", "trillion")
            )
        ):
            words.pop(0)
        while words and words[-1] in ("a", "and"):
            words.pop()
        if not words or words == ["one"]:
            continue
        val = _words_to_number(words)
        if val is None:
            continue
        s, e = m.start(), m.start() + len(m.group(0).rstrip(" -\t\n"))
        if any(a < e and s < b for a, b in taken):
            # scale words after digits ("2.5 million") were consumed by the digit pattern
            continue
        out.append(NumberMention(val, val, text[s:e], s, e))
    for m in _ORD_RE.finditer(text):
        w = m.group(1).lower()
        if w == "second" and not re.match(
            r"\s+(?:time|round|day|week|year|month|largest|biggest|"
            r"attack|phase|quarter|half|place|term|wave)",
            text[m.end() :],
        ):
            continue  # "second" the unit of time / "to second a motion"
        out.append(
            NumberMention(float(_ORDINALS[w]), float(_ORDINALS[w]), m.group(0), m.start(), m.end(), True)
        )
    out.sort(key=lambda n: n.start)
    return out


def number_values(text: str, permissive: bool = False) -> set[float]:
    """The set of number values in ``text``; ``permissive`` adds unscaled bases (for evidence)."""
    vals: set[float] = set()
    for n in extract_numbers(text):
        vals.add(round(n.value, 6))
        if permissive:
            vals.add(round(n.base, 6))
    return vals


# ----------------------------------------------------------------------------------------------
# Dates
# ----------------------------------------------------------------------------------------------

MONTHS: dict[str, int] = words("dates", "months")
WEEKDAYS: dict[str, int] = words("dates", "weekdays")
_DATE_WORD_RE = re.compile(r"(?<![A-Za-z])(?:mid-|early-|late-)?([A-Z][a-z]{2,8})(\.)?(?![A-Za-z])")


def extract_dates(text: str) -> set[str]:
    """Normalised date parts: ``month:10``, ``weekday:5``, ``year:2023``, ``decade:1990``.

    Months and weekdays must be capitalised; full month names that are also words ("May", "March")
    count only next to a number or after "in"/"since"/"until"/"early"/"late"/"mid"/"of"/"by".
    Abbreviations need their period or a following day number ("Oct. 17", "Oct 17").
    """
    out: set[str] = set()
    for m in _DATE_WORD_RE.finditer(text):
        word = m.group(1)
        low = word.lower()
        has_dot = bool(m.group(2))
        after = text[m.end() : m.end() + 6]
        before = text[max(0, m.start() - 12) : m.start()].lower()
        near_num = bool(re.match(r"\s*\d", after)) or bool(
            re.search(r"\d(?:st|nd|rd|th)?\s*(?:of\s*)?$", before)
        )
        if low in MONTHS:
            full = len(low) > 4 or low in ("june", "july", "may")
            if low in ("may", "march") and not (
                near_num
                or re.search(r"(?:\bin|\bsince|\buntil|\bearly|\blate|\bmid|\bof|\bby|\bfrom|-)\s*$", before)
            ):
                continue
            if not full and not (has_dot or near_num):
                continue
            if low in ("sat", "sun", "mar", "jan", "dec") and not (has_dot or near_num):
                continue
            out.add(f"month:{MONTHS[low]}")
        elif low in WEEKDAYS:
            full = len(low) > 4
            if not full and not has_dot:
                continue
            out.add(f"weekday:{WEEKDAYS[low]}")
    for m in re.finditer(r"(?<![\d.,])(1[0-9]{3}|20[0-9]{2})(s|'s)?(?![\d])", text):
        if m.group(2):
            out.add(f"decade:{m.group(1)}")
        else:
            out.add(f"year:{m.group(1)}")
    return out


# ----------------------------------------------------------------------------------------------
# Named entities
# ----------------------------------------------------------------------------------------------

_CONNECTORS = set(words("names", "connectors"))
_NAME_PREFIXES = tuple(words("names", "prefixes"))
# Capitalised words that are not names when they open a sentence or stand alone.
_NOT_ENTITY = STOPWORDS | set(words("names", "not_names")) | set(MONTHS) | set(WEEKDAYS)
_WORD_RE = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ0-9]+(?:['’\-.][A-Za-zÀ-ÖØ-öø-ÿ0-9]+)*\.?")


def _is_cap(w: str) -> bool:
    if not w:
        return False
    lw = w.lower()
    for p in _NAME_PREFIXES:
        if lw.startswith(p) and len(w) > len(p) and w[len(p)].isupper():
            return True
    return w[0].isupper() or (len(w) > 1 and w[0].isdigit() and any(c.isupper() for c in w))


def _looks_like_name(w: str) -> bool:
    """A single capitalised word that is a name even at a sentence start."""
    bare = w.rstrip(".")
    if re.fullmatch(r"(?:[A-Z]\.){2,}|[A-Z]{2,}s?", w) or re.fullmatch(r"[A-Z]{2,}", bare):
        return True  # acronyms
    if any(c.isupper() for c in bare[1:]) and not bare.isupper():
        return True  # al-Askari, McDonald, iPhone
    if "'" in bare and not bare.lower().endswith("'s"):
        return True  # Kata'ib
    return False


@dataclass(frozen=True)
class Entity:
    """A name in text (surface form and offsets)."""

    text: str
    start: int
    end: int


def _trim_hyphen(w: str, start: int) -> tuple[str, int, int]:
    """Cut a hyphenated word at its first lowercase part after a capitalised one:
    "Iran-aligned" -> "Iran", "Brandt-brokered" -> "Brandt"; "al-Askari", "Norvax-9" stay."""
    if "-" in w:
        parts = w.split("-")
        keep: list[str] = []
        seen_cap = False
        for p in parts:
            if p and p[0].islower() and seen_cap and p.lower() not in ("al", "el", "bin", "ibn", "abu", "de"):
                break
            keep.append(p)
            seen_cap = seen_cap or (bool(p) and p[0].isupper())
        if len(keep) < len(parts):
            cut = "-".join(keep)
            return cut, start, start + len(cut)
    return w, start, start + len(w)


def extract_entities(text: str) -> list[Entity]:
    """Capitalised word sequences (with connectors such as "of", "al-", "bin", "de" inside) and
    quoted Title Case titles. The first word of a sentence counts only when it continues into a
    longer capitalised sequence or looks like a name (acronym, inner capital, apostrophe); leading
    stopwords ("The", "In") and month/weekday names are dropped.
    """
    ents: list[Entity] = []
    for ss, se in split_sentences(text) or [(0, len(text))]:
        words = [_trim_hyphen(m.group(0), ss + m.start()) for m in _WORD_RE.finditer(text[ss:se])]
        i = 0
        while i < len(words):
            w, ws, we = words[i]
            wclean = w.rstrip(".") if not re.fullmatch(r"(?:[A-Za-z]\.){2,}", w) else w
            if (
                not _is_cap(wclean)
                or wclean.lower().rstrip("'s’") in _NOT_ENTITY
                and not _looks_like_name(wclean)
            ):
                i += 1
                continue
            j = i + 1
            last = i
            while j < len(words):
                nw = words[j][0]
                if text[words[j - 1][2] : words[j][1]].strip():
                    break  # punctuation between the words ("Norland, Professor X") or a cut hyphen compound
                nclean = nw.rstrip(".") if not re.fullmatch(r"(?:[A-Za-z]\.){2,}", nw) else nw
                if _is_cap(nclean) and nclean.lower() not in ("i",):
                    last = j
                    j += 1
                    if nw.endswith(".") and not re.fullmatch(r"(?:[A-Za-z]\.)+|[A-Z]\.", nw):
                        break
                    continue
                if nclean.lower() in _CONNECTORS and j + 1 < len(words) and _is_cap(words[j + 1][0]):
                    j += 1
                    continue
                break
            seq = words[i : last + 1]
            at_start = i == 0 or re.search(r"[\"“‘(:]\s*$", text[words[i - 1][2] : ws]) is not None
            # strip leading non-entity words ("The", "In", "Explosions" at sentence start)
            while seq and (seq[0][0].rstrip(".").lower() in _NOT_ENTITY) and not _looks_like_name(seq[0][0]):
                seq = seq[1:]
                at_start = False
            # strip trailing connectors / stop words
            while (
                seq and seq[-1][0].lower() in (_CONNECTORS | STOPWORDS) and not _looks_like_name(seq[-1][0])
            ):
                seq = seq[:-1]
            if seq:
                single = len(seq) == 1
                if at_start and seq[0][1] == ws and single and not _looks_like_name(seq[0][0]):
                    pass  # a capitalised sentence opener, probably an ordinary word
                else:
                    s, e = seq[0][1], seq[-1][2]
                    surface = text[s:e]
                    if surface.endswith(".") and not re.search(r"(?:\b[A-Za-z]\.)+$", surface):
                        surface = surface[:-1]
                        e -= 1
                    if surface.lower().endswith("'s") or surface.endswith("’s"):
                        surface = surface[:-2]
                        e -= 2
                    ents.append(Entity(surface, s, e))
            i = last + 1
    # quoted Title Case titles: "The Old Man and the Sea"
    for m in re.finditer(r"(?:^|(?<=[\s(\[]))[\"“]([^\s\"”][^\"”]{0,78}[^\s\"”])[\"”](?![A-Za-z])", text):
        inner = m.group(1)
        ws = inner.split()
        if 1 <= len(ws) <= 8:
            content = [w for w in ws if w.lower() not in STOPWORDS]
            if content and all(_is_cap(w) for w in content) and len(ws) >= 2:
                ents.append(Entity(inner, m.start(1), m.start(1) + len(inner)))
    ents.sort(key=lambda e: (e.start, -(e.end - e.start)))
    # drop entities nested inside another one
    out: list[Entity] = []
    for e in ents:
        if out and e.start >= out[-1].start and e.end <= out[-1].end:
            continue
        out.append(e)
    return out


def entity_key(name: str) -> list[str]:
    """Normalised stems of a name for matching (possessives, dots, hyphens, case, "the" removed)."""
    st = [s for s in stems(name.replace("-", " "))]
    while st and st[0] in ("the",):
        st = st[1:]
    return st


def _tok_match(a: str, b: str) -> bool:
    """Same stem, or one a short extension of the other ("iraq"/"iraqi", "syria"/"syrian")."""
    if a == b:
        return True
    if len(a) >= 4 and len(b) >= 4:
        short, long_ = (a, b) if len(a) <= len(b) else (b, a)
        return long_.startswith(short) and len(long_) - len(short) <= 2
    return False


_GENERIC_NAME_PARTS = set(words("names", "generic_parts"))


def _qualifier_conflict(key: list[str], other: list[str]) -> bool:
    """Two names sharing a token conflict when each has a distinctive token the other lacks
    ("British Embassy" vs "U.S. Embassy"); "Abu Ali al-Askari" vs "al-Askari" does not."""

    def extra(a: list[str], b: list[str]) -> bool:
        return any(x not in _GENERIC_NAME_PARTS and not any(_tok_match(x, y) for y in b) for x in a)

    return extra(key, other) and extra(other, key)


def entity_in(name: str, evidence: str | list[str], partial: bool = True) -> bool:
    """Whether the name occurs in the evidence (a text, or a stem sequence).

    Contiguous stem match first (case, possessives, "U.S."/"US", plural and "Iraq"/"Iraqi" forms are
    tolerated). With ``partial``, a multi-word name also matches through its last distinctive token
    (a surname: "al-Askari" ~ "Abu Ali al-Askari", "Lloyd Austin" ~ "Austin"); when the evidence is
    a text, that token must be capitalised there and not part of a name with a conflicting
    qualifier ("British Embassy" does not match "U.S. Embassy").
    """
    key = entity_key(name)
    if not key:
        return True
    is_text = isinstance(evidence, str)
    if is_text:
        evidence = _alias_text(evidence)
    toks = tokens(evidence) if is_text else None
    stem_seq = [t.stem for t in toks] if toks is not None else list(evidence)
    n = len(key)
    for i in range(len(stem_seq) - n + 1):
        if all(_tok_match(key[k], stem_seq[i + k]) for k in range(n)):
            return True
    if not partial or n < 2:
        return False
    distinctive = [k for k in key if k not in _GENERIC_NAME_PARTS and not k.isdigit() and len(k) >= 3]
    if not distinctive:
        return False
    last = distinctive[-1]
    if toks is None:
        return any(_tok_match(last, s) for s in stem_seq)
    ents = None
    for t in toks:
        if not _tok_match(last, t.stem) or not _is_cap(t.text):
            continue
        if ents is None:
            ents = extract_entities(evidence)
        host = next((e for e in ents if e.start <= t.start and t.end <= e.end + 2), None)
        if host is None or not _qualifier_conflict(key, entity_key(host.text)):
            return True
    return False


# ----------------------------------------------------------------------------------------------
# Polarity: negation cues and antonyms
# ----------------------------------------------------------------------------------------------

ANTONYM_PAIRS: list[tuple[str, str]] = [(a, b) for a, b in words("polarity", "antonym_pairs")]
# "failed/refused/declined to X" are negations of X (see rag.support), not antonyms of "agree".


def _build_antonyms() -> dict[str, set[str]]:
    table: dict[str, set[str]] = {}
    for a, b in ANTONYM_PAIRS:
        sa, sb = stem(a), stem(b)
        if sa == sb:
            continue
        table.setdefault(sa, set()).add(sb)
        table.setdefault(sb, set()).add(sa)
    return table


ANTONYMS: dict[str, set[str]] = _build_antonyms()
_NEG_PREFIXES = tuple(words("polarity", "negative_prefixes"))


def are_antonyms(a: str, b: str) -> bool:
    """Whether two stems have opposite polarity (table, or a negative prefix: "arm"/"disarm")."""
    if b in ANTONYMS.get(a, ()):
        return True
    for x, y in ((a, b), (b, a)):
        for p in ("un", "dis", "non"):
            if y == p + x and len(x) >= 3:
                return True
    return False


@dataclass(frozen=True)
class PolarityCue:
    """A negation cue: ``kind`` is "negation" (not, no, never, n't, without...) or "verb"
    (denied, rejected, refused, failed...)."""

    text: str
    start: int
    end: int
    kind: str
    stem: str


def negation_cues(text: str) -> list[PolarityCue]:
    """Negation words and negative verbs in ``text`` with offsets. "no longer", "not only" (a
    reinforcer, not a negation) and "no doubt" are handled."""
    out: list[PolarityCue] = []
    toks = tokens(text)
    for i, t in enumerate(toks):
        low = t.text.lower().replace("’", "'")
        nxt = toks[i + 1].text.lower() if i + 1 < len(toks) else ""
        if t.stem in NEGATIONS or low in NEGATIONS:
            if low == "not" and nxt in ("only",):
                continue
            if low == "no" and nxt in ("doubt",):
                continue
            out.append(PolarityCue(t.text, t.start, t.end, "negation", "not"))
        elif t.stem in NEGATIVE_VERBS:
            out.append(PolarityCue(t.text, t.start, t.end, "verb", t.stem))
    return out


def has_negation(text: str) -> bool:
    """Whether ``text`` contains a grammatical negation (not, no, never, n't, without, ...)."""
    return any(c.kind == "negation" for c in negation_cues(text))


@dataclass(frozen=True)
class NegationScope:
    """A negation cue and the content stems it negates (its scope, up to four words)."""

    text: str
    scope: tuple[str, ...]


_NEG_VERBS_TO = set(words("polarity", "negating_verbs_to"))


def negation_scopes(text: str) -> list[NegationScope]:
    """Negation cues with their scopes: not/no/never/n't/without/none/nobody/nothing/..., "no longer",
    "failed/refused/declined to", "stopped short of", "ruled out", "rather than", "instead of".
    Not counted: "not only", "not until",
    "whether or not", "yes or no", a cue with nothing after it in its clause."""
    toks = tokens(text)
    out: list[NegationScope] = []
    for i, t in enumerate(toks):
        low = t.text.lower().replace("’", "'")
        nxt = toks[i + 1].text.lower() if i + 1 < len(toks) else ""
        nxt2 = toks[i + 2].text.lower() if i + 2 < len(toks) else ""
        prev = toks[i - 1].text.lower() if i > 0 else ""
        skip_first = False
        if t.stem == "not" or low in NEGATIONS:
            if low == "not" and nxt in ("only", "until", "just"):
                continue
            if low == "no" and nxt in ("doubt",):
                continue
            if prev == "or" or nxt == "or":
                continue  # "whether or not", "can or cannot", "yes or no"
            if low == "no" and re.match(r"\s*[,.;:!?)\"”]|\s*$", text[t.end :]):
                continue
            skip_first = low == "no" and nxt == "longer"
        elif t.stem in _NEG_VERBS_TO and nxt == "to":
            skip_first = True
        elif t.stem == "stop" and nxt == "short" and nxt2 == "of":
            skip_first = True
        elif (
            (t.stem == "rule" and nxt == "out")
            or (low == "rather" and nxt == "than")
            or (low == "instead" and nxt == "of")
        ):
            skip_first = True  # "ruled out X", "A rather than B", "A instead of B"
        else:
            continue
        scope: list[str] = []
        for u in toks[i + 1 :]:
            if re.search(r"[,;:.!?]|\bbut\b", text[t.end : u.start]):
                break
            if skip_first and u.text.lower() in ("longer", "to", "short", "of", "out", "than"):
                continue
            if u.is_stop or u.stem in NEGATIONS:
                continue
            scope.append(u.stem)
            if len(scope) >= 4:
                break
        if scope:
            out.append(NegationScope(t.text, tuple(scope)))
    return out
