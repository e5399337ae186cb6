"""The one answer-or-refuse decision, the same for every backend and for a quoted fallback.

After generation and verification the chain holds a candidate answer (the model's verified wording, a
quoted evidence sentence, or the extractive backend's quote). Whether to give it or to say "the
articles don't say" is decided here, once, by a small logistic model over signals of the whole chain:
the answerability rules' verdict (as features, not vetoes), evidence and retrieval scores, how the
cited sentence matches the question, what verification did, who produced the text, and, for an LLM,
the log-probabilities of its answer tokens. The model is fitted on the dev splits only
(``python -m rag.evaluation.train_decision``) and ships as plain coefficients in ``decision_model.json``
(no scikit-learn at run time); its threshold lives in :class:`rag.settings.Settings`.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.knobs import DEFAULT_KNOBS
from rag.question import QuestionAnalysis, gives_kind, is_short_answer
from rag.text.lexical import content_set

log = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).with_name("decision_model.json")
ORIGINS = ("model", "recited", "quote", "extractive")
# question words with a behaviour of their own (a "why" answer is a clause, a "how many" a number ...)
WH_WORDS = ("who", "what", "when", "where", "why", "how", "which")
_MARKER = re.compile(r"\s*\[\d{1,3}\]")


@dataclass
class DecisionInput:
    """Everything the decision reads, computed earlier in the chain and passed on (nothing re-derived)."""

    question: QuestionAnalysis
    rules_ok: bool  # the answerability rules' verdict
    rule_reasons: int  # how many rules objected
    withheld: bool  # an evidence sentence says the fact was not disclosed
    origin: str  # "model" | "recited" | "quote" | "extractive"
    answer: str  # the candidate answer's text
    items: list = field(default_factory=list)  # EvidenceItem, best first
    passages: list = field(default_factory=list)  # Passage, fused rank order
    sentences: list = field(default_factory=list)  # VerifiedSentence of the candidate
    dropped: int = 0  # sentences verification dropped
    answer_logprobs: list[float] | None = None  # per token of the LLM's answer value, when reported
    rule_kinds: tuple[str, ...] = ()  # which rules objected (answerable.RULE_KINDS), one per objection
    self_check: float | None = None  # P(true) of the model's check of its own answer (Settings.llm_self_check)
    short_words: int = DEFAULT_KNOBS.short_answer_words  # Settings.short_answer_words


def features(d: DecisionInput) -> dict[str, float]:
    """Numeric features of one candidate answer (names are the model file's ``features``)."""
    from rag.answer.answerable import RULE_KINDS  # lazy: importing the chain must not load the rules

    items = d.items
    by_n = {it.n: it for it in items}
    cited = [by_n[n] for s in d.sentences for n in s.cites if n in by_n]
    text = _MARKER.sub("", d.answer)
    words = text.split()
    a_terms = content_set(text)
    q_terms = set(d.question.name_terms | d.question.other_terms)
    top = items[0] if items else None
    p0 = d.passages[0] if d.passages else None
    f: dict[str, float] = {
        "rules_ok": float(d.rules_ok),
        "rule_reasons": float(min(d.rule_reasons, 4)),
        # each rule's objections apart, so grouped CV can weigh (or --drop) one rule at a time
        **{f"rule_{k}": float(d.rule_kinds.count(k)) for k in RULE_KINDS},
        "withheld": float(d.withheld),
        "ev_score": top.score if top else 0.0,
        "ev_lexical": top.lexical if top else 0.0,
        "ev_dense": top.dense if top else 0.0,
        "ev_gap": (items[0].score - items[1].score) if len(items) > 1 else (top.score if top else 0.0),
        "ret_dense": float(p0.dense_score or 0.0) if p0 else 0.0,
        "ret_agree": float(bool(p0 and p0.dense_rank == 1 and p0.bm25_rank == 1)),
        "cited_rank": float(min((it.n for it in cited), default=len(items) + 1)),
        "cited_score": max((it.score for it in cited), default=0.0),
        "cited_lexical": max((it.lexical for it in cited), default=0.0),
        "cited_dense": max((it.dense for it in cited), default=0.0),
        "support": min((s.score for s in d.sentences), default=0.0),
        "n_sentences": float(len(d.sentences)),
        "dropped": float(min(d.dropped, 3)),
        "log_words": math.log1p(len(words)),
        "short": float(is_short_answer(text, d.short_words)),
        "asks_kind": float(bool(d.question.kind)),
        "gives_kind": float(bool(d.question.kind) and gives_kind(
            d.question.kind, text, " ".join(it.display_text for it in cited), d.question.text)),
        "repeats_question": len(a_terms & q_terms) / len(a_terms) if a_terms else 1.0,
        "question_covered": len(a_terms & q_terms) / len(q_terms) if q_terms else 0.0,
        "names_in_question": float(min(len(d.question.names), 3)),
        "premise": float(bool(d.question.premise)),
    }
    for o in ORIGINS:
        f[f"origin_{o}"] = float(d.origin == o)
    for w in WH_WORDS:
        f[f"wh_{w}"] = float(d.question.wh == w)
    lp = d.answer_logprobs or []
    f["has_self_check"] = float(d.self_check is not None)
    f["self_check"] = d.self_check if d.self_check is not None else 0.0
    f["has_logprobs"] = float(bool(lp))
    f["lp_mean"] = sum(lp) / len(lp) if lp else 0.0
    f["lp_min"] = min(lp) if lp else 0.0
    f["lp_first"] = lp[0] if lp else 0.0
    return f


@dataclass(frozen=True)
class DecisionModel:
    """A fitted logistic model: standardised features, coefficients, intercept."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    info: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def p_correct(self, feats: dict[str, float]) -> float:
        z = self.intercept
        for name, mu, sd, w in zip(self.features, self.mean, self.scale, self.coef, strict=True):
            z += w * ((feats.get(name, 0.0) - mu) / (sd or 1.0))
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept, "info": self.info}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> DecisionModel:
        return cls(tuple(obj["features"]), tuple(obj["mean"]), tuple(obj["scale"]), tuple(obj["coef"]),
                   float(obj["intercept"]), dict(obj.get("info") or {}))


@lru_cache(maxsize=4)
def load_model(path: str = str(MODEL_FILE)) -> DecisionModel | None:
    """The shipped model, or None when there is none (then the decision gives every candidate)."""
    p = Path(path)
    if not p.is_file():
        log.warning("no answer-or-refuse model at %s: every verified answer is given", p)
        return None
    return DecisionModel.from_json(json.loads(p.read_text(encoding="utf-8")))


@dataclass
class Decision:
    answer: bool
    p_correct: float | None
    threshold: float
    features: dict[str, float]

    def record(self, origin: str, candidate: str) -> dict[str, Any]:
        """What an Answer keeps of the decision (the eval trains and scores from it)."""
        return {"p_correct": self.p_correct, "threshold": self.threshold, "features": self.features,
                "origin": origin, "candidate": candidate}

    def note(self) -> str:
        if self.p_correct is None:
            return "answer-or-refuse decision: no model"
        verb = "≥" if self.answer else "<"
        return f"answer-or-refuse decision: p(correct) {self.p_correct:.2f} {verb} threshold {self.threshold:.2f}"


def threshold_for(settings, origin: str) -> float:
    """The answer-or-refuse threshold of a candidate produced by ``origin`` (Answer.origin): a quoted fallback
    meets the higher of ``decision_threshold`` and ``quote_decision_threshold``."""
    if origin == "quote":
        return max(settings.decision_threshold, settings.quote_decision_threshold)
    return settings.decision_threshold


def decide(d: DecisionInput, threshold: float, model: DecisionModel | None) -> Decision:
    """Give the candidate when the model's p(correct) reaches ``threshold`` (always, without a model)."""
    feats = features(d)
    if model is None:
        return Decision(True, None, threshold, feats)
    p = model.p_correct(feats)
    return Decision(p >= threshold, p, threshold, feats)


_ANSWER_FIELD = re.compile(r'"answer"\s*:\s*"')


def yes_probability(pairs: list[tuple[str, float]]) -> float | None:
    """P(true) of a constrained ``{"key": true|false}`` reply, from the log-probability of the token the
    model chose (the grammar leaves only the two, so P(true) = 1 - P(false)); None when absent."""
    for tok, lp in pairs:
        word = tok.strip().strip('"').lower()
        if word in ("true", "false"):
            p = math.exp(lp)
            return p if word == "true" else 1.0 - p
    return None


def answer_logprobs(pairs: list[tuple[str, float]]) -> list[float]:
    """Log-probabilities of the tokens of the JSON output's ``"answer"`` string value."""
    raw = "".join(t for t, _ in pairs)
    m = _ANSWER_FIELD.search(raw)
    if not m:
        return []
    i, end = m.end(), len(raw)
    while i < len(raw):
        if raw[i] == "\\":
            i += 2
            continue
        if raw[i] == '"':
            end = i
            break
        i += 1
    out, pos = [], 0
    for tok, lp in pairs:
        a, b = pos, pos + len(tok)
        pos = b
        if b > m.end() and a < end:
            out.append(lp)
    return out
