"""The labelled set of real answers (``eval/qa/labelled-answers.jsonl``) and scorer agreement with it.

Each row is an answer the product actually gave (an eval run's item: question, answer with ``[n]``
markers, the cited sentences), labelled by reading the answer against its citations:

- ``label_support``: ``supported`` (every statement is stated by the cited sentences), ``partly`` (some
  is), ``not_supported``;
- ``label_answers``: whether the answer, read with its citations, answers what was asked.

Every automatic scorer is then measured against these labels (accuracy, precision on "supported",
Cohen's kappa): the product's support scorer, the answer-or-refuse decision model, an LLM judge. A
scorer that disagrees with the labels more than 15 % of the time is not used for a headline figure.

    python -m rag.evaluation.labelled candidates RUN.json ... --out var/labelling/candidates.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path
from typing import Any

from rag.evaluation.datasets import project_path

LABELLED = project_path("eval/qa/labelled-answers.jsonl")
# the LLM judge's agreement, measured once by `python -m rag.evaluation.labelled agreement --judge MODEL`
# (minutes of a second model: not re-run by every eval, which reports this file's figures)
JUDGE_AGREEMENT = project_path("eval/qa/labelled-judge-agreement.json")
MAX_DISAGREEMENT = 0.15  # above this a scorer is not used for a headline figure
_MARKER = re.compile(r"\s*\[\d{1,3}\]")


def load(path: Path = LABELLED) -> list[dict[str, Any]]:
    if not Path(path).is_file():
        return []
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------------
# agreement
# --------------------------------------------------------------------------------------------------


def agreement(pred: list[bool], gold: list[bool]) -> dict[str, Any]:
    """Accuracy, precision/recall on the positive class and Cohen's kappa of ``pred`` against ``gold``."""
    n = len(gold)
    if not n:
        return {"n": 0, "accuracy": None, "precision": None, "recall": None, "kappa": None}
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
    fn = sum(g and not p for p, g in zip(pred, gold, strict=True))
    acc = sum(p == g for p, g in zip(pred, gold, strict=True)) / n
    pe = (sum(pred) / n) * (sum(gold) / n) + (1 - sum(pred) / n) * (1 - sum(gold) / n)
    kappa = (acc - pe) / (1 - pe) if pe < 1 else None
    return {"n": n, "accuracy": acc, "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None, "kappa": kappa,
            "usable_for_headline": acc >= 1 - MAX_DISAGREEMENT}


def cited_claims(row: dict[str, Any]) -> tuple[str, list[tuple[str, list[str]]]]:
    """(the question as the chain read it, [(answer sentence, the quotes it cites)]) of a labelled answer."""
    from rag.evaluation.metrics import split_cited

    quotes = {c["n"]: c["quote"] for c in row["citations"]}
    return (row.get("standalone_question") or row["question"],
            [(sent, [quotes[n] for n in marks if n in quotes]) for sent, marks in split_cited(row["answer"])])


def support_scorer_says(row: dict[str, Any], scorer, short_words: int | None = None) -> bool:
    """The product's support scorer on a labelled answer: every sentence supported by what it cites.
    ``short_words``: ``Settings.short_answer_words`` (default: its default)."""
    from rag.evaluation.claims import eval_claim
    from rag.knobs import DEFAULT_KNOBS

    words = DEFAULT_KNOBS.short_answer_words if short_words is None else short_words
    question, claims = cited_claims(row)
    return bool(claims) and all(ev and scorer.score(eval_claim(sent, question, ev, words), ev).supported
                                for sent, ev in claims)


def judge_says(row: dict[str, Any], judge) -> bool | None:
    """An LLM judge on a labelled answer: every sentence supported by the quotes it cites (None when a
    verdict could not be read)."""
    from rag.evaluation.judge import SUPPORTED_SCHEMA, support_messages

    question, claims = cited_claims(row)
    verdicts = [judge._ask(support_messages(question, sent, ev), SUPPORTED_SCHEMA, "supported") if ev else False
                for sent, ev in claims]
    if not verdicts or any(v is False for v in verdicts):
        return False if verdicts else None
    return None if any(v is None for v in verdicts) else True


def judge_agreement(rows: list[dict[str, Any]], judge) -> dict[str, Any]:
    said = [(judge_says(r, judge), r["label_support"] == "supported") for r in rows]
    known = [(p, g) for p, g in said if p is not None]
    out = agreement([p for p, _ in known], [g for _, g in known])
    return {**out, "judge": judge.name, "unparsed": len(said) - len(known)}


def scorer_agreement(rows: list[dict[str, Any]], scorer=None, decision_model=None, settings=None,
                     short_words: int | None = None) -> dict[str, Any]:
    """Agreement of each available scorer with the read labels.

    - ``support_scorer``: predicts ``label_support == "supported"``;
    - ``decision_model``: p(correct) >= the threshold of the row's origin under ``settings``
      (``decision.threshold_for``) predicts "supported and answers the question" (test-split rows only).
    """
    out: dict[str, Any] = {"labelled_rows": len(rows)}
    if not rows:
        return out
    if scorer is not None:
        gold = [r["label_support"] == "supported" for r in rows]
        out["support_scorer"] = agreement([support_scorer_says(r, scorer, short_words) for r in rows], gold)
    if decision_model is not None and settings is not None:
        from rag.answer.decision import threshold_for

        # only answers to test-split questions: the model was fitted on the dev ones
        have = [r for r in rows if r.get("decision_features") and r.get("split") == "test"]
        gold = [r["label_support"] == "supported" and bool(r["label_answers"]) for r in have]
        pred = [decision_model.p_correct(r["decision_features"]) >= threshold_for(settings, r.get("origin", ""))
                for r in have]
        out["decision_model"] = agreement(pred, gold)
    if Path(JUDGE_AGREEMENT).is_file():
        out["llm_judge"] = json.loads(Path(JUDGE_AGREEMENT).read_text(encoding="utf-8"))
    return out


# --------------------------------------------------------------------------------------------------
# building the set to label
# --------------------------------------------------------------------------------------------------


def candidate_rows(run_paths: list[Path], per_run: int, seed: int = 0) -> list[dict[str, Any]]:
    """Answered (not refused) items of eval runs, half right and half wrong where the run allows."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for path in run_paths:
        run = json.loads(Path(path).read_text(encoding="utf-8"))
        answered = [r for r in run["items"] if not r["refused"] and r["answer"] and r["citations"]]
        right = [r for r in answered if r["scores"].get("correct_strict")]
        wrong = [r for r in answered if not r["scores"].get("correct_strict")]
        rng.shuffle(right)
        rng.shuffle(wrong)
        half = per_run // 2
        take = wrong[:half] + right[:per_run - min(half, len(wrong))]
        take += wrong[half:per_run - len(take)] if len(take) < per_run else []
        for r in take:
            rows.append({
                "dataset": run["dataset"], "backend": run["backend"], "model": run.get("model") or "",
                "item": r["id"], "split": r.get("split", ""), "question": r["question"],
                "standalone_question": r.get("standalone_question") or r["question"],
                "answer": r["answer"], "origin": r.get("origin", ""),
                "citations": [{"n": c["n"], "doc": c.get("doc", c["doc_id"]), "quote": c["quote"]}
                              for c in r["citations"]],
                "decision_features": (r.get("decision") or {}).get("features"),
            })
    rng.shuffle(rows)
    for i, row in enumerate(rows, 1):
        row["id"] = f"la{i:03d}"
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="labelled answers: build candidates, or report agreement")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("candidates")
    c.add_argument("runs", nargs="+", type=Path)
    c.add_argument("--per-run", type=int, default=60)
    c.add_argument("--out", type=Path, required=True)
    a = sub.add_parser("agreement")
    a.add_argument("--file", type=Path, default=LABELLED)
    a.add_argument("--judge", default=None, help="also measure an LLM judge (a local model name or a URL) "
                   f"and write its figures to {JUDGE_AGREEMENT}")
    args = ap.parse_args(argv)
    if args.cmd == "candidates":
        rows = candidate_rows(args.runs, args.per_run)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} rows to {args.out}")
        return 0
    from rag.answer.decision import load_model
    from rag.index.embeddings import get_embedder
    from rag.knobs import Knobs
    from rag.settings import Settings
    from rag.support import SupportScorer

    s = Settings()
    scorer = SupportScorer(embed=get_embedder(s.embed_model, device=s.embed_device).encode,
                           threshold=s.support_threshold, knobs=Knobs.from_settings(s))
    rows = load(args.file)
    if args.judge:
        import time

        from rag.evaluation.judge import Judge, make_judge_backend

        judge = Judge(make_judge_backend(args.judge, s))
        try:
            res = {**judge_agreement(rows, judge), "measured": time.strftime("%Y-%m-%d"), "rows": len(rows)}
        finally:
            judge.close()
        Path(JUDGE_AGREEMENT).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {JUDGE_AGREEMENT}")
    res = scorer_agreement(rows, scorer, load_model(str(s.decision_model_path)), s, short_words=s.short_answer_words)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
