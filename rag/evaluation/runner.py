"""``newsrag eval``: ask a question set through the real ``Assistant``, score it, report, gate.

Flow: dataset (news | squad2, optionally a stratified/balanced sample) -> an index over its corpus
(cached under ``.cache/eval-index/<hash>`` so CI re-runs skip the embedding) -> every question
through ``Assistant.ask`` (follow-ups through a ``Chat`` that first hears the history turns) ->
per-item scores from :mod:`rag.evaluation.metrics` (one support scorer, the product's own) ->
aggregate metrics, per-category breakdown, the scorer's meta-eval -> table / JSON / report / gate.

The JSON written by ``--json OUT`` is the contract of ../shared/DESIGN.md: ``dataset, backend, n,
metrics{...12 fixed names...}, items[]``; anything else goes under ``metrics_extra``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.evaluation import metrics as M
from rag.evaluation.datasets import Dataset, EvalItem, news_dataset, project_path, squad_dataset
from rag.evaluation.metrics import split_cited
from rag.knobs import DEFAULT_KNOBS
from rag.settings import Settings
from rag.types import Answer, RagError

log = logging.getLogger(__name__)

METRIC_NAMES = (
    "hit_at_5", "mrr", "answer_accuracy", "token_f1", "faithfulness", "citation_precision",
    "citation_recall", "refusal_precision", "refusal_recall", "false_refusal_rate",
    "latency_p50_ms", "latency_p95_ms",
)
# issue #15: figures that cannot flatter (strict multi-part accuracy, wrong answers, who answered, gold
# attribution, scorers checked against read labels); added to ``metrics`` beside the contract's 12
STRICT_METRIC_NAMES = ("accuracy_strict", "partial_rate", "wrong_answer_rate", "wrong_among_answered",
                       "outcomes", "origin", "refusals", "attribution_rate", "scorer_agreement",
                       "faithfulness_scorer", "decision")
# cached eval indexes; Settings.eval_cache_dir (RAG_EVAL_CACHE_DIR) moves them (tests point it elsewhere)
CACHE_ROOT = Path(".cache/eval-index")
SUPPORT_PAIRS = project_path("eval/qa/support.jsonl")
# code whose behaviour shapes the index: a change to it must not reuse a stale cached index
_INDEX_CODE = ("rag/text", "rag/ingest", "rag/index")
_INDEX_SETTINGS = ("embed_model", "embed_precision", "chunk_tokens", "chunk_overlap_sentences",
                   "furniture_min_docs", "collection")
KEEP_CACHED = 4  # cached indexes kept (most recently used first); code changes keep minting new keys


# --------------------------------------------------------------------------------------------------
# the index
# --------------------------------------------------------------------------------------------------


def _files_under(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")))
        elif p.is_file():
            out.append(p)
    return out


def corpus_key(corpus: list[Path], settings: Settings) -> str:
    """A hash of the corpus bytes, the index-shaping settings and the ingest/index code."""
    h = hashlib.sha256()
    for f in _files_under(corpus):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    for name in _INDEX_SETTINGS:
        h.update(f"{name}={getattr(settings, name)!r}\0".encode())
    root = Path(__file__).resolve().parents[2]
    for f in _files_under([root / d for d in _INDEX_CODE]):
        if f.suffix == ".py":
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


@contextmanager
def _locked(path: Path):
    """An exclusive lock so two concurrent evals do not build the same cached index twice."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _prune_cache(cache_root: Path, keep: int) -> None:
    """Remove all but the ``keep`` most recently used complete cached indexes (a directory without
    ``complete.json`` may be another run's build in progress, so it is left alone)."""
    dirs = [d for d in cache_root.iterdir() if d.is_dir()]
    done = sorted((d for d in dirs if (d / "complete.json").exists()),
                  key=lambda d: (d / "complete.json").stat().st_mtime, reverse=True)
    for d in done[keep:]:
        shutil.rmtree(d, ignore_errors=True)
        (cache_root / f".{d.name}.lock").unlink(missing_ok=True)


def build_index(ds: Dataset, settings: Settings, index_dir: Path | None, cache_root: Path,
                say: Callable[[str], None]) -> tuple[Settings, dict[str, Any]]:
    """Settings pointing at an index holding ``ds.corpus``; builds it when needed.

    With ``index_dir`` (``--index``) the corpus is ingested there (incrementally, unchanged articles
    are skipped). Otherwise a cached index keyed by :func:`corpus_key` is reused if complete.
    """
    from contextlib import nullcontext

    from rag.api import Assistant

    info: dict[str, Any] = {}
    if index_dir is not None:
        target, marker = Path(index_dir), None
        guard = nullcontext()  # a user's index has its own writer lock
    else:
        key = corpus_key(ds.corpus, settings)
        target = cache_root / key / "index"
        marker = cache_root / key / "complete.json"
        info["cache_key"] = key
        guard = _locked(cache_root / f".{key}.lock")
    t0 = time.perf_counter()
    with guard:
        if marker is not None and marker.exists():
            info.update(json.loads(marker.read_text()), cached=True)
            marker.touch()  # most recently used: survives pruning
            say(f"index: reusing {target}")
        else:
            if marker is not None and target.exists():
                shutil.rmtree(target)  # an earlier build died half-way
            say(f"index: ingesting {', '.join(str(p) for p in ds.corpus)} into {target}")
            assistant = Assistant(settings.model_copy(update={"index_dir": target}))
            try:
                rep = assistant.ingest(ds.corpus)
            finally:
                assistant.close()
            if rep.failed:
                raise RagError(f"eval corpus failed to ingest: {rep.failed[0].path}: {rep.failed[0].reason}")
            info.update(documents=rep.documents_added + rep.documents_updated + rep.documents_unchanged,
                        chunks=rep.chunks_added, cached=False)
            if marker is not None:
                marker.write_text(json.dumps({"documents": info["documents"], "chunks": info["chunks"]}))
                _prune_cache(cache_root, keep=KEEP_CACHED)
    info["index_dir"] = str(target)
    info["seconds"] = round(time.perf_counter() - t0, 2)
    return settings.model_copy(update={"index_dir": target}), info


# --------------------------------------------------------------------------------------------------
# asking
# --------------------------------------------------------------------------------------------------


def _doc_key(meta: dict[str, Any], doc_id: str) -> str:
    """The id gold evidence uses for a passage's article: the JSONL ``id`` or the file's stem."""
    if meta.get("ext_id"):
        return str(meta["ext_id"])
    if meta.get("path"):
        return Path(str(meta["path"])).stem
    return doc_id


def ask_item(assistant, item: EvalItem, backend: str) -> tuple[Answer | None, float, str]:
    """(answer, latency of the final question in ms, error). History turns go through a ``Chat``."""
    try:
        if item.history:
            chat = assistant.chat(backend=backend)
            for turn in item.history:
                chat.ask(turn)
            t0 = time.perf_counter()
            ans = chat.ask(item.question)
        else:
            t0 = time.perf_counter()
            ans = assistant.ask(item.question, backend=backend)
        return ans, (time.perf_counter() - t0) * 1000, ""
    except Exception as exc:  # noqa: BLE001 - one failing question must not end the run; it is reported
        log.exception("question %s failed", item.id)
        return None, 0.0, f"{type(exc).__name__}: {exc}"


def _retrieved(assistant, ans: Answer, backend: str, k: int = 5) -> list[dict[str, Any]]:
    """The top-``k`` passages the answer was built from, as {doc, chunk_id, text}.

    A refusal keeps only its closest 3 passages, so for refusals the standalone question is retrieved
    again (deterministic: same question, same index, same ranking) to score hit@5 on all five.
    """
    passages = ans.passages
    if len(passages) < k and ans.standalone_question:
        passages, _ = assistant.chain(backend).retrieve(ans.standalone_question, max(k, len(passages)), None)
    return [{"doc": _doc_key(p.meta, p.doc_id), "chunk_id": p.chunk_id, "text": p.text} for p in passages[:k]]


def item_record(assistant, item: EvalItem, ans: Answer | None, latency_ms: float, error: str,
                backend: str) -> dict[str, Any]:
    """What the eval keeps of one answer: enough to score it and to debug it from the JSON alone."""
    rec: dict[str, Any] = {
        "id": item.id, "category": item.category, "question": item.question, "history": item.history,
        "answerable": item.answerable, "gold_answers": item.gold_answers, "gold_evidence": item.gold_evidence,
        "error": error, "latency_ms": round(latency_ms, 1),
    }
    if item.group:
        rec["group"] = item.group
    rec.update(required=item.required, split=item.split)
    if ans is None:
        rec.update(answer="", refused=False, citations=[], retrieved=[], raw_generation="", raw_citations=[],
                   evidence=[], notes=[], standalone_question="", origin="error", refusal_kind="")
        return rec
    doc_keys = {p.doc_id: _doc_key(p.meta, p.doc_id) for p in ans.passages}
    rec.update(
        answer=ans.text, refused=ans.refused, standalone_question=ans.standalone_question, notes=ans.notes,
        origin=ans.origin, decision=ans.decision, refusal_kind=ans.refusal.kind if ans.refusal else "",
        citations=[{"n": c.n, "doc_id": c.doc_id, "doc": doc_keys.get(c.doc_id, c.doc_id), "quote": c.quote,
                    "text": c.text, "start": c.start, "end": c.end} for c in ans.citations],
        raw_generation=ans.raw_generation, raw_citations=ans.raw_citations,
        evidence=[{k: e.get(k) for k in ("n", "doc_id", "text", "quote", "start", "end")}
                  for e in ans.evidence],
        retrieved=_retrieved(assistant, ans, backend),
        timings=ans.timings.model_dump(),
    )
    return rec


# --------------------------------------------------------------------------------------------------
# scoring one item
# --------------------------------------------------------------------------------------------------

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2013": "-",
                         "\u2014": "-"})
_MARKER = re.compile(r"\s*\[\d{1,3}\]")


def _norm_ws(text: str) -> str:
    # gold sentences are copied from the raw files; cleaning may re-space or re-quote them
    return " ".join(text.translate(_QUOTES).split())


def gold_hits(retrieved: list[dict[str, Any]], gold: list[dict[str, Any]]) -> list[bool]:
    """Per retrieved passage: does it hold gold evidence? (its article is a gold ``doc`` and, when the
    gold names a sentence, the passage contains that sentence; for SQuAD, any chunk of the paragraph)."""
    out = []
    for p in retrieved:
        text = _norm_ws(p["text"])
        out.append(any(p["doc"] == g["doc"] and (not g.get("text") or _norm_ws(g["text"]) in text)
                       for g in gold))
    return out


def _cited_sentences(text: str, default_cites: list[int], evidence_by_n: dict[int, str], question: str,
                     short_words: int = DEFAULT_KNOBS.short_answer_words):
    """``[(claim, [evidence texts])]`` for an answer whose markers (or ``default_cites``) number the
    evidence: the shape :func:`metrics.faithfulness` takes.

    A fragment answer ("seven") becomes a claim with its question (``claims.eval_claim``).
    """
    from rag.evaluation.claims import eval_claim

    out = []
    for sent, marks in split_cited(text):
        ns = [n for n in (marks or default_cites) if n in evidence_by_n]
        evs = [evidence_by_n[n] for n in dict.fromkeys(ns)]
        out.append((eval_claim(sent, question, evs, short_words), evs))
    return out


def verified_sentences(rec: dict[str, Any], short_words: int = DEFAULT_KNOBS.short_answer_words
                       ) -> list[tuple[str, list[str]]]:
    """The final answer's sentences with the evidence their citations point to.

    A citation is resolved to the evidence item the chain verified it against (same article, same
    sentence end: a citation that carries its context sentence starts earlier than the evidence
    sentence), so "before" and "after" are scored against the same texts; its quote otherwise.
    """
    ev = {(e["doc_id"], e["end"]): e["text"] for e in rec["evidence"]}
    by_n = {c["n"]: ev.get((c["doc_id"], c["end"]), c["quote"]) for c in rec["citations"]}
    return _cited_sentences(rec["answer"], [], by_n, _asked(rec), short_words)


def raw_sentences(rec: dict[str, Any], short_words: int = DEFAULT_KNOBS.short_answer_words
                  ) -> list[tuple[str, list[str]]]:
    """The generation *before* verification, with the evidence it cited (markers, else its citation list)."""
    if not rec["raw_generation"]:
        return []
    by_n = {e["n"]: e["text"] for e in rec["evidence"]}
    return _cited_sentences(rec["raw_generation"], list(rec["raw_citations"]), by_n, _asked(rec), short_words)


def _asked(rec: dict[str, Any]) -> str:
    # verification builds claims from the standalone question (a follow-up's pronouns resolved)
    return rec.get("standalone_question") or rec["question"]


def required_of(rec: dict[str, Any]) -> list[list[str]]:
    """What a complete answer must contain: the item's groups, else its gold answers as one group."""
    return rec.get("required") or ([list(rec["gold_answers"])] if rec["gold_answers"] else [])


def attributed(rec: dict[str, Any], required: list[list[str]]) -> bool:
    """Whether, for every required group, a cited sentence holding it is gold evidence: on the news set
    a gold evidence sentence of the named article, on SQuAD a sentence of the gold paragraph. Checked
    against the gold data, not by the product's own support scorer."""
    def is_gold(c: dict[str, Any]) -> bool:
        quote = _norm_ws(c["quote"])
        for g in rec["gold_evidence"]:
            if c.get("doc") != g["doc"]:
                continue
            if not g.get("text"):
                return True
            gold = _norm_ws(g["text"])
            if gold in quote or quote in gold:
                return True
        return False

    gold_cites = [c for c in rec["citations"] if is_gold(c)]
    return bool(required) and all(any(M.answer_contains_gold(c["quote"], group) for c in gold_cites)
                                  for group in required)


def score_item(rec: dict[str, Any], scorer, short_words: int = DEFAULT_KNOBS.short_answer_words) -> dict[str, Any]:
    """Per-item scores (kept in ``items[].scores``); aggregation pools them across items. ``short_words``
    (``Settings.short_answer_words``): a short answer is scored with its question, as verification read it."""
    s: dict[str, Any] = {}
    if rec["gold_evidence"]:
        hits = gold_hits(rec["retrieved"], rec["gold_evidence"])
        ids = [str(i) for i in range(len(hits))]
        gold_ids = [i for i, h in zip(ids, hits, strict=True) if h]
        s["hit_at_5"] = M.hit_at_k(ids, gold_ids, 5)
        s["rr"] = M.mrr(ids, gold_ids)
        # the share of gold evidence sentences found in the top 5 (multi-article questions need all)
        found = [any(gold_hits([p], [g])[0] for p in rec["retrieved"][:5]) for g in rec["gold_evidence"]]
        s["evidence_recall_at_5"] = sum(found) / len(found)
    if rec["answerable"]:
        text = "" if rec["refused"] else _MARKER.sub("", rec["answer"])
        s["correct"] = bool(text) and M.answer_contains_gold(text, rec["gold_answers"])
        s["token_f1"] = M.token_f1(text, rec["gold_answers"]) if text else 0.0
        required = required_of(rec)
        met = M.groups_met(text, required) if text else 0
        # strict: every part of a multi-part question; an answer holding some parts is "partial"
        s["correct_strict"] = bool(text) and bool(required) and met == len(required)
        s["partial"] = bool(text) and 0 < met < len(required)
        if s["correct_strict"]:
            s["attributed"] = attributed(rec, required)
    s["outcome"] = M.outcome(rec["answerable"], rec["refused"], s.get("correct_strict", False))
    # the candidate the answer-or-refuse decision judged (given or not): its label for training/scoring
    cand = (rec.get("decision") or {}).get("candidate")
    if cand is not None:
        required = required_of(rec)
        cand_text = _MARKER.sub("", cand)
        s["candidate_correct"] = bool(rec["answerable"] and required and cand_text
                                      and M.groups_met(cand_text, required) == len(required))
    after = [] if rec["refused"] else verified_sentences(rec, short_words)
    before = raw_sentences(rec, short_words)
    s["sentences"] = len(after)
    s["faithfulness"] = M.faithfulness(after, scorer)
    s["sentences_raw"] = len(before)
    s["faithfulness_raw"] = M.faithfulness(before, scorer)
    s["citations"] = sum(len(c) for _, c in after)
    s["citation_precision"] = M.citation_precision(after, scorer)
    s["citation_recall"] = M.citation_recall(after, scorer)
    return s


def _trim(rec: dict[str, Any]) -> None:
    """Drop the bulky texts that scoring needed and the JSON does not: passages are identified by chunk
    id, citations by article and offsets (their quote stays), evidence keeps one copy of its sentence."""
    hits = gold_hits(rec["retrieved"], rec["gold_evidence"])
    for p, hit in zip(rec["retrieved"], hits, strict=True):
        p["gold"] = hit
        del p["text"]
    for c in rec["citations"]:
        c.pop("text", None)
    for e in rec["evidence"]:
        if e.get("quote") == e.get("text"):
            del e["quote"]


# --------------------------------------------------------------------------------------------------
# aggregation
# --------------------------------------------------------------------------------------------------


def _pooled(items: list[dict[str, Any]], key: str, weight: str) -> float | None:
    """Per-item ratios pooled by their denominators (e.g. supported sentences / all sentences)."""
    num = den = 0.0
    for rec in items:
        v, w = rec["scores"].get(key), rec["scores"].get(weight) or 0
        if v is not None and w:
            num += v * w
            den += w
    return num / den if den else None


def aggregate(items: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the 12 contract metrics, extra figures) for a list of scored item records."""
    ok = [r for r in items if not r["error"]]
    ans = [r for r in items if r["answerable"]]
    # retrieval is scored where there is something to find: an impossible SQuAD question names its
    # paragraph only as the home of a distractor
    with_gold = [r for r in items if r["gold_evidence"] and r["answerable"]]
    lat = [r["latency_ms"] for r in ok]
    ref = M.refusal_scores(items)
    metrics = {
        "hit_at_5": M.mean(float(r["scores"]["hit_at_5"]) for r in with_gold),
        "mrr": M.mean(r["scores"]["rr"] for r in with_gold),
        "answer_accuracy": M.mean(float(r["scores"]["correct"]) for r in ans),
        "token_f1": M.mean(r["scores"]["token_f1"] for r in ans),
        "faithfulness": _pooled(items, "faithfulness", "sentences"),
        "citation_precision": _pooled(items, "citation_precision", "citations"),
        "citation_recall": _pooled(items, "citation_recall", "sentences"),
        "refusal_precision": ref["refusal_precision"],
        "refusal_recall": ref["refusal_recall"],
        "false_refusal_rate": ref["false_refusal_rate"],
        "latency_p50_ms": M.percentile(lat, 50),
        "latency_p95_ms": M.percentile(lat, 95),
    }
    rates = M.outcome_rates([r["scores"]["outcome"] for r in items])
    metrics.update(
        accuracy_strict=M.mean(float(r["scores"]["correct_strict"]) for r in ans),
        partial_rate=M.mean(float(r["scores"]["partial"]) for r in ans),
        wrong_answer_rate=rates["wrong_answer_rate"],
        wrong_among_answered=rates["wrong_among_answered"],
        outcomes=rates["counts"],
        origin=origin_split(items),
        refusals=refusal_split(items),
        attribution_rate=M.mean(float(r["scores"]["attributed"]) for r in items if "attributed" in r["scores"]),
    )
    faith_raw = _pooled(items, "faithfulness_raw", "sentences_raw")
    extra = {
        "faithfulness_raw": faith_raw,
        "hallucination_rate": None if metrics["faithfulness"] is None else 1 - metrics["faithfulness"],
        "hallucination_rate_raw": None if faith_raw is None else 1 - faith_raw,
        "evidence_recall_at_5": M.mean(r["scores"]["evidence_recall_at_5"] for r in with_gold),
        "refused_share": M.mean(float(r["refused"]) for r in items),
        "sentences": sum(r["scores"]["sentences"] for r in items),
        "sentences_raw": sum(r["scores"]["sentences_raw"] for r in items),
        "n_answerable": ref["n_answerable"],
        "n_unanswerable": ref["n_unanswerable"],
        "errors": len(items) - len(ok),
    }
    return metrics, extra


def origin_split(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per origin of the answer (model / recited / quote / extractive / refusal): how many, and of the
    answers it produced how many were right and wrong, so no figure credits the model with a quote."""
    out: dict[str, dict[str, Any]] = {}
    for r in items:
        o = out.setdefault(r.get("origin") or "unknown", {"n": 0, "correct": 0, "answered_wrong": 0,
                                                           "correct_refusal": 0, "false_refusal": 0})
        o["n"] += 1
        o[r["scores"]["outcome"]] += 1
    for o in out.values():
        answered = o["correct"] + o["answered_wrong"]
        o["wrong_among_answered"] = o["answered_wrong"] / answered if answered else None
    return dict(sorted(out.items()))


def refusal_split(items: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per reason a refusal gave the reader (``Answer.refusal.kind``): how many were right to refuse and how
    many refused a question the articles answer, so a false refusal is traced to the step that made it."""
    out: dict[str, dict[str, int]] = {}
    for r in items:
        if not r.get("refused"):
            continue
        o = out.setdefault(r.get("refusal_kind") or "unknown", {"n": 0, "correct_refusal": 0, "false_refusal": 0})
        o["n"] += 1
        if r["scores"]["outcome"] in o:
            o[r["scores"]["outcome"]] += 1
    return dict(sorted(out.items()))


def per_category(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    cats: dict[str, list[dict[str, Any]]] = {}
    for r in items:
        cats.setdefault(r["category"], []).append(r)
    out = {}
    for name in sorted(cats):
        m, x = aggregate(cats[name])
        m.pop("origin"), m.pop("refusals")
        out[name] = {"n": len(cats[name]), **m, **{k: x[k] for k in ("faithfulness_raw", "refused_share",
                                                                     "evidence_recall_at_5", "errors")}}
    return out


def decision_figures(items: list[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    """The answer-or-refuse decision model's own figures on this run: over the candidates it judged,
    ROC AUC of p(correct) against "the candidate is strictly correct", and its accuracy at the threshold."""
    from rag.answer.decision import threshold_for

    judged = [r for r in items if (r.get("decision") or {}).get("p_correct") is not None
              and "candidate_correct" in r["scores"]]
    out: dict[str, Any] = {"model": str(settings.decision_model_path), "threshold": settings.decision_threshold,
                           "judged": len(judged), "roc_auc": None, "accuracy_at_threshold": None}
    if not judged:
        return out
    ys = [bool(r["scores"]["candidate_correct"]) for r in judged]
    ps = [float(r["decision"]["p_correct"]) for r in judged]
    # each candidate at the threshold it was judged by (a quoted fallback may have its own: threshold_for)
    ts = [float(r["decision"].get("threshold", settings.decision_threshold)) for r in judged]
    out["quote_threshold"] = threshold_for(settings, "quote")
    out["accuracy_at_threshold"] = sum((p >= t) == y for p, t, y in zip(ps, ts, ys, strict=True)) / len(ys)
    out["candidates_correct"] = sum(ys)
    pos = [p for p, y in zip(ps, ys, strict=True) if y]
    neg = [p for p, y in zip(ps, ys, strict=True) if not y]
    if pos and neg:  # AUC = P(a correct candidate scores above a wrong one), ties counting half
        wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
        out["roc_auc"] = wins / (len(pos) * len(neg))
    return out


def labelled_agreement(scorer, settings: Settings) -> dict[str, Any]:
    """Agreement of the support scorer and the decision model with the read labels (see labelled.py)."""
    from rag.answer.decision import load_model
    from rag.evaluation import labelled

    return labelled.scorer_agreement(labelled.load(), scorer, load_model(str(settings.decision_model_path)),
                                     settings, short_words=settings.short_answer_words)


def support_meta_eval(scorer, path: Path = SUPPORT_PAIRS) -> dict[str, Any] | None:
    """The scorer's own error rates on labelled claim/passage pairs (``rag.evaluation.support_meta``)."""
    from rag.evaluation import support_meta

    if not path.exists():
        log.warning("%s not found: no support scorer meta-eval", path)
        return None
    res = support_meta.evaluate(support_meta.load_pairs(path), scorer)
    return {
        "file": str(path), "threshold": scorer.threshold, **res,
        "false_support_rate": None if res["tnr"] is None else 1 - res["tnr"],
        "false_reject_rate": None if res["tpr"] is None else 1 - res["tpr"],
    }


# --------------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------------


def _commit() -> str:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parents[2])
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def _model_name(settings: Settings) -> str:
    return {"local": settings.local_model, "openai": settings.openai_model or ""}.get(settings.backend, "")


class _LineProgress:
    """Progress as plain lines, for logs (CI, redirected output) where a live bar never redraws."""

    def __init__(self, console):
        self.console = console
        self.tasks: dict[int, dict[str, Any]] = {}
        self.t0 = time.perf_counter()

    def add_task(self, description: str, total: int, now: str = "") -> int:
        self.tasks[len(self.tasks)] = {"desc": description, "total": total, "done": 0, "now": now}
        return len(self.tasks) - 1

    def update(self, task: int, now: str = "") -> None:
        self.tasks[task]["now"] = now

    def advance(self, task: int) -> None:
        t = self.tasks[task]
        t["done"] += 1
        self.console.print(f"{t['desc']} {t['done']}/{t['total']} {t['now']} "
                           f"({time.perf_counter() - self.t0:.0f} s)", highlight=False)


@contextmanager
def _progress(console, enabled: bool):
    """A rich progress bar (on stderr, so stdout keeps only the tables), or a silent stand-in."""
    if enabled and not console.is_terminal:
        yield _LineProgress(console)
        return
    if not enabled:
        class _Quiet:
            def add_task(self, *a, **k):
                return 0

            def update(self, *a, **k):
                pass

            def advance(self, *a, **k):
                pass

        yield _Quiet()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[now]}"),
                  console=console) as p:
        yield p


def load_dataset(name: str, file: str | Path | None, limit: int | None, seed: int, work_dir: Path,
                 split: str | None = None) -> Dataset:
    if name == "news":
        return news_dataset(file, limit, seed, split=split)
    if name == "squad2":
        return squad_dataset(file, limit, seed, work_dir, split=split)
    raise RagError(f"Unknown dataset {name!r}: use news or squad2.")


def run_eval(settings: Settings, dataset: str = "news", file: str | Path | None = None,
             limit: int | None = None, seed: int = 0, index_dir: Path | None = None,
             cache_root: Path | None = None,
             judge: str | None = None, support_pairs: Path | None = SUPPORT_PAIRS, console=None,
             show_progress: bool = True, split: str | None = None) -> dict[str, Any]:
    """Run one evaluation and return the result dict (the ``--json`` contract plus extras)."""
    import tempfile

    from rich.console import Console

    from rag.api import Assistant

    console = console or Console(stderr=True)
    say = (lambda msg: console.print(f"[dim]{msg}[/dim]")) if show_progress else (lambda msg: None)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    commit = _commit()  # the code the run starts with (a commit made during a long run is not its code)
    t0 = time.perf_counter()
    backend = settings.backend
    with tempfile.TemporaryDirectory(prefix="newsrag-eval-") as tmp:
        ds = load_dataset(dataset, file, limit, seed, Path(tmp), split)
        if not ds.items:
            raise RagError("The question set is empty (check the file and --limit).")
        cache = cache_root or Path(settings.eval_cache_dir or CACHE_ROOT)
        run_settings, index_info = build_index(ds, settings, index_dir, cache, say)
    assistant = Assistant(run_settings)
    records: list[dict[str, Any]] = []
    try:
        chain = assistant.chain(backend)
        # load the embedder, the index and the LLM before the clock starts: latency is per question
        _ = assistant.index, chain.backend
        scorer = chain.scorer
        with _progress(console, show_progress) as prog:
            task = prog.add_task(f"{ds.name} · {backend}", total=len(ds.items), now="")
            for item in ds.items:
                prog.update(task, now=item.id)
                ans, latency, err = ask_item(assistant, item, backend)
                rec = item_record(assistant, item, ans, latency, err, backend)
                rec["scores"] = score_item(rec, scorer, settings.short_answer_words)
                _trim(rec)
                records.append(rec)
                prog.advance(task)
        say("scoring the support scorer itself on labelled pairs")
        meta = support_meta_eval(scorer, support_pairs) if support_pairs else None
        say("checking the scorers against the labelled answers (eval/qa/labelled-answers.jsonl)")
        agree = labelled_agreement(scorer, settings)
    finally:
        assistant.close()  # frees the answering model before a judge model loads

    metrics, extra = aggregate(records)
    metrics["decision"] = decision_figures(records, settings)
    metrics["scorer_agreement"] = agree
    sa = agree.get("support_scorer") or {}
    # faithfulness is only as good as the scorer that judged it: name it and show how it agrees with
    # answers labelled by reading them
    metrics["faithfulness_scorer"] = {"name": "support scorer (rag/support.py)", "agreement": sa.get("accuracy"),
                                      "kappa": sa.get("kappa"), "usable_for_headline": sa.get("usable_for_headline")}
    extra["per_category"] = per_category(records)
    if ds.name == "squad2":
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            groups.setdefault(r.get("group", ""), []).append(r)
        extra["per_article"] = {g: {"n": len(v), **aggregate(v)[0]} for g, v in sorted(groups.items())}
    if meta is not None:
        extra["support_meta"] = meta
    if judge:
        if backend == "local":
            # two models on a small CPU box: the answering model's server goes before the judge's starts
            from rag.answer.backends.local import stop_all

            stop_all()
        extra.update(run_judge(judge, settings, records, console, show_progress))
    return {
        "dataset": ds.name, "backend": backend, "n": len(records),
        "metrics": {k: metrics[k] for k in METRIC_NAMES + STRICT_METRIC_NAMES},
        "split": split or "all",
        "items": records,
        "metrics_extra": extra,
        "model": _model_name(settings), "limit": limit, "seed": seed, "started": started,
        "seconds": round(time.perf_counter() - t0, 1), "commit": commit, "index": index_info,
        "settings": {k: getattr(settings, k) for k in ("top_k", "evidence_k", "support_threshold",
                                                       "answerability_call", "llm_evidence_k")},
    }


def run_judge(spec: str, settings: Settings, records: list[dict[str, Any]], console,
              show_progress: bool) -> dict[str, Any]:
    from rag.evaluation.judge import Judge, make_judge_backend

    judge = Judge(make_judge_backend(spec, settings))
    try:
        with _progress(console, show_progress) as prog:
            task = prog.add_task(f"judge {judge.name}", total=len(records), now="")
            return judge.judge_items(records, split_cited, tick=lambda: prog.advance(task))
    finally:
        judge.close()


# --------------------------------------------------------------------------------------------------
# the gate
# --------------------------------------------------------------------------------------------------

# metrics where lower is better: a bare number in thresholds.toml is then a maximum
LOWER_IS_BETTER = {"false_refusal_rate", "wrong_answer_rate", "wrong_among_answered", "partial_rate", "hallucination_rate", "hallucination_rate_raw", "latency_p50_ms",
                   "latency_p95_ms", "errors", "false_support_rate", "false_reject_rate"}


def _bar(name: str, spec: Any) -> tuple[str, float]:
    """("min"|"max", value) from ``0.9`` or ``{min = 0.9}`` / ``{max = 0.15}``."""
    if isinstance(spec, dict):
        if len(spec) != 1 or next(iter(spec)) not in ("min", "max"):
            raise RagError(f"threshold {name}: write a number, {{min = x}} or {{max = x}}, not {spec!r}")
        kind, val = next(iter(spec.items()))
        return kind, float(val)
    if isinstance(spec, bool) or not isinstance(spec, (int, float)):
        raise RagError(f"threshold {name}: not a number: {spec!r}")
    return ("max" if name in LOWER_IS_BETTER else "min"), float(spec)


def _lookup(result: dict[str, Any], name: str) -> Any:
    """A metric by name, in ``metrics`` then ``metrics_extra``; a dotted name reaches inside
    (``scorer_agreement.support_scorer.accuracy``)."""
    for root in (result["metrics"], result.get("metrics_extra", {})):
        value: Any = root
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def gate(result: dict[str, Any], thresholds: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(failures, passes) of ``result`` against parsed thresholds.toml.

    The section is ``[<backend>]`` for the news set and ``[<dataset>.<backend>]`` otherwise; its
    keys name a contract metric or a ``metrics_extra`` figure. ``[support]`` bars apply to the support
    scorer's meta-eval in every run. A bar whose metric was not measured fails.
    """
    backend, dataset = result["backend"], result["dataset"]
    section = thresholds.get(backend) if dataset == "news" else thresholds.get(dataset, {}).get(backend)
    where = f"[{backend}]" if dataset == "news" else f"[{dataset}.{backend}]"
    fails: list[str] = []
    passes: list[str] = []
    if not isinstance(section, dict) or not section:
        fails.append(f"no {where} thresholds in the gate file")
        section = {}
    checks = [(where, k, v, _lookup(result, k)) for k, v in section.items()]
    meta = result.get("metrics_extra", {}).get("support_meta") or {}
    checks += [("[support]", k, v, meta.get(k)) for k, v in (thresholds.get("support") or {}).items()]
    for where_, name, spec, value in checks:
        kind, bar = _bar(name, spec)
        if not isinstance(value, (int, float)):
            fails.append(f"{where_} {name}: not measured in this run (bar {kind} {bar:g})")
            continue
        ok = value >= bar if kind == "min" else value <= bar
        shown = f"{value:.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:.3f}"
        line = f"{where_} {name} = {shown} {'≥' if kind == 'min' else '≤'} {bar:g}"
        if ok:
            passes.append(line)
        else:
            side = "below the minimum" if kind == "min" else "above the maximum"
            fails.append(f"{where_} {name} = {shown}, {side} {bar:g}")
    return fails, passes


def targets(result: dict[str, Any], thresholds: dict[str, Any]) -> list[str]:
    """Unmet product targets from ``[targets.<backend>]``: reported on every run, never gating.

    The gate holds the line at what the product measures now (so a regression fails CI); the targets
    keep the bars the product has not reached yet in plain sight instead of lowering them silently.
    """
    section = (thresholds.get("targets") or {}).get(result["backend"]) if result["dataset"] == "news" else None
    if not section:
        return []
    misses, _ = gate({**result, "dataset": "news"}, {result["backend"]: section})
    return [m.replace(f"[{result['backend']}]", f"[targets.{result['backend']}]") for m in misses]


def load_thresholds(path: str | Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise RagError(f"gate file {path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RagError(f"gate file {path}: {exc}") from exc


# --------------------------------------------------------------------------------------------------
# CLI entry
# --------------------------------------------------------------------------------------------------


def contract(result: dict[str, Any]) -> dict[str, Any]:
    """The ``--json`` object: the five contract keys first, then the extras."""
    head = {k: result[k] for k in ("dataset", "backend", "n", "metrics", "items")}
    return {**head, **{k: v for k, v in result.items() if k not in head}}


def main(args, settings: Settings) -> int:
    """``newsrag eval``: returns the exit code (1 when the gate fails)."""
    from rag.evaluation.report import make_console, print_tables, write_report

    out, err = make_console(), make_console(stderr=True)
    thresholds = load_thresholds(args.gate) if args.gate else None  # a bad gate file fails before the run
    result = run_eval(settings, dataset=args.dataset, file=args.file, limit=args.limit, seed=args.seed,
                      index_dir=Path(args.index) if getattr(args, "index", None) else None,
                      judge=args.judge, console=err, split=getattr(args, "split", None))
    print_tables(result, out)
    if args.json_out:
        path = Path(args.json_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(contract(result), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        err.print(f"wrote {path}")
    if args.report:
        for p in write_report(contract(result), args.report):
            err.print(f"wrote {p}")
    if thresholds is not None:
        from rich.markup import escape

        fails, passes = gate(result, thresholds)
        for line in passes:  # escape: "[local]" would otherwise be read as rich markup and vanish
            out.print(f"[green]pass[/green] {escape(line)}")
        for line in fails:
            out.print(f"[bold red]FAIL[/bold red] {escape(line)}")
        for line in targets(result, thresholds):
            out.print(f"[yellow]target not met yet (not gating)[/yellow] {escape(line)}")
        out.print(f"gate {args.gate}: {len(passes)} passed, {len(fails)} failed")
        return 1 if fails else 0
    return 0
