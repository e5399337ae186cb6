"""Evidence selection: from retrieved passages to the few sentences that best answer the question.

The model then reads ~6 numbered sentences (~300 tokens) instead of whole chunks (~1,100 tokens):
faster on a CPU, and less room for a small model to drift. Each sentence keeps its article id and
character offsets, so a citation resolves to the exact sentence. A sentence that opens with a
pronoun ("He said…") carries the previous sentence along as context, so the speaker is visible.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from rag.answer.sanitise import is_instruction
from rag.knobs import DEFAULT_KNOBS, Knobs
from rag.question import asked_kind, gives_kind, name_heads, question_terms
from rag.settings import Settings
from rag.text.lexical import content_set
from rag.text.sentences import split_sentences
from rag.types import Passage

_PRONOUN_START = re.compile(r"^[\"'\u201c]?(he|she|they|it|his|her|their|this|that|these|those|the group|"
                            r"the statement|the attack|the official|the minister)\b", re.I)


# "In a statement on its Telegram channel, the militia's security chief ..." names its "its" earlier.
_PRONOUN_OPENING = re.compile(r"^(?:in|on|at|from|with|under|after|before|during|through|according to)\b"
                              r"[^,.;:]{0,60}\b(?:its|their)\b[^,.;:]{0,60},", re.I)

# "Of those, 37 were hip replacements": a part of a group the previous sentence counts.
_PARTITIVE_OPENING = re.compile(r"^(?:of|among|from)\s+(?:those|these|them|whom|which|the\s+total)\b", re.I)

# A quote attributed by pronoun ("...," she said.) names its speaker in an earlier sentence.
_PRONOUN_SPEAKER = re.compile(r"[\"\u201d'\u2019],?\s+(?:he|she|they)\s+(?:said|says|added|told|warned|wrote|"
                              r"replied|insisted|argued|explained|asked)\b", re.I)

# "The collapse happened at 3:40 a.m." refers back to the previous sentence's "... collapsed ...": a
# sentence whose subject is a definite common noun the previous sentence mentions needs it as context.
_DEFINITE_START = re.compile(r"^[\"'\u201c]?the\s+([a-z][\w-]*)(?:\s+([a-z][\w-]*))?", re.I)


def refers_back(sentence: str, before: str) -> bool:
    m = _DEFINITE_START.match(sentence)
    if not m or not before or m.group(1)[0].isupper():
        return False  # "The Elder Dam, completed in 1974, ..." names its subject
    prev = content_set(before)
    return any(w and content_set(w) and content_set(w) <= prev for w in m.groups())


# "Who/Which <noun> ...?" asks for a name the question does not contain.
_ASKS_NAME = re.compile(r"^\s*(?:who|whom|which)\b", re.I)


@dataclass
class EvidenceItem:
    n: int  # 1-based number shown to the model
    doc_id: str
    chunk_id: str
    sentence: str  # the quote: article.text[start:end]
    start: int
    end: int
    score: float
    passage: Passage
    context: str = ""  # previous sentence when the quote needs it to be understood
    span_start: int = -1  # start of context+sentence in the article (the quote when context is used)
    span_text: str = ""  # article text from span_start to end
    passage_text: str = ""  # the passage shown to the reader; always contains span_text
    lexical: float = 0.0
    dense: float = 0.0

    @property
    def display_text(self) -> str:
        return f"{self.context} {self.sentence}".strip() if self.context else self.sentence

    @property
    def title(self) -> str:
        # the headline the reader sees the quote under; the prompt and verification read it
        return self.passage.title

    @property
    def quote(self) -> str:
        return self.span_text or self.sentence

    @property
    def quote_start(self) -> int:
        return self.span_start if self.span_start >= 0 else self.start



def lexical_overlap(terms: tuple[set[str], set[str]], sentence: str, knobs: Knobs = DEFAULT_KNOBS) -> float:
    """Coverage of the question's terms. The non-name terms say what is asked ("spoke on the phone"),
    the names say about whom; a sentence that only repeats the names answers nothing, so the
    non-name terms weigh more (``evidence_name_weight`` / ``evidence_other_weight``)."""
    names, other = terms
    have = content_set(sentence)
    if not names and not other:
        return 0.0
    if not names:
        return len(other & have) / len(other)
    if not other:
        return len(names & have) / len(names)
    return (knobs.evidence_name_weight * len(names & have) / len(names)
            + knobs.evidence_other_weight * len(other & have) / len(other))


def _answer_prior(question: str, bonus: float = DEFAULT_KNOBS.evidence_answer_type_bonus):
    """A small bonus for sentences that hold the kind of answer asked for: a number for "how many", a
    time for "when", a name the question lacks for "who"/"which". Classic QA answer typing; it reorders
    near ties, it cannot lift an off-topic sentence past one that matches the question."""
    kind = asked_kind(question)
    if kind:
        return lambda text: bonus if gives_kind(kind, text, text, question) else 0.0
    if _ASKS_NAME.match(question):
        from rag.text.lexical import extract_entities

        known = content_set(question)

        def new_name(text: str) -> float:
            return bonus if any(not content_set(e.text) <= known for e in extract_entities(text)) else 0.0

        return new_name
    return lambda text: 0.0


def _is_headline(start: int, text: str, title: str) -> bool:
    return start == 0 and bool(title) and text.strip() == title.strip()



def pool_idf_overlap(terms: set[str], sentences: list[str]):
    """A function giving the share of ``terms`` a text holds, each term weighted by its inverse
    document frequency among ``sentences`` (the candidate pool): a term every candidate has weighs ~0."""
    sets = [content_set(t) for t in sentences]
    n = len(sets)
    idf = {t: math.log((n + 1) / (sum(t in s for s in sets) + 0.5)) for t in terms}
    total = sum(idf.values())

    def overlap(text: str) -> float:
        if total <= 0:
            return 0.0
        have = content_set(text)
        return sum(w for t, w in idf.items() if t in have) / total

    return overlap


def select_evidence(question: str, passages: list[Passage], embedder, articles,
                    k: int = Settings.model_fields["evidence_k"].default, query_vector: np.ndarray | None = None,
                    knobs: Knobs = DEFAULT_KNOBS) -> list[EvidenceItem]:
    """Score every sentence of the retrieved passages; keep the best ``k`` (``Settings.evidence_k``,
    renumbered 1..k)."""
    cands: list[dict] = []
    seen: set[tuple[str, int]] = set()
    for rank, p in enumerate(passages):
        try:
            text = articles.get(p.doc_id).text
        except Exception:  # noqa: BLE001 - article store damaged: fall back to the passage text alone
            text = None
        if text is not None and text[p.start:p.end] == p.text:
            spans = [(s, e) for s, e in split_sentences(text) if s >= p.start and e <= p.end]
            base = text
        else:
            spans = [(p.start + s, p.start + e) for s, e in split_sentences(p.text)]
            base = None
        all_spans = split_sentences(base) if base is not None else []
        prev_of = {s: all_spans[i - 1] for i, (s, _) in enumerate(all_spans) if i > 0}
        for s, e in spans:
            if (p.doc_id, s) in seen:
                continue
            seen.add((p.doc_id, s))
            sent = base[s:e] if base is not None else p.text[s - p.start:e - p.start]
            if len(sent) < knobs.evidence_min_chars:
                continue  # headline fragments, datelines
            if is_instruction(sent):
                continue  # instructions or fake turns inside an article report nothing: never evidence
            ctx, cs, before = "", s, ""
            if base is not None and s in prev_of:
                before = base[prev_of[s][0]:prev_of[s][1]]
                if _is_headline(prev_of[s][0], before, p.title):
                    before = ""  # a headline is not the sentence a story's first line refers back to
            if before and (_PRONOUN_START.match(sent) or _PRONOUN_SPEAKER.search(sent) or _PRONOUN_OPENING.match(sent)
                           or _PARTITIVE_OPENING.match(sent) or refers_back(sent, before)):
                cs = prev_of[s][0]
                ctx = before
            if base is not None:
                lo, hi = min(p.start, cs), max(p.end, e)
                ptext = base[lo:hi]
            else:
                ptext = p.text
            cands.append({"p": p, "rank": rank, "s": s, "e": e, "sent": sent, "ctx": ctx, "cs": cs,
                          "span": base[cs:e] if base is not None else sent, "ptext": ptext,
                          "shown": f"{ctx} {sent}" if ctx else sent})
    if not cands:
        return []
    qv = np.asarray(query_vector if query_vector is not None else embedder.encode_one(question), dtype=np.float32)
    with_ctx = [i for i, c in enumerate(cands) if c["ctx"]]
    vecs = embedder.encode([c["sent"] for c in cands] + [cands[i]["shown"] for i in with_ctx])
    sims = vecs @ qv
    ctx_sim = dict(zip(with_ctx, sims[len(cands):], strict=True))
    qterms = question_terms(question)
    answer_prior = _answer_prior(question, knobs.evidence_answer_type_bonus)
    idf_overlap = pool_idf_overlap(qterms[1] | name_heads(question), [c["sent"] for c in cands])

    def combine(dense: float, lex: float, rank: int) -> float:
        # dense similarity carries paraphrase, lexical overlap carries names/numbers; a small prior
        # keeps the retriever's ordering as a tie-breaker
        return (knobs.evidence_dense_weight * dense + knobs.evidence_lexical_weight * lex
                + knobs.evidence_rank_prior / (1 + rank))

    for i, c in enumerate(cands):
        # ``order`` ranks with the question's terms weighted by how rare they are among the candidates:
        # every sentence of a story repeats its names ("Elder Dam"), so they tell candidates apart
        # less than the words of what is asked ("inquiry", "led"). ``score`` keeps the unweighted
        # overlap, the scale the decision's evidence-score signals were fitted on.
        d, lex = float(sims[i]), lexical_overlap(qterms, c["sent"], knobs)
        score = combine(d, lex, c["rank"])
        order = combine(d, idf_overlap(c["sent"]), c["rank"])
        if i in ctx_sim:
            # the context sentence helps the reader, but it must not carry a weak sentence past the
            # sentence that actually states the fact: discount it
            d2, lex2 = float(ctx_sim[i]), lexical_overlap(qterms, c["shown"], knobs)
            score = max(score, knobs.evidence_context_discount * combine(d2, lex2, c["rank"]))
            order = max(order, knobs.evidence_context_discount * combine(d2, idf_overlap(c["shown"]), c["rank"]))
        factor = 1.0
        if _is_headline(c["s"], c["sent"], c["p"].title):
            # a headline matches many questions but rarely states the answer, and small models copy
            # its names into answers: it is evidence of last resort
            factor *= knobs.evidence_headline_factor
        prior = answer_prior(c["shown"])
        c["dense"], c["lex"], c["score"], c["order"] = d, lex, score * factor + prior, order * factor + prior
    cands.sort(key=lambda c: -c["order"])
    out: list[EvidenceItem] = []
    shown: list[str] = []
    for c in cands:
        if len(out) == k:
            break
        # the same sentence in a follow-up article, or a sentence already shown as another's context,
        # would take a place in the model's few sentences without telling it anything new
        text = " ".join(c["shown"].split())
        if any(text in seen_text for seen_text in shown):
            continue
        shown.append(text)
        p = c["p"]
        out.append(EvidenceItem(
            n=0, doc_id=p.doc_id, chunk_id=p.chunk_id, sentence=c["sent"], start=c["s"], end=c["e"],
            score=c["score"], passage=p, context=c["ctx"], lexical=c["lex"], dense=c["dense"], span_start=c["cs"],
            span_text=c["span"], passage_text=c["ptext"]))
    # present in article order within each article: reads more naturally, same numbering for the model
    for i, it in enumerate(out, 1):
        it.n = i
    return out
