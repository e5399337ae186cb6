"""Evidence selection: from retrieved passages to the few sentences that best answer the question.

The model then reads ~6 numbered sentences (~300 tokens) instead of whole chunks (~1,100 tokens):
faster on a CPU, and less room for a small model to drift. Each sentence keeps its article id and
character offsets, so a citation resolves to the exact sentence. A sentence that opens with a
pronoun ("He said…") carries the previous sentence along as context, so the speaker is visible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.ingest.sentences import split_sentences
from rag.textutil import content_set
from rag.types import Passage

_PRONOUN_START = re.compile(r"^[\"'\u201c]?(he|she|they|it|his|her|their|this|that|these|those|the group|"
                            r"the statement|the attack|the official|the minister)\b", re.I)


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
    title: str = ""
    source: str = ""
    url: str = ""
    published: str = ""
    lexical: float = 0.0
    dense: float = 0.0

    @property
    def display_text(self) -> str:
        return f"{self.context} {self.sentence}".strip() if self.context else self.sentence


def lexical_overlap(question_terms: set[str], sentence: str) -> float:
    if not question_terms:
        return 0.0
    return len(question_terms & content_set(sentence)) / len(question_terms)


def select_evidence(question: str, passages: list[Passage], embedder, articles, k: int = 6,
                    query_vector: np.ndarray | None = None) -> list[EvidenceItem]:
    """Score every sentence of the retrieved passages; keep the best ``k`` (renumbered 1..k)."""
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
            if len(sent) < 12:
                continue  # headline fragments, datelines
            ctx = ""
            if base is not None and _PRONOUN_START.match(sent) and s in prev_of:
                ps, pe = prev_of[s]
                ctx = base[ps:pe]
            cands.append({"p": p, "rank": rank, "s": s, "e": e, "sent": sent, "ctx": ctx})
    if not cands:
        return []
    qv = query_vector if query_vector is not None else embedder.encode_one(question)
    vecs = embedder.encode([c["sent"] if not c["ctx"] else f"{c['ctx']} {c['sent']}" for c in cands])
    dense = vecs @ np.asarray(qv, dtype=np.float32)
    qterms = content_set(question)
    for c, d in zip(cands, dense, strict=True):
        lex = lexical_overlap(qterms, c["ctx"] + " " + c["sent"])
        c["dense"], c["lex"] = float(d), lex
        # dense similarity carries paraphrase, lexical overlap carries names/numbers; a small prior
        # keeps the retriever's ordering as a tie-breaker
        c["score"] = 0.55 * float(d) + 0.45 * lex + 0.02 / (1 + c["rank"])
    cands.sort(key=lambda c: -c["score"])
    out: list[EvidenceItem] = []
    for c in cands[:k]:
        p = c["p"]
        out.append(EvidenceItem(
            n=0, doc_id=p.doc_id, chunk_id=p.chunk_id, sentence=c["sent"], start=c["s"], end=c["e"],
            score=c["score"], passage=p, context=c["ctx"], title=p.title, source=p.source, url=p.url,
            published=p.published, lexical=c["lex"], dense=c["dense"]))
    # present in article order within each article: reads more naturally, same numbering for the model
    for i, it in enumerate(out, 1):
        it.n = i
    return out
