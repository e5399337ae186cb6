"""Meta-evaluation of the support scorer: how often does it agree with labelled pairs?

Pairs are ``{"claim", "passage", "supported", "kind"}`` records (``eval/qa/support.jsonl``, or pairs
derived from SQuAD 2.0 by :func:`squad_pairs`). The headline number is balanced accuracy (mean of
the true-positive and true-negative rates), because the supported/unsupported classes are rarely
balanced and a scorer that says "yes" to everything must not look good.

Run ``python -m rag.evaluation.support_meta [FILE ...]`` (``.jsonl`` pair files or SQuAD ``.json``
files; default ``eval/qa/support.jsonl``). ``--no-embed`` scores lexically only,
``--limit N`` samples N SQuAD pairs, ``--threshold T`` overrides the threshold.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rag.support import SupportScorer

log = logging.getLogger(__name__)

DEFAULT_PAIRS = Path("eval/qa/support.jsonl")


def _rates(tp: int, fp: int, tn: int, fn: int) -> dict[str, float | None]:
    tpr = tp / (tp + fn) if tp + fn else None
    tnr = tn / (tn + fp) if tn + fp else None
    prec = tp / (tp + fp) if tp + fp else None
    if tpr is not None and tnr is not None:
        bacc: float | None = (tpr + tnr) / 2
    else:
        bacc = tpr if tpr is not None else tnr
    return {"balanced_accuracy": bacc, "precision": prec, "recall": tpr, "tpr": tpr, "tnr": tnr}


def evaluate(pairs: Iterable[dict[str, Any]], scorer: SupportScorer, details: bool = False) -> dict[str, Any]:
    """Agreement of ``scorer`` with labelled pairs.

    Returns ``{"n", "balanced_accuracy", "precision", "recall", "tpr", "tnr", "per_kind"}``;
    ``per_kind[kind]`` holds ``n``, ``label`` (the kind's majority gold label) and ``accuracy``.
    "supported" is the positive class. With ``details``, ``"items"`` lists each pair's verdict.
    """
    pairs = list(pairs)
    results = scorer.score_many([p["claim"] for p in pairs], [p["passage"] for p in pairs])
    tp = fp = tn = fn = 0
    kinds: dict[str, list[tuple[bool, bool]]] = {}
    items = []
    for p, r in zip(pairs, results, strict=True):
        gold = bool(p["supported"])
        pred = r.supported
        if gold and pred:
            tp += 1
        elif gold:
            fn += 1
        elif pred:
            fp += 1
        else:
            tn += 1
        kinds.setdefault(str(p.get("kind", "unknown")), []).append((gold, pred))
        if details:
            items.append({**p, "pred": pred, "score": r.score, "reasons": r.reasons})
    out: dict[str, Any] = {"n": len(pairs), **_rates(tp, fp, tn, fn)}
    per_kind = {}
    for k, v in sorted(kinds.items()):
        n_pos = sum(1 for g, _ in v if g)
        per_kind[k] = {
            "n": len(v),
            "label": "supported" if n_pos * 2 >= len(v) else "unsupported",
            "accuracy": sum(1 for g, p in v if g == p) / len(v),
        }
    out["per_kind"] = per_kind
    if details:
        out["items"] = items
    return out


def load_pairs(path: str | Path) -> list[dict[str, Any]]:
    """Pairs from a JSONL file (one object per line, blank lines ignored)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def squad_pairs(squad_json_path: str | Path, limit: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Claim/passage pairs from an official SQuAD 2.0 JSON file.

    Answerable question → claim ``question + " " + first gold answer``, supported; impossible question
    with ``plausible_answers`` → ``question + " " + plausible answer``, unsupported (SQuAD's
    adversarial negatives: the passage holds the distractor but does not answer the question).
    ``limit`` draws a seeded random sample (stratified by label, so it stays balanced).
    """
    with open(squad_json_path, encoding="utf-8") as fh:
        data = json.load(fh)
    pos: list[dict[str, Any]] = []
    neg: list[dict[str, Any]] = []
    for art in data["data"]:
        for para in art["paragraphs"]:
            ctx = para["context"]
            for qa in para["qas"]:
                q = qa["question"].strip()
                if qa.get("is_impossible"):
                    pl = qa.get("plausible_answers") or []
                    if pl:
                        neg.append(
                            {
                                "claim": f"{q} {pl[0]['text']}",
                                "passage": ctx,
                                "supported": False,
                                "kind": "squad_impossible",
                                "id": qa.get("id", ""),
                            }
                        )
                elif qa.get("answers"):
                    pos.append(
                        {
                            "claim": f"{q} {qa['answers'][0]['text']}",
                            "passage": ctx,
                            "supported": True,
                            "kind": "squad_answerable",
                            "id": qa.get("id", ""),
                        }
                    )
    if limit is not None and limit < len(pos) + len(neg):
        rng = random.Random(seed)
        n_pos = min(len(pos), (limit + 1) // 2)
        n_neg = min(len(neg), limit - n_pos)
        pos = rng.sample(pos, n_pos)
        neg = rng.sample(neg, n_neg)
    out = pos + neg
    random.Random(seed).shuffle(out)
    return out


def format_table(name: str, res: dict[str, Any]) -> str:
    """A plain-text table of one evaluation."""

    def f(x: float | None) -> str:
        return "  n/a" if x is None else f"{x:.3f}"

    lines = [
        f"== {name}: n={res['n']}",
        f"balanced_accuracy {f(res['balanced_accuracy'])}  precision {f(res['precision'])}  "
        f"recall/tpr {f(res['tpr'])}  tnr {f(res['tnr'])}",
        f"{'kind':<22}{'label':<13}{'n':>5}{'accuracy':>10}",
    ]
    for k, v in res["per_kind"].items():
        lines.append(f"{k:<22}{v['label']:<13}{v['n']:>5}{v['accuracy']:>10.3f}")
    return "\n".join(lines)


def _load_any(path: Path, limit: int | None, seed: int) -> list[dict[str, Any]]:
    if path.suffix == ".json":
        return squad_pairs(path, limit=limit, seed=seed)
    pairs = load_pairs(path)
    if limit is not None and limit < len(pairs):
        pairs = random.Random(seed).sample(pairs, limit)
    return pairs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m rag.evaluation.support_meta", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("files", nargs="*", type=Path, help="support.jsonl files or SQuAD .json files")
    ap.add_argument("--no-embed", action="store_true", help="lexical scoring only")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--errors", type=int, default=0, help="print up to N misclassified pairs")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    files = args.files or [DEFAULT_PAIRS]
    embed = None
    if not args.no_embed:
        from rag.index.embeddings import get_embedder

        embed = get_embedder().encode
    from rag.knobs import Knobs
    from rag.settings import Settings

    settings = Settings()
    threshold = settings.support_threshold if args.threshold is None else args.threshold
    scorer = SupportScorer(embed=embed, threshold=threshold, knobs=Knobs.from_settings(settings))
    status = 0
    for path in files:
        if not path.exists():
            print(f"{path}: not found", file=sys.stderr)
            status = 1
            continue
        pairs = _load_any(path, args.limit, args.seed)
        res = evaluate(pairs, scorer, details=bool(args.errors))
        print(format_table(str(path), res))
        if args.errors:
            wrong = [it for it in res["items"] if it["pred"] != bool(it["supported"])]
            for it in wrong[: args.errors]:
                print(
                    f"- [{it.get('kind')}] gold={it['supported']} score={it['score']:.3f} {it['reasons']}\n"
                    f"  claim: {it['claim']}\n  passage: {it['passage'][:300]}"
                )
        print()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
