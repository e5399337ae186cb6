"""The support scorer: does this evidence support this claim? One scorer decides everywhere.

The answering chain's verification step and the eval's faithfulness/citation metrics both call
:class:`SupportScorer`, so "supported" means the same thing in the product and in its report card.
It is deterministic (no sampling, no LLM) and cheap: one small sentence embedding per text at most.

Formula
-------
Let ``C`` be the claim's content stems (stopwords and negations removed, number words as digits,
"U.S."/"American" as ``us``; see :mod:`rag.text.lexical`) and the evidence be split into sentences.
A *window* is 1-3 consecutive sentences; *parts* are 1-2 consecutive clauses of one sentence::

    recall(X)  = weighted share of C found in X   (a stem weighs 1 + len/5: longer words are rarer)
    local      = max over windows W of recall(W) - WINDOW_PENALTY * (sentences in W - 1)
    global     = recall(whole evidence)
    lex        = LOCAL_WEIGHT * local + (1 - LOCAL_WEIGHT) * global
    cos        = max cosine(claim, window | part | whole evidence)
    emb        = clip((cos - COS_LOW) / (COS_HIGH - COS_LOW), 0, 1)
    raw        = LEXICAL_WEIGHT * lex + EMBEDDING_WEIGHT * emb   (raw = lex when no embedder is given)
    score      = clip((raw - RAW_ZERO) / (1 - RAW_ZERO), 0, 1)
                 * SOFT_PENALTY per soft reason * (HARD_PENALTY if any hard reason)
    supported  = score >= threshold and no hard reason

The capitalised names are the Settings fields ``support_<name>`` (group "support"; window 0.05, local
0.5, cosine 0.25..0.80, weights 0.6/0.4, raw zero 0.30, penalties 0.8/0.25), passed as
:class:`rag.knobs.Knobs`; a window is at most ``support_max_window`` sentences. ``RAW_ZERO`` places the
default threshold 0.5 between paraphrases and topical-but-unsupported claims; the constants were tuned
for balanced accuracy on ``eval/qa/support.jsonl`` and an independent dev set (``tests/test_support.py``),
where the optimum is a broad plateau.

Hard reasons (each vetoes support)
----------------------------------
- ``number N not in evidence``: a number, ordinal or percentage of the claim is absent ("seven"
  equals "7", "2.5 million" equals "2,500,000"; a decade matches any of its years);
- ``number N not attached to 'w'`` / ``number N week vs month``: the number is there but counts
  something else ("two of bribery" vs "two of money laundering", "15 militants in Syria" vs "15
  militants in Iraq and up to seven in Syria", "six weeks" vs "six months");
- ``date X not in evidence``: a month or weekday is absent;
- ``entity 'X' not in evidence``: a name is absent (a surname matches a full name, "al-Askari" ~
  "Abu Ali al-Askari"; case, possessives, "U.S."/"US", plurals and "Iraq"/"Iraqi" are tolerated;
  "British Embassy" does not match "U.S. Embassy");
- ``negation mismatch: 'not'`` / ``antonym mismatch: 'rise' vs 'fall'``: polarity differs from the
  aligned evidence. Negation cues (not, no, never, n't, without, none, "failed/refused/declined
  to", "ruled out", "rather than"...) pair across the two sides when their scopes overlap; an
  unpaired cue counts when two thirds of its scope is shared with the other side; an odd count of
  unpaired cues plus antonym swaps is a mismatch ("did not approve" agrees with "rejected");
- ``speaker 'X' not attributed``: for "X said ...", "..., said X" or "according to X", the
  best-aligned evidence sentence (or, for "he said" and quotes, the nearest earlier sentence naming
  a speaker, or the next one when the quote continues) does not name X. Role-only speakers ("the
  judge said") are not checked;
- ``quote "..." not in evidence``: words the claim puts in quotation marks (three or more) are not
  in the evidence as written;
- ``'phrase' not in evidence``: a phrase of the claim (cut at commas, conjunctions, "by/with/after")
  with two or more content words, under a third of which occur in the evidence - information
  tacked onto an otherwise supported claim.

Soft reasons: ``number N not near the supporting sentence`` (only elsewhere in the evidence),
``number first not in evidence`` ("first" is often paraphrased); ``low overlap`` explains a low
score without a hard reason. A claim phrased as a question ("When were the Normans in Normandy?
10th century") is scored like any other text.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.knobs import DEFAULT_KNOBS, Knobs
from rag.text import lexical as tu
from rag.text.sentences import sentences
from rag.text.words import words

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

_EMB_CACHE_SIZE = 8192

SPEECH_VERBS = tuple(words("support", "speech_verbs"))
_SPEECH_RE = re.compile(r"\b(" + "|".join(SPEECH_VERBS) + r")\b")
_ACCORDING_RE = re.compile(r"\baccording to\s+((?:the\s+)?[^,.;:]{2,60})", re.IGNORECASE)
_PRONOUNS = set(words("support", "pronouns"))
_SUBJECT_SKIP = set(words("support", "subject_skip"))


@dataclass
class SupportResult:
    """The verdict on one claim: ``score`` in 0..1, ``supported`` and human-readable ``reasons``."""

    score: float
    supported: bool
    reasons: list[str] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)  # lexical/cosine parts, for debugging


@dataclass
class _Text:
    """An evidence text prepared once: sentences, their stems, windows."""

    text: str
    sents: list[str]
    sent_stems: list[list[str]]
    all_stems: list[str]
    windows: list[tuple[int, int]]  # sentence index ranges [i, j)
    parts: list[str]  # sub-sentence spans (1-2 clauses) for the embedding match of short claims

    def window_text(self, w: tuple[int, int]) -> str:
        return " ".join(self.sents[w[0] : w[1]])

    def window_stems(self, w: tuple[int, int]) -> list[str]:
        out: list[str] = []
        for k in range(w[0], w[1]):
            out.extend(self.sent_stems[k])
        return out


def _prepare(text: str, knobs: Knobs = DEFAULT_KNOBS) -> _Text:
    sents = sentences(text) or ([text.strip()] if text.strip() else [])
    sent_stems = [tu.stems(s) for s in sents]
    most = knobs.support_max_window
    windows = [(i, j) for i in range(len(sents)) for j in range(i + 1, min(len(sents), i + most) + 1)]
    all_stems = [s for ss in sent_stems for s in ss]
    parts: list[str] = []
    for sent in sents:
        cl = [sent[a:b].strip() for a, b in _clauses(sent)]
        cl = [c for c in cl if len(c.split()) >= knobs.support_min_part_words]
        if len(cl) < 2:
            continue
        parts.extend(cl)
        parts.extend(f"{cl[i]}, {cl[i + 1]}" for i in range(len(cl) - 1))
    return _Text(text, sents, sent_stems, all_stems, windows, parts)


def weighted_recall(claim: list[str], have: set[str], knobs: Knobs = DEFAULT_KNOBS) -> float:
    """Share of claim content stems present, weighting longer (rarer) stems more."""
    if not claim:
        return 1.0
    tot = hit = 0.0
    cap, scale = knobs.support_stem_length_cap, knobs.support_stem_length_scale
    for c in claim:
        w = 1.0 + min(len(c), cap) / scale
        tot += w
        if c in have or any(tu._tok_match(c, h) for h in have if h[:3] == c[:3]):
            hit += w
    return hit / tot


# --------------------------------------------------------------------------------------------------
# hard checks
# --------------------------------------------------------------------------------------------------


_PERIOD_AFTER = re.compile(
    r"\s+(?:quarter|half|round|phase|stage|leg|term|season|day|week|month|year)\b", re.I
)
UNITS = {tu.stem(u) for u in words("support", "units")}


def _check_numbers(claim: str, ev: _Text, region_text: str) -> tuple[list[str], list[str]]:
    hard: list[str] = []
    soft: list[str] = []
    ev_vals = tu.number_values(ev.text, permissive=True)
    ev_dates = tu.extract_dates(ev.text)
    region_vals = tu.number_values(region_text, permissive=True)
    for n in tu.extract_numbers(claim):
        if re.search(r"\d(?:s|'s)$", n.text):  # a decade: "1990s" is fine with any year of it
            decade = int(n.base)
            if (
                any(
                    d.startswith("year:")
                    and decade <= int(d[5:]) < decade + (100 if decade % 100 == 0 else 10)
                    for d in ev_dates
                )
                or round(n.value, 6) in ev_vals
            ):
                continue
        v = round(n.value, 6)
        if v not in ev_vals and n.text.lower() == "first" and not _PERIOD_AFTER.match(claim[n.end :]):
            soft.append("number first not in evidence")  # "first" is often paraphrased ("initially")
        elif v not in ev_vals:
            hard.append(f"number {n.text} not in evidence")
        elif v not in region_vals:
            soft.append(f"number {n.text} not near the supporting sentence")
    return hard, soft


def _check_dates(claim: str, ev: _Text) -> list[str]:
    ev_dates = tu.extract_dates(ev.text)
    out = []
    for d in sorted(tu.extract_dates(claim)):
        kind = d.split(":")[0]
        if kind in ("year", "decade"):
            continue  # numbers cover years and decades
        if d not in ev_dates:
            out.append(f"date {d} not in evidence")
    return out


def _check_entities(claim: str, ev: _Text) -> list[str]:
    out = []
    seen: set[str] = set()
    for e in tu.extract_entities(claim):
        key = e.text.lower()
        if key in seen:
            continue
        seen.add(key)
        if not tu.entity_in(e.text, ev.text):
            out.append(f"entity '{e.text}' not in evidence")
    return out


_CLAUSE_SPLIT_RE = re.compile(
    r"[,;:()\u2013\u2014]|\s-\s|\b(?:but|while|although|though|whereas|however)\b", re.IGNORECASE
)


def _clauses(text: str) -> list[tuple[int, int]]:
    """Clause spans of a text: split at commas, semicolons, dashes and contrastive conjunctions."""
    out: list[tuple[int, int]] = []
    s = 0
    for m in _CLAUSE_SPLIT_RE.finditer(text):
        if text[s : m.start()].strip():
            out.append((s, m.start()))
        s = m.end()
    if text[s:].strip():
        out.append((s, len(text)))
    return out or [(0, len(text))]


def _matches(stem: str, other: set[str]) -> bool:
    return stem in other or any(tu.are_antonyms(stem, o) or tu._tok_match(stem, o) for o in other)


def _share(scope: tuple[str, ...] | list[str], other: set[str]) -> float:
    return sum(1 for x in scope if _matches(x, other)) / len(scope) if scope else 0.0


def _focus_clauses(claim_content: set[str], region_text: str, share: float = DEFAULT_KNOBS.support_focus_share) -> str:
    """The clauses of the region that carry the claim: those covering at least ``share`` (80%) as many
    claim stems as the best clause. Antonyms are judged there, not in unrelated side clauses."""
    spans = _clauses(region_text)
    cover = [len(claim_content & set(tu.stems(region_text[a:b]))) for a, b in spans]
    best = max(cover) if cover else 0
    if best == 0:
        return region_text
    keep = [region_text[a:b] for (a, b), c in zip(spans, cover, strict=True) if c >= share * best]
    return " , ".join(keep)


def _check_polarity(claim: str, region_text: str, sentence: str, knobs: Knobs = DEFAULT_KNOBS) -> list[str]:
    """Polarity of the claim vs its aligned evidence.

    Negation cues are paired across the two sides when their scopes overlap ("showed no reaction" ~
    "showed no visible reaction"); an unpaired cue counts when most of its scope is shared with the
    other side (so "No group claimed responsibility" matters to "A group claimed responsibility" but
    not to "previous attacks were carried out by groups"). An antonym swap counts when the claim's
    word is absent from the best sentence and its opposite is in the clauses carrying the claim. An
    odd total is a mismatch: "did not approve" agrees with "rejected" (one cue plus one swap)."""
    claim_content = tu.content_set(claim)
    region_content = tu.content_set(region_text)
    c_cues = tu.negation_scopes(claim)
    r_cues = tu.negation_scopes(region_text)
    used: set[int] = set()
    unmatched_c: list[tu.NegationScope] = []
    for c in c_cues:
        j = next(
            (j for j, r in enumerate(r_cues) if j not in used and _share(c.scope, set(r.scope)) > 0), None
        )
        if j is None:
            unmatched_c.append(c)
        else:
            used.add(j)
    unmatched_r = [r for j, r in enumerate(r_cues) if j not in used]
    most = knobs.support_negation_share
    neg = [c.text for c in unmatched_c if _share(c.scope, region_content) >= most]
    neg += [r.text for r in unmatched_r if _share(r.scope, claim_content) >= most]

    focus = _focus_clauses(claim_content, sentence, knobs.support_focus_share)
    claim_stems = set(tu.stems(claim))
    focus_stems = set(tu.stems(focus))
    sent_stems = set(tu.stems(sentence))
    flips: list[str] = []
    for c in sorted(claim_stems):
        if c in sent_stems or c in tu.STOPWORDS and c not in tu.ANTONYMS:
            continue
        opp = sorted(r for r in focus_stems if tu.are_antonyms(c, r) and r not in claim_stems)
        if opp:
            flips.append(f"antonym mismatch: '{c}' vs '{opp[0]}'")
    if (len(neg) + len(flips)) % 2 == 0:
        return []
    out = [f"negation mismatch: '{w}'" for w in neg[:1]]
    out.extend(flips)
    return out


# --------------------------------------------------------------------------------------------------
# reported speech
# --------------------------------------------------------------------------------------------------


def _cap_run(words: list[str], from_end: bool) -> list[str]:
    """The run of capitalised words (with connectors inside) at the end/start of ``words``."""
    seq = list(reversed(words)) if from_end else list(words)
    run: list[str] = []
    for w in seq:
        if tu._is_cap(w) and w.lower() not in tu.STOPWORDS:
            run.append(w)
        elif run and w.lower() in tu._CONNECTORS:
            run.append(w)
        else:
            break
    while run and run[-1].lower() in tu._CONNECTORS and not tu._is_cap(run[-1]):
        run.pop()
    run = [w[:-1] if w.endswith(".") and not re.fullmatch(r"(?:[A-Za-z]\.)+", w) else w for w in run]
    return list(reversed(run)) if from_end else run


def claim_speaker(claim: str) -> str | None:
    """The speaker of a reported-speech claim ("X said ...", "according to X", "..., said X",
    "X congratulated Y and said ..."), or None (no speech verb, a pronoun subject, a passive)."""
    m = _ACCORDING_RE.search(claim)
    if m:
        sp = re.sub(r"^(?:the|a|an)\s+", "", m.group(1).strip(), flags=re.IGNORECASE)
        return " ".join(sp.split()[:6]) or None
    for m in _SPEECH_RE.finditer(claim):
        before = claim[: m.start()]
        segs = re.split(r"[,;:\"“”]", before)
        seg_words = re.findall(r"[\w.'’-]+", segs[-1])
        while seg_words and seg_words[-1].lower() in _SUBJECT_SKIP:
            seg_words.pop()
        if not seg_words and re.search(r",\s*$", before) and not re.search(r"[\"”’']\s*,?\s*$", before):
            # appositive: "Okafor-Lane, his lawyer, said ..." -> the name before the role
            earlier = [re.findall(r"[\w.'’-]+", g) for g in segs[:-1] if g.strip()]
            for words in reversed(earlier[-2:]):
                run = _cap_run(words, from_end=True)
                if run:
                    return " ".join(run)
            continue
        if not seg_words:
            # '"...," said Anna Brandt-Lane' / "..., Austin said" with the name after the verb
            after = re.findall(r"[\w.'’-]+", claim[m.end() :])
            run = _cap_run(after[:6], from_end=False)
            if run:
                return " ".join(run)
            continue
        last = seg_words[-1].lower()
        if last in _PRONOUNS:
            return None
        if last in ("was", "were", "been", "be", "is", "are", "being"):
            continue  # passive: "was told", "is said"
        if last in ("and", "but", "then"):
            # coordinated verbs: the subject opens the sentence
            whole = re.findall(r"[\w.'’-]+", before)
            run = _cap_run(whole[:6], from_end=False)
            return " ".join(run) if run else None
        run = _cap_run(seg_words, from_end=True)
        # a role before a name is fine ("chief engineer Anna Brandt"); a name before a role
        # word ("Medicines Board chair") keeps the role for the bag-of-words match
        if run and tu._is_cap(seg_words[-1]):
            return " ".join(run)
        np_words = [w for w in seg_words[-4:] if w.lower() not in tu.STOPWORDS]
        return " ".join(np_words) or None
    return None


def _is_named(speaker: str) -> bool:
    """Whether a speaker phrase contains a name (not only role words like "the judge")."""
    return any(tu._is_cap(w) and w.lower() not in tu.STOPWORDS for w in speaker.split())


def _speaker_in(speaker: str, sent: str) -> bool:
    if tu.entity_in(speaker, sent):
        return True
    need = [x for x in tu.content_stems(speaker)]
    have = set(tu.stems(sent))
    return bool(need) and all(_matches(x, have) for x in need)


def _names_a_speaker(sent: str) -> bool:
    """Whether a sentence attributes speech to a named subject (not a pronoun)."""
    if _ACCORDING_RE.search(sent):
        return True
    for m in _SPEECH_RE.finditer(sent):
        segs = [g for g in re.split(r"[,;:\"“”]", sent[: m.start()]) if g.strip()]
        before = [w for w in (segs[-1].split() if segs else []) if w.lower() not in _SUBJECT_SKIP]
        if (
            before
            and before[-1].lower() not in _PRONOUNS
            and before[-1].lower() not in ("was", "were", "been", "is", "are")
        ):
            return True
        after = sent[m.end() :].split()
        if after and tu._is_cap(after[0]) and after[0].lower() not in _PRONOUNS:
            return True  # "..., said Austin"
    return False


def _check_speaker(claim: str, ev: _Text, sent_rank: list[int], lookback: int = DEFAULT_KNOBS.support_speaker_lookback
                   ) -> list[str]:
    """A named speaker of the claim must be named in the best-aligned sentence, or (for "he said"
    and quotes) in the nearest earlier sentence that names a speaker, or in the next sentence when
    the quote continues there ('"... safe. Every spring they told us," said Marta ...').
    Role-only speakers ("the judge said") are not checked: articles name the person instead."""
    speaker = claim_speaker(claim)
    if not speaker or not _is_named(speaker) or not sent_rank:
        return []
    k = sent_rank[0]
    sents = ev.sents
    if _speaker_in(speaker, sents[k]):
        return []
    if not _names_a_speaker(sents[k]):
        for j in range(k - 1, max(-1, k - 1 - lookback), -1):
            if _speaker_in(speaker, sents[j]):
                return []
            if _names_a_speaker(sents[j]):
                break
        if k + 1 < len(sents) and re.search(r"[\"“”]", sents[k]) and _speaker_in(speaker, sents[k + 1]):
            return []
    return [f"speaker '{speaker}' not attributed"]


@dataclass
class _NumCtx:
    value: float
    after: list[str]  # content stems right after the number, up to the next number or clause end
    caps: list[bool]  # whether each of those words is capitalised (a name)
    skip: bool  # a date part or a year: not bound to what follows


_PLACE_PREPS = set(words("support", "place_prepositions"))


def _number_contexts(text: str, n_after: int) -> list[_NumCtx]:
    """Each number with the words that follow it; a capitalised word counts as attached only after a
    preposition ("15 militants in Syria")."""
    out: list[_NumCtx] = []
    toks = tu.tokens(text)
    nums = [n for n in tu.extract_numbers(text) if not n.ordinal]
    for i, n in enumerate(nums):
        nxt_start = nums[i + 1].start if i + 1 < len(nums) else len(text)
        after: list[str] = []
        caps: list[bool] = []
        for t in toks:
            if t.start < n.end or t.start >= nxt_start:
                continue
            if re.search(
                r"[,;:.!?]",
                text[n.end : t.start].replace(".", "", 1) if n.text.endswith(".") else text[n.end : t.start],
            ):
                break
            if t.is_stop or t.stem in tu.NEGATIONS or t.stem[:1].isdigit():
                continue
            after.append(t.stem)
            prev_word = re.findall(r"[A-Za-z]+", text[max(0, t.start - 9) : t.start])
            caps.append(tu._is_cap(t.text) and bool(prev_word) and prev_word[-1].lower() in _PLACE_PREPS)
            if len(after) >= n_after:
                break
        before = text[max(0, n.start - 6) : n.start].lower()
        is_year = n.value.is_integer() and 1000 <= n.value <= 2100 and not n.ordinal
        is_date = bool(
            re.search(r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s*$", before)
        ) or (bool(after) and after[0] in {tu.stem(m) for m in tu.MONTHS})
        clock = ":" in text[max(0, n.start - 1) : n.end + 1]
        out.append(_NumCtx(round(n.value, 6), after, caps, is_year or is_date or clock))
    return out


def _attached(e: _NumCtx, counted: bool) -> set[str]:
    """What a number of the evidence is bound to: the word it counts, or names right after it."""
    if counted:
        return set(e.after[:1])
    return {x for x, cap in zip(e.after[:2], e.caps[:2], strict=False) if cap}


def _check_number_binding(claim: str, ev: _Text, knobs: Knobs = DEFAULT_KNOBS) -> list[str]:
    """A number must stay with what it counts: "two of bribery and three of money laundering" fails
    against "three of bribery and two of money laundering", "15 militants in Syria" against "15
    militants in Iraq and up to seven in Syria", "six weeks" against "six months"."""
    out: list[str] = []
    claim_ctx = [c for c in _number_contexts(claim, knobs.support_number_claim_words) if not c.skip and c.after]
    if not claim_ctx:
        return out
    ev_ctx = [c for s in ev.sents for c in _number_contexts(s, knobs.support_number_evidence_words) if not c.skip]
    for c in claim_ctx:
        mine = [e for e in ev_ctx if e.value == c.value]
        if not mine:
            continue
        unit = c.after[0] if c.after[0] in UNITS else None
        if unit:
            ev_units = [e.after[0] for e in mine if e.after and e.after[0] in UNITS]
            if ev_units and len(ev_units) == len(mine) and not any(tu._tok_match(unit, u) for u in ev_units):
                out.append(f"number {tu._fmt_num(c.value)} {unit} vs {ev_units[0]}")
                continue
        # the counted word right after the number, and names among the next words
        for k, w in enumerate(c.after):
            if k > 0 and not c.caps[k]:
                continue
            if any(_matches(w, set(e.after)) for e in mine):
                continue
            if any(e.value != c.value and _matches(w, _attached(e, counted=k == 0)) for e in ev_ctx):
                out.append(f"number {tu._fmt_num(c.value)} not attached to '{w}'")
                break
    return out


_PHRASE_SPLIT_RE = re.compile(
    r"(?<!\d),|,(?!\d)|[;:()\u2013\u2014]|\s-\s|\b(?:and|but|while|after|before|because|when|who|which|whereas|"
    r"although|though|by|with|as|since|until|where)\b",
    re.IGNORECASE,
)


def _check_phrases(claim: str, ev: _Text, knobs: Knobs = DEFAULT_KNOBS) -> list[str]:
    """New information tacked onto a supported claim ("... found alive on a barn roof by an air force
    helicopter crew"): a phrase of the claim (cut at commas, conjunctions and "by/with/after/..." )
    with two or more content words, less than ``support_min_phrase_recall`` (a third) of which occur in
    the evidence."""
    have = set(ev.all_stems)
    out: list[str] = []
    start = 0
    pieces: list[str] = []
    for m in _PHRASE_SPLIT_RE.finditer(claim):
        pieces.append(claim[start : m.start()])
        start = m.end()
    pieces.append(claim[start:])
    for ph in pieces:
        cs = list(dict.fromkeys(tu.content_stems(ph)))
        if (sum(1 for c in cs if not c[:1].isdigit()) >= 2
                and weighted_recall(cs, have, knobs) < knobs.support_min_phrase_recall):
            out.append(f"'{' '.join(ph.split()).strip(' .,;:!?')}' not in evidence")
            break
    return out


_QUOTED_RE = re.compile(r"[\"\u201c]([^\"\u201c\u201d]{3,}?)[\"\u201d]")
_ELLIPSIS_RE = re.compile(r"\.\.\.|\u2026")


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+(?:['\u2019-][a-z0-9]+)*", text.lower().replace("\u2019", "'")))


def _check_quotes(claim: str, ev: _Text, min_words: int = DEFAULT_KNOBS.support_min_quote_words) -> list[str]:
    """Words the claim puts in quotation marks ("a nest of espionage") are someone's words: ``min_words``
    (three) or more of them must stand in the evidence as written (an ellipsis may join pieces)."""
    have = f" {_words(ev.text)} "
    for m in _QUOTED_RE.finditer(claim):
        for piece in _ELLIPSIS_RE.split(m.group(1)):
            words = _words(piece)
            if len(words.split()) >= min_words and f" {words} " not in have:
                return [f"quote \"{' '.join(piece.split())[:60]}\" not in evidence"]
    return []


# --------------------------------------------------------------------------------------------------
# the scorer
# --------------------------------------------------------------------------------------------------


class SupportScorer:
    """Scores how well evidence supports a claim (see the module docstring for the formula).

    ``embed`` maps texts to L2-normalised vectors (e.g. ``get_embedder().encode``); without it the
    score is lexical only. Vectors are cached per text, so re-scoring the same passages is cheap.
    ``threshold`` defaults to ``knobs.support_threshold``; ``knobs`` holds the formula's numbers.
    """

    def __init__(
        self, embed: Callable[[list[str]], np.ndarray] | None = None, threshold: float | None = None,
        knobs: Knobs = DEFAULT_KNOBS,
    ):
        self.embed = embed
        self.knobs = knobs
        self.threshold = float(knobs.support_threshold if threshold is None else threshold)
        self.w_lex, self.w_emb = knobs.support_lexical_weight, knobs.support_embedding_weight
        self.cos_lo, self.cos_hi = knobs.support_cos_low, knobs.support_cos_high
        self.raw_zero = knobs.support_raw_zero
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    # -- embeddings ---------------------------------------------------------------------------------
    def _vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if self.embed is None:
            return {}
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vecs = self.embed(list(missing))
            for t, v in zip(missing, vecs, strict=True):
                self._cache[t] = v
                if len(self._cache) > _EMB_CACHE_SIZE:
                    self._cache.popitem(last=False)
        return {t: self._cache[t] for t in texts if t in self._cache}

    def _texts_for(self, claim: str, ev: _Text) -> list[str]:
        out = [claim]
        out.extend(ev.window_text(w) for w in ev.windows)
        out.extend(ev.parts)
        if len(ev.sents) > self.knobs.support_max_window:  # else the whole text is a window already
            out.append(ev.text)
        return out

    # -- core ---------------------------------------------------------------------------------------
    def _score_prepared(self, claim: str, ev: _Text, vecs: dict[str, np.ndarray]) -> SupportResult:
        claim = claim.strip()
        if not claim:
            return SupportResult(0.0, False, ["empty claim"])
        if not ev.sents:
            return SupportResult(0.0, False, ["no evidence"])
        c_content = list(dict.fromkeys(tu.content_stems(claim)))
        kn = self.knobs
        glob = weighted_recall(c_content, set(ev.all_stems), kn)
        cvec = vecs.get(claim)
        best_local = 0.0
        best_cos = 0.0
        region = ev.windows[0]
        best_align = -1.0
        for w in ev.windows:
            r = weighted_recall(c_content, set(ev.window_stems(w)), kn)
            local = r - kn.support_window_penalty * (w[1] - w[0] - 1)
            best_local = max(best_local, local)
            cos = 0.0
            if cvec is not None:
                wv = vecs.get(ev.window_text(w))
                if wv is not None:
                    cos = float(cvec @ wv)
                    best_cos = max(best_cos, cos)
            align = local + cos
            if align > best_align:
                best_align, region = align, w
        if cvec is not None:
            for t in [ev.text, *ev.parts]:
                if t in vecs:
                    best_cos = max(best_cos, float(cvec @ vecs[t]))
        lex = kn.support_local_weight * max(best_local, 0.0) + (1 - kn.support_local_weight) * glob
        if cvec is not None:
            emb = min(1.0, max(0.0, (best_cos - self.cos_lo) / (self.cos_hi - self.cos_lo)))
            raw = self.w_lex * lex + self.w_emb * emb
        else:
            raw = lex
        region_text = ev.window_text(region)
        # sentences ranked by alignment with the claim minus its speaker (for attribution)
        speaker = claim_speaker(claim)
        sp = set(tu.content_stems(speaker)) if speaker else set()
        content_wo = [c for c in c_content if c not in sp] or c_content

        def align(k: int) -> float:
            cos_k = float(cvec @ vecs[ev.sents[k]]) if cvec is not None and ev.sents[k] in vecs else 0.0
            return weighted_recall(content_wo, set(ev.sent_stems[k]), kn) + cos_k

        sent_rank = sorted(range(len(ev.sents)), key=lambda k: -align(k))
        # widen the region by one sentence on each side for polarity/number locality
        wide = (max(0, region[0] - 1), min(len(ev.sents), region[1] + 1))
        hard: list[str] = []
        num_hard, num_soft = _check_numbers(claim, ev, ev.window_text(wide))
        hard += num_hard
        hard += _check_dates(claim, ev)
        hard += _check_entities(claim, ev)
        hard += _check_polarity(claim, region_text, ev.sents[sent_rank[0]], kn)
        hard += _check_number_binding(claim, ev, kn)
        hard += _check_phrases(claim, ev, kn)
        hard += _check_speaker(claim, ev, sent_rank, kn.support_speaker_lookback)
        hard += _check_quotes(claim, ev, kn.support_min_quote_words)
        soft = list(num_soft)
        score = max(0.0, (raw - self.raw_zero) / (1.0 - self.raw_zero))
        for _ in soft:
            score *= kn.support_soft_penalty
        if hard:
            score *= kn.support_hard_penalty
        reasons = hard + soft
        if score < self.threshold and not hard:
            cos_note = f", cosine {best_cos:.2f}" if cvec is not None else ""
            reasons.append(f"low overlap (lexical {lex:.2f}{cos_note})")
        score = round(min(1.0, max(0.0, score)), 4)
        feats = {
            "lex": round(lex, 4),
            "local": round(best_local, 4),
            "global": round(glob, 4),
            "cos": round(best_cos, 4),
            "raw": round(raw, 4),
        }
        return SupportResult(score, bool(score >= self.threshold and not hard), reasons, feats)

    # -- public API ---------------------------------------------------------------------------------
    def score(self, claim: str, evidence: str | list[str]) -> SupportResult:
        """Score one claim against one evidence text (a list is joined with spaces)."""
        return self.score_many([claim], [evidence])[0]

    def score_many(self, claims: Sequence[str], evidences: Sequence[str | list[str]]) -> list[SupportResult]:
        """Score ``claims[i]`` against ``evidences[i]``, embedding all texts in one batch."""
        if len(claims) != len(evidences):
            raise ValueError("claims and evidences must have the same length")
        preps: dict[str, _Text] = {}
        joined: list[str] = []
        for ev in evidences:
            text = " ".join(e.strip() for e in ev if e and e.strip()) if isinstance(ev, list) else (ev or "")
            joined.append(text)
            if text not in preps:
                preps[text] = _prepare(text, self.knobs)
        vecs: dict[str, np.ndarray] = {}
        if self.embed is not None:
            texts: list[str] = []
            for c, t in zip(claims, joined, strict=True):
                if c.strip() and preps[t].sents:
                    texts.extend(self._texts_for(c.strip(), preps[t]))
            if texts:
                vecs = self._vectors(texts)
        return [self._score_prepared(c, preps[t], vecs) for c, t in zip(claims, joined, strict=True)]

    def best(self, claim: str, candidates: list[str]) -> tuple[int, SupportResult]:
        """The candidate that best supports ``claim`` (supported first, then score); -1 if none."""
        if not candidates:
            return -1, SupportResult(0.0, False, ["no evidence"])
        results = self.score_many([claim] * len(candidates), list(candidates))
        idx = max(range(len(results)), key=lambda i: (results[i].supported, results[i].score, -i))
        return idx, results[idx]
