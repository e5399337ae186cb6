"""The per-kind rule counts of one run join another run of the same questions only where the verdicts agree."""

import pytest

from rag.evaluation.join_rule_kinds import join


def _run(items, **kw):
    return {"dataset": "news", "split": "dev", "limit": None, "seed": 0, "items": items, **kw}


def _item(id_, q, ok, reasons, kinds=None, withheld=0.0):
    f = {"rules_ok": ok, "rule_reasons": reasons, "withheld": withheld, **(kinds or {})}
    return {"id": id_, "standalone_question": q, "decision": {"features": f}}


def test_join_copies_kinds_and_leaves_out_disagreeing_items():
    target = _run([_item("a", "Q1", 0.0, 1.0), _item("b", "Q2", 0.0, 1.0), _item("c", "Q3", 0.0, 1.0),
                   {"id": "d", "decision": None}, _item("e", "Q5", 1.0, 0.0), _item("f", "Q6", 0.0, 1.0)])
    source = _run([_item("a", "Q1", 0.0, 1.0, {"rule_polarity": 1.0, "rule_name": 0.0}),
                   _item("b", "Q2 condensed otherwise", 0.0, 1.0, {"rule_polarity": 1.0}),
                   _item("c", "Q3", 0.0, 1.0, {"rule_polarity": 1.0}, withheld=1.0),
                   _item("e", "Q5 condensed otherwise", 0.0, 1.0, {"rule_name": 1.0})])
    out, report = join(target, source)
    got = {it["id"]: (it["decision"] or {}).get("features") for it in out["items"]}
    assert list(got) == ["a", "d", "e"]  # "d" has no candidate: kept as it is; "f" is not in the source
    assert got["a"]["rule_polarity"] == 1.0 and got["a"]["rule_name"] == 0.0
    assert got["a"]["rule_reasons"] == 1.0  # the target's own
    assert got["e"]["rule_polarity"] == got["e"]["rule_name"] == 0.0  # no objection: nothing to join
    assert [m["id"] for m in report["mismatched"]] == ["b", "c"] and report["missing"] == ["f"]
    kept, _ = join(target, source, keep_mismatched=True)
    assert [it["id"] for it in kept["items"]] == ["a", "b", "c", "d", "e"]


def test_join_refuses_runs_of_other_questions():
    with pytest.raises(SystemExit):
        join(_run([]), _run([], seed=1))
