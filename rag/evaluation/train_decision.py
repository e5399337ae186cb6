"""Fit the answer-or-refuse decision (``rag/answer/decision.py``) on eval runs of the dev splits.

Input: ``newsrag eval --json`` files run with the decision collecting rather than deciding
(``RAG_DECISION_THRESHOLD=0``, and ``RAG_ANSWERABILITY_RULES=feature`` so the rules' verdict is a feature
and every question reaches a candidate answer). Each item with a candidate gives one example: its
features, and whether the candidate is strictly correct (every required part, answerable question).

Method: standardised logistic regression; the regularisation and the question of whether the rules
keep their veto are chosen by grouped cross-validation over *articles* (no article's questions are in
both a training and a validation fold); the threshold is the lowest at which the out-of-fold dev
answers are at most ``--target-wrong`` wrong (the most answers for the stated risk) within a false-refusal
budget. Each run (data set x backend) weighs the same, in the fit and in the figures (macro averages). Test
items are refused as training data.

    python -m rag.evaluation.train_decision var/decision/*.json --out rag/answer/decision_model.json
    python -m rag.evaluation.train_decision ablate-rules var/decision/*.json --thresholds 0.13
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.decision import DecisionModel

C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)


def group_of(rec: dict[str, Any], dataset: str) -> str:
    """The article a question is about (its CV group): the SQuAD title, or the first gold/about article."""
    if rec.get("group"):
        return f"{dataset}:{rec['group']}"
    docs = [e["doc"] for e in rec.get("gold_evidence") or []]
    return f"{dataset}:{docs[0]}" if docs else f"{dataset}:{rec['id']}"


def load_examples(paths: list[Path]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(examples with a candidate, all items) of dev runs; raises on a test item."""
    examples, items = [], []
    for path in paths:
        run = json.loads(Path(path).read_text(encoding="utf-8"))
        for rec in run["items"]:
            if rec.get("split") not in ("dev",):
                raise SystemExit(f"{path}: item {rec['id']} is in split {rec.get('split')!r}: "
                                 "the decision is fitted on dev items only")
            row = {"run": str(path), "backend": run["backend"], "dataset": run["dataset"], "id": rec["id"],
                   "answerable": rec["answerable"], "group": group_of(rec, run["dataset"]),
                   "refused": rec["refused"], "decision": rec.get("decision")}
            items.append(row)
            d = rec.get("decision")
            if d and d.get("features") is not None and "candidate_correct" in rec["scores"]:
                examples.append({**row, "features": d["features"], "y": int(rec["scores"]["candidate_correct"])})
    return examples, items


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None


def outcomes_at(items: list[dict[str, Any]], p: dict[int, float], y: dict[int, int], t: float,
                veto: bool) -> dict[str, float | None]:
    """Chain figures on ``items`` when candidates with p >= t are given (``p``/``y`` by item index)."""
    correct = wrong = ok_refusal = false_refusal = 0
    for i, it in enumerate(items):
        d = it["decision"]
        given = i in p and p[i] >= t
        if veto and d and (not d["features"].get("rules_ok", 1) or d["features"].get("withheld", 0)):
            given = False
        if given:
            if y[i]:
                correct += 1
            else:
                wrong += 1
        elif it["answerable"]:
            false_refusal += 1
        else:
            ok_refusal += 1
    n_ans = sum(1 for it in items if it["answerable"])
    n_un = len(items) - n_ans
    answered = correct + wrong
    return {"accuracy_strict": correct / n_ans if n_ans else None,
            "refusal_recall": ok_refusal / n_un if n_un else None,
            "false_refusal_rate": false_refusal / n_ans if n_ans else None,
            "wrong_among_answered": wrong / answered if answered else None, "answered": answered,
            "correct": correct, "wrong": wrong}


def macro_outcomes(items, p, y, t: float, veto: bool) -> dict[str, Any]:
    """:func:`outcomes_at` per run (a data set and backend), averaged: each run counts the same, however
    many questions it has (700 SQuAD questions must not outvote 58 news ones)."""
    runs: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        runs.setdefault(it.get("run", ""), []).append(i)
    figs = []
    for idx in runs.values():
        sub = [items[i] for i in idx]
        figs.append(outcomes_at(sub, {j: p[i] for j, i in enumerate(idx) if i in p},
                                {j: y[i] for j, i in enumerate(idx) if i in y}, t, veto))
    out: dict[str, Any] = {}
    for k in ("accuracy_strict", "refusal_recall", "false_refusal_rate", "wrong_among_answered"):
        vals = [f[k] for f in figs if f[k] is not None]
        out[k] = sum(vals) / len(vals) if vals else None
    for k in ("answered", "correct", "wrong"):
        out[k] = sum(f[k] for f in figs)
    out["net_per_question"] = sum((f["correct"] - f["wrong"]) / max(1, len(idx))
                                  for f, idx in zip(figs, runs.values(), strict=True)) / len(figs)
    return out


def choose_threshold(items, p, y, target: float, veto: bool,
                     max_false_refusals: float) -> tuple[float, dict[str, Any]]:
    """The lowest threshold whose answers are at most ``target`` wrong (most answers at that risk), when
    that costs no more than ``max_false_refusals``; otherwise the highest threshold within that budget
    (as many wrong answers refused as the false-refusal budget allows)."""
    grid = [float(t) for t in np.round(np.arange(0.0, 1.0, 0.01), 2)]
    figs = {t: macro_outcomes(items, p, y, t, veto) for t in grid}
    within = [t for t in grid if (figs[t]["false_refusal_rate"] or 0) <= max_false_refusals]
    for t in within:
        w = figs[t]["wrong_among_answered"]
        if w is not None and w <= target:
            return t, {**figs[t], "rule": f"wrong among answered <= {target}"}
    t = max(within) if within else 0.0
    return t, {**figs[t], "rule": f"the wrong-answer target {target} is out of reach on dev: the highest "
                                  f"threshold with false refusals <= {max_false_refusals}"}


def fit(examples: list[dict[str, Any]], names: list[str], c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.array([[e["features"].get(n, 0.0) for n in names] for e in examples], dtype=float)
    y = np.array([e["y"] for e in examples])
    scaler = StandardScaler().fit(x)
    # each run (data set x backend) weighs the same in the fit
    sizes: dict[str, int] = {}
    for e in examples:
        sizes[e["run"]] = sizes.get(e["run"], 0) + 1
    w = np.array([len(examples) / (len(sizes) * sizes[e["run"]]) for e in examples])
    clf = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x), y, sample_weight=w)
    return scaler, clf


def feature_names(examples: list[dict[str, Any]], drop: str = "") -> list[str]:
    """Every feature any run reported (a run collected before a feature existed lacks it: 0 there), less
    the comma-separated ``drop``."""
    return sorted(set().union(*(e["features"] for e in examples)) - {f for f in drop.split(",") if f})


def by_item(examples: list[dict[str, Any]], items: list[dict[str, Any]],
            p: np.ndarray) -> tuple[dict[int, float], dict[int, int]]:
    """Per-example p(correct) and labels keyed by item index (items without a candidate are absent)."""
    idx = {(e["run"], e["id"]): k for k, e in enumerate(examples)}
    keyed = [(it["run"], it["id"]) for it in items]
    return ({i: float(p[idx[k]]) for i, k in enumerate(keyed) if k in idx},
            {i: int(examples[idx[k]]["y"]) for i, k in enumerate(keyed) if k in idx})


def oof(examples: list[dict[str, Any]], names: list[str], c: float, folds: int) -> np.ndarray:
    """Out-of-fold p(correct), folds grouped by article."""
    from sklearn.model_selection import GroupKFold

    y = np.array([e["y"] for e in examples])
    groups = [e["group"] for e in examples]
    out = np.zeros(len(examples))
    for tr, va in GroupKFold(n_splits=folds).split(np.zeros(len(y)), y, groups):
        scaler, clf = fit([examples[i] for i in tr], names, c)
        xv = np.array([[examples[i]["features"].get(n, 0.0) for n in names] for i in va], dtype=float)
        out[va] = clf.predict_proba(scaler.transform(xv))[:, 1]
    return out


def apply(model_path: Path, runs: list[Path], threshold: float, veto: bool) -> dict[str, Any]:
    """The chain's figures on runs collected with the decision off, as if ``model_path`` had decided:
    a what-if used to choose defaults; the figures the README reports come from real runs."""
    from rag.answer.decision import load_model

    model = load_model(str(model_path))
    out = {}
    for path in runs:
        run = json.loads(Path(path).read_text(encoding="utf-8"))
        items, p, y = [], {}, {}
        for rec in run["items"]:
            d = rec.get("decision")
            items.append({"answerable": rec["answerable"], "decision": d})
            if d and d.get("features") is not None and "candidate_correct" in rec["scores"]:
                p[len(items) - 1] = model.p_correct(d["features"])
                y[len(items) - 1] = int(rec["scores"]["candidate_correct"])
        ys = np.array([y[i] for i in sorted(p)])
        ps = np.array([p[i] for i in sorted(p)])
        lat = sorted(rec["latency_ms"] for rec in run["items"])
        out[str(path)] = {"n": len(items), "auc": _auc(ys, ps), "p50_ms": lat[len(lat) // 2] if lat else None,
                          **outcomes_at(items, p, y, threshold, veto)}
    return out


def ablate_rules(paths: list[Path], thresholds: tuple[float, ...], folds: int = 5, c: float = 0.03,
                 drop: str = "") -> dict[str, Any]:
    """Each answerability rule's veto, measured on its own (issue #14: a rule stays where it helps beyond
    the learned decision). Runs collected with the rules as features (their ``rule_<kind>`` counts) give
    out-of-fold p(correct); per threshold, the chain's macro figures when every rule vetoes, and, for each
    rule kind, when that kind only feeds the decision. ``net_change`` < 0: the veto earns its place there."""
    from rag.answer.answerable import RULE_KINDS

    examples, items = load_examples(paths)
    p_oof = oof(examples, feature_names(examples, drop), c, min(folds, len({e["group"] for e in examples})))
    p_by, y_by = by_item(examples, items, p_oof)

    def vetoing(exempt: set[str]) -> list[dict[str, Any]]:
        out = []
        for it in items:
            f = (it["decision"] or {}).get("features")
            if f is None:
                out.append(it)
                continue
            vetoed = bool(f.get("withheld")) or any(f.get(f"rule_{k}", 0) > 0 for k in RULE_KINDS if k not in exempt)
            out.append({**it, "decision": {**it["decision"], "features": {**f, "rules_ok": 0.0 if vetoed else 1.0,
                                                                          "withheld": 0.0}}})
        return out

    fired = {k: sum(1 for it in items if ((it["decision"] or {}).get("features") or {}).get(f"rule_{k}", 0) > 0)
             for k in RULE_KINDS}
    report: dict[str, Any] = {"runs": [str(p) for p in paths], "examples": len(examples),
                              "cv_auc": _auc(np.array([e["y"] for e in examples]), p_oof), "fired": fired,
                              "thresholds": {}}
    for t in thresholds:
        base = macro_outcomes(vetoing(set()), p_by, y_by, t, True)
        row: dict[str, Any] = {"all_rules_veto": base}
        for k in (*RULE_KINDS, "all"):
            o = macro_outcomes(vetoing(set(RULE_KINDS) if k == "all" else {k}), p_by, y_by, t, True)
            row[f"without_{k}_veto"] = {**o, "net_change": o["net_per_question"] - base["net_per_question"]}
        report["thresholds"][str(t)] = row
    return report


def main(argv: list[str] | None = None) -> int:
    import sys

    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "ablate-rules":
        ap = argparse.ArgumentParser(description="each answerability rule's veto, measured on its own")
        ap.add_argument("cmd")
        ap.add_argument("runs", nargs="+", type=Path, help="dev runs collected with RAG_ANSWERABILITY_RULES=feature")
        ap.add_argument("--thresholds", default="0.13", help="comma-separated decision thresholds")
        ap.add_argument("--drop", default="", help="comma-separated features left out of the fit")
        a = ap.parse_args(argv)
        print(json.dumps(ablate_rules(a.runs, tuple(float(t) for t in a.thresholds.split(",")),
                                      drop=a.drop), indent=1))
        return 0
    if argv and argv[0] == "apply":
        ap = argparse.ArgumentParser(description="what-if: a decision model applied to collected runs")
        ap.add_argument("cmd")
        ap.add_argument("runs", nargs="+", type=Path)
        ap.add_argument("--model", type=Path, required=True)
        ap.add_argument("--threshold", type=float, required=True)
        ap.add_argument("--veto", action="store_true", help="the answerability rules keep their veto")
        a = ap.parse_args(argv)
        print(json.dumps(apply(a.model, a.runs, a.threshold, a.veto), indent=1))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="eval --json files of dev-split runs")
    ap.add_argument("--out", type=Path, default=Path("rag/answer/decision_model.json"))
    ap.add_argument("--target-wrong", type=float, default=0.20, help="max share of wrong answers among given")
    ap.add_argument("--max-false-refusals", type=float, default=0.12,
                    help="false-refusal budget on dev (share of answerable questions refused)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--drop", default="", help="comma-separated features left out (an ablation)")
    args = ap.parse_args(argv)

    examples, items = load_examples(args.runs)
    if len(examples) < 20:
        raise SystemExit(f"only {len(examples)} examples with a candidate answer: run more dev questions")
    names = feature_names(examples, args.drop)
    y = np.array([e["y"] for e in examples])
    folds = min(args.folds, len({e["group"] for e in examples}))

    report: dict[str, Any] = {"examples": len(examples), "positives": int(y.sum()), "items": len(items),
                              "groups": len({e["group"] for e in examples}), "folds": folds, "cv": {}}
    best = None
    for c in C_GRID:
        p_oof = oof(examples, names, c, folds)
        auc = _auc(y, p_oof)
        report["cv"][str(c)] = {"auc": auc}
        if auc is not None and (best is None or auc > best[1]):
            best = (c, auc, p_oof)
    assert best is not None, "every example has the same label"
    c, auc, p_oof = best
    p_by, y_by = by_item(examples, items, p_oof)
    choices = {}
    for veto in (False, True):
        t, fig = choose_threshold(items, p_by, y_by, args.target_wrong, veto, args.max_false_refusals)
        choices["veto" if veto else "feature"] = {"threshold": t, **fig}
    # the rules keep their veto only if, at the same risk, it gives more correct answers out of fold
    # (a wrong answer costs as much as a right one gains; ties go to the learned decision alone)
    rules = max(choices, key=lambda k: (choices[k]["net_per_question"], k == "feature"))
    per_backend = {}
    for backend in sorted({it["backend"] for it in items}):
        for dataset in sorted({it["dataset"] for it in items}):
            sub = [i for i, it in enumerate(items) if it["backend"] == backend and it["dataset"] == dataset]
            if sub:
                per_backend[f"{dataset}/{backend}"] = outcomes_at(
                    [items[i] for i in sub], {j: p_by[i] for j, i in enumerate(sub) if i in p_by},
                    {j: y_by[i] for j, i in enumerate(sub) if i in y_by}, choices[rules]["threshold"],
                    rules == "veto")
    scaler, clf = fit(examples, names, c)
    model = DecisionModel(
        features=tuple(names), mean=tuple(float(v) for v in scaler.mean_),
        scale=tuple(float(v) for v in scaler.scale_), coef=tuple(float(v) for v in clf.coef_[0]),
        intercept=float(clf.intercept_[0]),
        info={"trained": time.strftime("%Y-%m-%d %H:%M"), "runs": [str(p) for p in args.runs],
              "C": c, "cv_auc": auc, "target_wrong_among_answered": args.target_wrong,
              "threshold": choices[rules]["threshold"], "answerability_rules": rules,
              "dev_out_of_fold": choices, "dev_out_of_fold_per_run": per_backend, **report})
    args.out.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
    print(json.dumps(model.info, indent=1))
    print(f"wrote {args.out}: set decision_threshold = {choices[rules]['threshold']} and "
          f"answerability_rules = {rules!r} in rag/settings.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
