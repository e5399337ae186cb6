"""Strict scoring, the four outcomes, who answered, gold attribution, splits, scorer agreement (#15),
and the answer-or-refuse decision's pieces (#14). Pure logic: no model, no index."""

from __future__ import annotations

import json
import math

import pytest

from rag.evaluation import metrics as M
from rag.evaluation.runner import aggregate, attributed, score_item


class _NoScorer:
    """Support scoring is not what these tests look at: every sentence counts as supported."""

    threshold = 0.5

    def score_many(self, claims, evidences):
        from rag.support import SupportResult

        return [SupportResult(score=1.0, supported=True, reasons=[]) for _ in claims]

    def score(self, claim, evidence):
        return self.score_many([claim], [evidence])[0]


def _rec(answer, *, answerable=True, refused=False, required=None, gold=None, citations=None, origin="model",
         evidence=None):
    gold = gold if gold is not None else ([a for g in required for a in g] if required else [])
    return {"id": "x", "category": "c", "question": "q?", "answerable": answerable, "refused": refused,
            "answer": answer, "gold_answers": gold, "required": required or ([gold] if gold else []),
            "gold_evidence": evidence or [], "citations": citations or [], "evidence": [], "retrieved": [],
            "raw_generation": "", "raw_citations": [], "standalone_question": "q?", "origin": origin,
            "error": "", "latency_ms": 1.0}


def test_groups_and_outcomes():
    req = [["9 percent", "nine per cent"], ["6.5 percent"]]
    assert M.groups_met("They wanted 9 percent and got 6.5 percent.", req) == 2
    assert M.groups_met("They wanted 9 percent.", req) == 1
    assert M.outcome(True, False, True) == "correct"
    assert M.outcome(True, False, False) == "answered_wrong"
    assert M.outcome(False, False, False) == "answered_wrong"  # any answer to an unanswerable question
    assert M.outcome(False, True, False) == "correct_refusal"
    assert M.outcome(True, True, False) == "false_refusal"
    r = M.outcome_rates(["correct", "answered_wrong", "answered_wrong", "correct_refusal"])
    assert r["wrong_answer_rate"] == 0.5 and math.isclose(r["wrong_among_answered"], 2 / 3)


def test_a_partial_answer_is_not_correct_strictly():
    rec = _rec("The union demanded 9 percent [1].", required=[["9 percent"], ["6.5 percent"]])
    s = score_item(rec, _NoScorer())
    assert s["correct"] is True  # the old, lenient figure credits one part
    assert s["correct_strict"] is False and s["partial"] is True and s["outcome"] == "answered_wrong"
    full = score_item(_rec("9 percent, then 6.5 percent [1].", required=[["9 percent"], ["6.5 percent"]]),
                      _NoScorer())
    assert full["correct_strict"] and not full["partial"] and full["outcome"] == "correct"


def test_aggregate_reports_strict_wrong_and_origin():
    recs = [
        _rec("9 percent and 6.5 percent", required=[["9 percent"], ["6.5 percent"]], origin="model"),
        _rec("9 percent", required=[["9 percent"], ["6.5 percent"]], origin="quote"),
        _rec("Paris", answerable=False, origin="model"),
        _rec("The articles don't say.", answerable=False, refused=True, origin="refusal"),
    ]
    for r in recs:
        r["scores"] = score_item(r, _NoScorer())
    m, _ = aggregate(recs)
    assert m["answer_accuracy"] == 1.0 and m["accuracy_strict"] == 0.5 and m["partial_rate"] == 0.5
    assert m["wrong_answer_rate"] == 0.5 and math.isclose(m["wrong_among_answered"], 2 / 3)
    assert m["outcomes"] == {"correct": 1, "answered_wrong": 2, "correct_refusal": 1, "false_refusal": 0}
    assert m["origin"]["model"]["correct"] == 1 and m["origin"]["model"]["answered_wrong"] == 1
    assert m["origin"]["quote"]["answered_wrong"] == 1 and m["origin"]["refusal"]["correct_refusal"] == 1


def test_refusals_are_counted_by_the_reason_they_gave():
    recs = [
        _rec("The articles don't say.", answerable=False, refused=True, origin="refusal"),
        _rec("The articles don't say.", required=[["9 percent"]], refused=True, origin="refusal"),
        _rec("The articles don't say.", required=[["9 percent"]], refused=True, origin="refusal"),
        _rec("9 percent", required=[["9 percent"]]),
    ]
    for r, kind in zip(recs, ["not_mentioned", "not_mentioned", "unlikely", ""], strict=True):
        r["refusal_kind"] = kind
        r["scores"] = score_item(r, _NoScorer())
    m, _ = aggregate(recs)
    assert m["refusals"] == {"not_mentioned": {"n": 2, "correct_refusal": 1, "false_refusal": 1},
                             "unlikely": {"n": 1, "correct_refusal": 0, "false_refusal": 1}}


def test_attribution_needs_the_gold_sentence_cited():
    gold = [{"doc": "a1", "text": "The company has offered 4 percent."}]
    right = [{"n": 1, "doc": "a1", "quote": "The company has offered 4 percent."}]
    other = [{"n": 1, "doc": "a2", "quote": "Rivals offered 4 percent."}]
    rec = _rec("4 percent [1]", required=[["4 percent"]], evidence=gold, citations=right)
    assert attributed(rec, rec["required"])
    rec["citations"] = other  # the same words from another article: right answer, wrong source
    assert not attributed(rec, rec["required"])
    squad = _rec("1854 [1]", required=[["1854"]], evidence=[{"doc": "p7", "text": None}],
                 citations=[{"n": 1, "doc": "p7", "quote": "It was founded in 1854."}])
    assert attributed(squad, squad["required"])


def test_split_assignment_by_article():
    from rag.evaluation.splits import by_hash, split_of

    splits = {"news": {"dev": frozenset({"a"}), "test": frozenset({"b", "c"})}}
    assert split_of("news", "q1", ["b", "c"], splits) == "test"
    assert split_of("news", "q1", ["a"], splits) == "dev"
    assert split_of("news", "q9", [], splits) == by_hash("q9") in ("dev", "test")
    assert split_of("news", "q1", ["zz"], splits) == ""  # a question file of the user's own
    with pytest.raises(ValueError, match="both"):
        split_of("news", "q1", ["a", "b"], splits)


def test_news_and_squad_splits_load():
    from rag.evaluation.datasets import load_news, load_squad

    news = load_news()
    assert {it.split for it in news} == {"dev", "test"}
    assert sum(it.split == "test" for it in news) >= 60
    _, squad = load_squad()
    test = [it for it in squad if it.split == "test"]
    assert len(test) >= 200 and {it.group for it in test}.isdisjoint({it.group for it in squad if it.split == "dev"})


def test_agreement_and_kappa():
    from rag.evaluation.labelled import agreement

    a = agreement([True, True, False, False], [True, False, False, False])
    assert a["accuracy"] == 0.75 and a["precision"] == 0.5 and a["recall"] == 1.0
    assert math.isclose(a["kappa"], 0.5)
    assert agreement([True] * 4, [True] * 4)["kappa"] is None  # no chance-corrected figure without variety


def test_answer_logprobs_cover_only_the_answer_value():
    from rag.answer.decision import answer_logprobs

    pairs = [('{"', -0.1), ("answer", -0.2), ('":"', -0.3), ("3", -1.0), (":40", -0.5), ('",', -0.05),
             ('"citations":[1]}', -0.01)]
    assert answer_logprobs(pairs) == [-1.0, -0.5]  # not the JSON around the value, nor its closing quote
    assert answer_logprobs([("no json", -1.0)]) == []


def test_decision_model_threshold_and_round_trip(tmp_path):
    from rag.answer.decision import DecisionModel, load_model

    m = DecisionModel(features=("a", "b"), mean=(0.0, 1.0), scale=(1.0, 2.0), coef=(2.0, -1.0), intercept=0.5)
    p = m.p_correct({"a": 1.0, "b": 3.0})
    assert math.isclose(p, 1 / (1 + math.exp(-(0.5 + 2.0 - 1.0))))
    path = tmp_path / "m.json"
    path.write_text(json.dumps(m.to_json()))
    assert load_model(str(path)).p_correct({"a": 1.0, "b": 3.0}) == p
    assert load_model(str(tmp_path / "missing.json")) is None  # no model: every verified answer is given


def test_decide_refuses_below_the_threshold():
    from rag.answer.decision import DecisionInput, DecisionModel, decide
    from rag.question import analyse

    d = DecisionInput(question=analyse("How many rounds landed?"), rules_ok=True, rule_reasons=0,
                      withheld=False, origin="extractive", answer="They landed in the compound [1].")
    model = DecisionModel(features=("rules_ok",), mean=(0.0,), scale=(1.0,), coef=(0.0,), intercept=0.0)
    assert decide(d, 0.4, model).answer and not decide(d, 0.6, model).answer  # p = 0.5
    assert decide(d, 0.99, None).answer  # without a model the candidate is given
    f = decide(d, 0.5, None).features
    assert f["origin_extractive"] == 1.0 and f["wh_how"] == 1.0 and f["asks_kind"] == 1.0 and f["gives_kind"] == 0


def test_decision_figures_auc_and_accuracy():
    from rag.evaluation.runner import decision_figures
    from rag.settings import Settings

    def item(p, ok):
        return {"decision": {"p_correct": p}, "scores": {"candidate_correct": ok}}

    items = [item(0.9, True), item(0.7, False), item(0.6, True), item(0.2, False), {"scores": {}}]
    f = decision_figures(items, Settings(decision_threshold=0.5))
    assert f["judged"] == 4 and f["candidates_correct"] == 2
    assert f["roc_auc"] == 0.75  # 3 of the 4 (correct, wrong) pairs ordered right
    assert f["accuracy_at_threshold"] == 0.75


def _run(tmp_path, name, split, n=60, seed=0):
    """A synthetic collected run: one informative feature, articles as groups."""
    import random

    rng = random.Random(seed)
    items = []
    for i in range(n):
        ok = rng.random() < 0.5
        answerable = ok or rng.random() < 0.4
        items.append({"id": f"{name}{i}", "split": split, "answerable": answerable, "refused": False,
                      "group": f"art{i % 6}", "gold_evidence": [],
                      "decision": {"features": {"signal": (1.0 if ok else 0.0) + rng.gauss(0, 0.6), "noise": rng.random()}},
                      "scores": {"candidate_correct": ok}})
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"dataset": "squad2", "backend": "extractive", "items": items}))
    return path


def test_train_decision_fits_on_dev_and_refuses_test_items(tmp_path):
    from rag.answer.decision import load_model
    from rag.evaluation.train_decision import main

    out = tmp_path / "model.json"
    assert main([str(_run(tmp_path, "d", "dev")), "--out", str(out), "--folds", "3"]) == 0
    info = json.loads(out.read_text())["info"]
    assert info["cv_auc"] > 0.7 and 0 <= info["threshold"] <= 1 and info["answerability_rules"] in ("veto", "feature")
    model = load_model(str(out))
    assert model.p_correct({"signal": 1.5, "noise": 0.5}) > model.p_correct({"signal": -0.5, "noise": 0.5})
    with pytest.raises(SystemExit, match="dev items only"):
        main([str(_run(tmp_path, "t", "test")), "--out", str(out)])


def test_judge_agreement_reads_every_sentence():
    from rag.evaluation.labelled import judge_agreement

    class Judge:
        name = "fake:judge"

        def _ask(self, messages, schema, key):
            return "seven" in messages[-1]["content"].split("Answer sentence:")[1].lower()

    rows = [{"question": "How many?", "answer": "Seven landed [1].", "citations": [{"n": 1, "quote": "Seven landed."}],
             "label_support": "supported"},
            {"question": "How many?", "answer": "Seven landed [1]. Nine died [1].",
             "citations": [{"n": 1, "quote": "Seven landed."}], "label_support": "partly"},
            {"question": "How many?", "answer": "No citation here.", "citations": [], "label_support": "not_supported"}]
    out = judge_agreement(rows, Judge())
    assert out["n"] == 3 and out["accuracy"] == 1.0 and out["judge"] == "fake:judge"


def test_yes_probability_of_a_constrained_true_false_reply():
    from rag.answer.decision import yes_probability

    assert math.isclose(yes_probability([('{"', -0.03), ("supported", -0.001), ('":', -0.005), (" true", -0.4)]),
                        math.exp(-0.4))
    # the grammar leaves two values: P(true) = 1 - P(false)
    assert math.isclose(yes_probability([('{"supported": ', -0.1), (" false", -0.6)]), 1 - math.exp(-0.6))
    assert yes_probability([("no", -0.1)]) is None and yes_probability([]) is None


def test_train_decision_reads_every_runs_features_and_drops_the_named(tmp_path):
    """A feature only later runs report is in the model (0 where absent); --drop leaves one out."""
    from rag.evaluation.train_decision import main

    old = _run(tmp_path, "a", "dev", seed=1)
    new = _run(tmp_path, "b", "dev", seed=2)
    run = json.loads(new.read_text())
    for it in run["items"]:
        it["decision"]["features"]["late"] = 1.0
    new.write_text(json.dumps(run))
    out = tmp_path / "m.json"
    assert main([str(old), str(new), "--out", str(out), "--folds", "3"]) == 0
    assert set(json.loads(out.read_text())["features"]) == {"signal", "noise", "late"}
    assert main([str(old), str(new), "--out", str(out), "--folds", "3", "--drop", "late,noise"]) == 0
    assert json.loads(out.read_text())["features"] == ["signal"]


def test_ablate_rules_measures_each_rules_veto(tmp_path):
    """A rule whose objections fall on wrong candidates earns its veto (net change < 0 without it); a rule
    that never objects changes nothing."""
    from rag.evaluation.train_decision import ablate_rules

    path = _run(tmp_path, "r", "dev", n=90, seed=3)
    run = json.loads(path.read_text())
    for it in run["items"]:
        # the name rule objects to every wrong candidate of an unanswerable question
        wrong = not it["scores"]["candidate_correct"] and not it["answerable"]
        it["decision"]["features"].update({"rule_name": 1.0 if wrong else 0.0, "rules_ok": 0.0 if wrong else 1.0})
    path.write_text(json.dumps(run))
    out = ablate_rules([path], (0.0,), folds=3)
    row = out["thresholds"]["0.0"]
    assert out["fired"]["name"] > 0 and out["fired"]["slot"] == 0
    assert row["without_name_veto"]["net_change"] < 0
    assert row["without_slot_veto"]["net_change"] == 0
    assert row["without_all_veto"]["net_change"] == row["without_name_veto"]["net_change"]
