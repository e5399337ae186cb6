"""Give a stored eval run the answerability rules' per-kind counts (``rule_<kind>``) of another run of the
same questions, so ``train_decision ablate-rules`` can measure each rule on runs collected before the
decision recorded them.

The rules read only the question and the retrieved evidence, never the generated answer, so an
extractive run of the same questions (same data set, split, limit and seed, collected with
``RAG_ANSWERABILITY_RULES=feature RAG_DECISION_THRESHOLD=0``) has the verdict a local-model run had. That
holds per item only where both runs asked the same standalone question of the same evidence: each item's
``rules_ok``, ``rule_reasons`` and ``withheld`` features must agree (a follow-up condensed differently by
the model does not). Items that disagree are reported and, by default, left out of the output. An item no
rule objected to needs no other run: every count is 0.

    python -m rag.evaluation.join_rule_kinds LOCAL.json EXTRACTIVE.json --out LOCAL-with-kinds.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

# what must agree between the two runs' items for the counts to be the same verdict's
VERDICT = ("rules_ok", "rule_reasons", "withheld")
SAME_RUN = ("dataset", "split", "limit", "seed")


def _features(rec: dict[str, Any]) -> dict[str, float] | None:
    return (rec.get("decision") or {}).get("features")


def join(target: dict[str, Any], source: dict[str, Any], keep_mismatched: bool = False
         ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(a copy of ``target`` with ``source``'s ``rule_<kind>`` counts, a report of what did not join)."""
    differ = {k: (target.get(k), source.get(k)) for k in SAME_RUN if target.get(k) != source.get(k)}
    if differ:
        raise SystemExit(f"the runs are not of the same questions: {differ}")
    by_id = {rec["id"]: rec for rec in source["items"]}
    kinds_named = sorted({k for rec in source["items"] for k in (_features(rec) or {})
                          if k.startswith("rule_") and k != "rule_reasons"})
    items, report = [], {"items": len(target["items"]), "joined": 0, "no_features": [], "missing": [],
                         "mismatched": []}
    for rec in target["items"]:
        f, other = _features(rec), by_id.get(rec["id"])
        if f is None:
            report["no_features"].append(rec["id"])  # no candidate answer: nothing for the decision to weigh
            items.append(rec)
            continue
        if f.get("rules_ok", 1) and not f.get("rule_reasons", 0):
            # no rule objected: every count is 0, whatever the other run saw
            items.append({**rec, "decision": {**rec["decision"], "features": {**f, **dict.fromkeys(kinds_named, 0.0)}}})
            report["joined"] += 1
            continue
        g = _features(other) if other else None
        if g is None:
            report["missing"].append(rec["id"])
            continue
        diff = {k: (f.get(k), g.get(k)) for k in VERDICT if f.get(k) != g.get(k)}
        if rec.get("standalone_question") != other.get("standalone_question"):
            diff["standalone_question"] = (rec.get("standalone_question"), other.get("standalone_question"))
        if diff:
            report["mismatched"].append({"id": rec["id"], "question": rec.get("question"), "differ": diff})
            if not keep_mismatched:
                continue
        kinds = {k: g.get(k, 0.0) for k in kinds_named}
        items.append({**rec, "decision": {**rec["decision"], "features": {**f, **kinds}}})
        report["joined"] += 1
    return {**target, "items": items, "rule_kinds_from": source.get("_path", "")}, report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", type=Path, help="the run to give the counts to (e.g. a local-model dev run)")
    ap.add_argument("source", type=Path, help="a run of the same questions collected with the rules as features")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--keep-mismatched", action="store_true",
                    help="keep items whose verdict differs between the runs (with the source's counts)")
    a = ap.parse_args(argv)
    source = json.loads(a.source.read_text(encoding="utf-8"))
    source["_path"] = str(a.source)
    out, report = join(json.loads(a.target.read_text(encoding="utf-8")), source, a.keep_mismatched)
    a.out.write_text(json.dumps(out) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
