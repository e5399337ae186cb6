"""The eval runner: gate, sampling, SQuAD loading, scoring helpers, and a tiny real end-to-end run.

The end-to-end test goes through ``newsrag eval`` (real embedder, real Chroma, extractive backend)
on four questions, so the ``--json`` contract, the report files and the gate's exit code are checked
against what the Makefile's ``eval-gate`` target really runs.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT

from rag.evaluation.datasets import (
    EvalItem,
    balanced_sample,
    load_news,
    load_squad,
    paragraph_id,
    stratified_sample,
    write_jsonl,
)
from rag.evaluation.runner import (
    METRIC_NAMES,
    STRICT_METRIC_NAMES,
    gate,
    gold_hits,
    load_thresholds,
    split_cited,
)
from rag.types import RagError

CONTRACT_KEYS = ["dataset", "backend", "n", "metrics", "items"]


# --------------------------------------------------------------------------------------------------
# the gate
# --------------------------------------------------------------------------------------------------


def _result(backend: str = "extractive", dataset: str = "news", **metrics) -> dict:
    base = {name: 0.5 for name in METRIC_NAMES}
    base.update(metrics)
    return {"dataset": dataset, "backend": backend, "n": 10, "metrics": base, "items": [],
            "metrics_extra": {"faithfulness_raw": 0.8, "support_meta": {"balanced_accuracy": 0.9}}}


def _toml(tmp_path: Path, text: str) -> dict:
    p = tmp_path / "thresholds.toml"
    p.write_text(text)
    return load_thresholds(p)


def test_gate_fails_under_threshold_and_passes_over(tmp_path):
    th = _toml(tmp_path, "[extractive]\nhit_at_5 = 0.9\nanswer_accuracy = 0.4\n"
                         "[support]\nbalanced_accuracy = 0.85\n")
    fails, passes = gate(_result(hit_at_5=0.85, answer_accuracy=0.45), th)
    assert len(fails) == 1 and "hit_at_5 = 0.850" in fails[0] and "0.9" in fails[0]
    assert len(passes) == 2
    fails, passes = gate(_result(hit_at_5=0.95, answer_accuracy=0.45), th)
    assert fails == [] and len(passes) == 3


def test_gate_direction_for_rates_and_explicit_bounds(tmp_path):
    # a bare number on a lower-is-better metric is a maximum; {min=...}/{max=...} say it explicitly
    th = _toml(tmp_path, "[local]\nfalse_refusal_rate = 0.15\nlatency_p95_ms = { max = 1000 }\n"
                         "faithfulness_raw = { min = 0.9 }\n")
    fails, _ = gate(_result("local", false_refusal_rate=0.2, latency_p95_ms=900.0), th)
    assert [f.split(" = ")[0] for f in fails] == ["[local] false_refusal_rate", "[local] faithfulness_raw"]
    fails, passes = gate(_result("local", false_refusal_rate=0.1, latency_p95_ms=900.0), _toml(
        tmp_path, "[local]\nfalse_refusal_rate = 0.15\nlatency_p95_ms = { max = 1000 }\n"))
    assert fails == [] and len(passes) == 2


def test_gate_fails_on_unmeasured_metric_missing_section_and_scorer(tmp_path):
    th = _toml(tmp_path, "[extractive]\nrefusal_precision = 0.5\n[support]\nbalanced_accuracy = 0.95\n")
    fails, _ = gate(_result(refusal_precision=None), th)
    assert any("refusal_precision: not measured" in f for f in fails)
    assert any(f.startswith("[support] balanced_accuracy = 0.900") for f in fails)
    fails, _ = gate(_result("openai"), th)
    assert any("no [openai] thresholds" in f for f in fails)
    # other datasets use [<dataset>.<backend>]
    squad = _toml(tmp_path, "[squad2.extractive]\nhit_at_5 = 0.6\n")
    fails, passes = gate(_result(dataset="squad2", hit_at_5=0.7), squad)
    assert fails == [] and passes == ["[squad2.extractive] hit_at_5 = 0.700 ≥ 0.6"]


def test_gate_rejects_malformed_bar(tmp_path):
    with pytest.raises(RagError):
        gate(_result(), _toml(tmp_path, "[extractive]\nhit_at_5 = { least = 0.5 }\n"))
    (tmp_path / "bad.toml").write_text("[extractive\n")
    with pytest.raises(RagError, match="bad.toml"):
        load_thresholds(tmp_path / "bad.toml")


def test_project_thresholds_hold_the_issue_bars():
    th = load_thresholds(ROOT / "eval" / "thresholds.toml")
    # the gate itself holds the issue's bars for the default local model (never below them)
    local = th["local"]
    assert "local" not in th.get("targets", {})  # no bar left unmet
    assert local["faithfulness"] >= 0.95 and local["citation_precision"] >= 0.9
    assert local["refusal_recall"] >= 0.8 and local["answer_accuracy"] >= 0.7
    fr = local["false_refusal_rate"]
    assert (fr["max"] if isinstance(fr, dict) else fr) <= 0.15
    assert th["support"]["balanced_accuracy"] >= 0.85
    assert th["extractive"]  # its own measured bars


# --------------------------------------------------------------------------------------------------
# sampling and loading
# --------------------------------------------------------------------------------------------------


def test_stratified_sample_is_deterministic_and_spread():
    items = load_news(ROOT / "eval" / "qa" / "news.jsonl")
    cats = Counter(it.category for it in items)
    a = stratified_sample(items, 36, seed=1)
    b = stratified_sample(list(items), 36, seed=1)
    assert [it.id for it in a] == [it.id for it in b]
    assert len(a) == 36 and len({it.id for it in a}) == 36
    got = Counter(it.category for it in a)
    assert set(got) == set(cats)  # every category represented
    for c, n in cats.items():  # proportional: within one of the exact share
        assert abs(got[c] - 36 * n / len(items)) < 1.0 + 1e-9, (c, got[c])
    order = {it.id: i for i, it in enumerate(items)}
    assert [order[it.id] for it in a] == sorted(order[it.id] for it in a)  # original order kept
    assert [it.id for it in stratified_sample(items, 36, seed=2)] != [it.id for it in a]
    assert stratified_sample(items, None, 0) == items and stratified_sample(items, 500, 0) == items


def test_stratified_sample_small_limit_and_tiny_groups():
    items = [EvalItem(id=f"a{i}", question="q", answerable=True, category="big") for i in range(20)]
    items += [EvalItem(id="b0", question="q", answerable=False, category="tiny")]
    s = stratified_sample(items, 3, seed=0)
    assert len(s) == 3 and "b0" in {it.id for it in s}  # a category of one still gets its question
    assert len(stratified_sample(items, 1, seed=0)) == 1


def _squad_fixture(path: Path) -> Path:
    data = {"version": "v2.0", "data": [{"title": "Tiny_Town", "paragraphs": [
        {"context": "Tiny Town was founded in 1820 by Ada Brook. It has a population of 4,000.",
         "qas": [
             {"id": "q1", "question": "Who founded Tiny Town?", "is_impossible": False,
              "answers": [{"text": "Ada Brook", "answer_start": 30},
                          {"text": "Ada Brook", "answer_start": 30},
                          {"text": "by Ada Brook", "answer_start": 27}]},
             {"id": "q2", "question": "Who founded Big Town?", "is_impossible": True, "answers": [],
              "plausible_answers": [{"text": "Ada Brook", "answer_start": 30}]}]},
        {"context": "The Tiny Town river is called the Murl. It floods every spring.",
         "qas": [
             {"id": "q3", "question": "What is the Tiny Town river called?", "is_impossible": False,
              "answers": [{"text": "the Murl", "answer_start": 31}]},
             {"id": "q4", "question": "When did the Murl last freeze?", "is_impossible": True, "answers": [],
              "plausible_answers": [{"text": "every spring", "answer_start": 48}]}]},
    ]}]}
    path.write_text(json.dumps(data))
    return path


def test_squad_loader_on_tiny_fixture(tmp_path):
    records, items = load_squad(_squad_fixture(tmp_path / "squad.json"))
    assert [r["id"] for r in records] == [paragraph_id("Tiny Town", 0), paragraph_id("Tiny Town", 1)]
    assert all(r["title"] == "Tiny Town" for r in records)  # underscores of the wiki title become spaces
    assert records[1]["text"].startswith("The Tiny Town river")
    by_id = {it.id: it for it in items}
    assert by_id["q1"].answerable and by_id["q1"].gold_answers == ["Ada Brook", "by Ada Brook"]
    assert by_id["q1"].gold_evidence == [{"doc": records[0]["id"], "text": None}]
    assert not by_id["q2"].answerable and by_id["q2"].gold_answers == []
    assert by_id["q2"].category == "impossible"
    assert by_id["q4"].gold_evidence == [{"doc": records[1]["id"], "text": None}]
    # the records are valid input for the JSONL loader: an "id" becomes the passage's ext_id
    from rag.ingest.loaders import load_file

    recs, fails = load_file(write_jsonl(records, tmp_path / "c.jsonl"), 10**6)
    assert not fails and [r.extra.get("ext_id") for r in recs] == [r["id"] for r in records]


def test_squad_loader_rejects_other_json(tmp_path):
    (tmp_path / "x.json").write_text('{"items": []}')
    with pytest.raises(ValueError, match="not a SQuAD"):
        load_squad(tmp_path / "x.json")


def test_balanced_sample():
    _, items = load_squad(ROOT / "eval" / "external" / "squad2" / "dev-8-articles.json")
    s = balanced_sample(items, 40, seed=3)
    assert len(s) == 40 and sum(it.answerable for it in s) == 20
    assert [it.id for it in s] == [it.id for it in balanced_sample(items, 40, seed=3)]
    assert [it.id for it in s] != [it.id for it in balanced_sample(items, 40, seed=4)]
    odd = balanced_sample(items, 7, seed=0)
    assert sum(it.answerable for it in odd) == 4 and len(odd) == 7


# --------------------------------------------------------------------------------------------------
# scoring helpers
# --------------------------------------------------------------------------------------------------


def test_split_cited_keeps_markers_after_the_full_stop_with_their_sentence():
    text = 'The dam is run by the Authority. [1] It fell in 2032 [2]. "He said so." [1][3]'
    assert split_cited(text) == [("The dam is run by the Authority.", [1]), ("It fell in 2032.", [2]),
                                 ('"He said so."', [1, 3])]


def test_scored_sentences_before_and_after_verification():
    from rag.answer.verify import as_claim
    from rag.evaluation.runner import raw_sentences, verified_sentences

    vha, rain = "It was built in 1974. It is run by VHA.", "Rain fell for a week in March."

    rec = {
        "question": "Who is it run by?", "standalone_question": "Who runs the Korrin Dam?",
        "evidence": [{"n": 1, "doc_id": "a", "start": 40, "end": 90, "text": vha},
                     {"n": 2, "doc_id": "b", "start": 0, "end": 30, "text": rain}],
        # the citation carries its context sentence, so it starts before the evidence sentence
        "citations": [{"n": 1, "doc_id": "a", "start": 18, "end": 90, "quote": "(unused)"}],
        "answer": "VHA. [1]",
        "raw_generation": "VHA runs it [2]. It rained for a week.", "raw_citations": [1],
    }
    q = "Who runs the Korrin Dam?"
    # a fragment becomes a claim with the standalone question, exactly as verification builds it, and is
    # scored against the evidence text the chain verified it against
    assert as_claim("VHA.", q) != "VHA."
    assert verified_sentences(rec) == [(as_claim("VHA.", q), [vha])]
    # before verification: inline markers first, the generation's citation list for unmarked sentences
    assert raw_sentences(rec) == [(as_claim("VHA runs it.", q), [rain]),
                                  (as_claim("It rained for a week.", q), [vha])]


def test_gold_hits_needs_doc_and_sentence():
    gold = [{"doc": "fic-001", "text": "It said \u201cyes\u201d  to the plan."}]
    retrieved = [{"doc": "fic-002", "text": 'It said "yes" to the plan.'},  # right sentence, wrong article
                 # re-spaced, straight quotes
                 {"doc": "fic-001", "text": "Other text. It said \"yes\"\nto the plan. More."},
                 {"doc": "fic-001", "text": "Nothing relevant."}]
    assert gold_hits(retrieved, gold) == [False, True, False]
    assert gold_hits(retrieved, [{"doc": "fic-001", "text": None}]) == [False, True, True]  # SQuAD: any chunk


def test_corpus_key_tracks_corpus_bytes_and_index_settings(tmp_path):
    from rag.evaluation.runner import corpus_key
    from rag.settings import Settings

    (tmp_path / "a.txt").write_text("One article.")
    s = Settings(index_dir=tmp_path / "ix")
    k = corpus_key([tmp_path], s)
    assert k == corpus_key([tmp_path], s.model_copy(update={"top_k": 9}))  # retrieval knobs: same index
    assert k != corpus_key([tmp_path], s.model_copy(update={"chunk_tokens": 120}))
    assert k != corpus_key([tmp_path], s.model_copy(update={"embed_precision": "int8"}))  # other vectors
    (tmp_path / "a.txt").write_text("One article, edited.")
    assert k != corpus_key([tmp_path], s)


# --------------------------------------------------------------------------------------------------
# a tiny real run
# --------------------------------------------------------------------------------------------------

TINY_QA = [
    {"id": "t1", "question": "Which company operates the Korrin Dam?", "answerable": True,
     "gold_answers": ["Vessa Hydro Authority"], "gold_evidence": [{"doc": "fic-001", "text": (
         "The collapse happened at about 3:40 a.m., according to the Vessa Hydro Authority, the state "
         "company that operates the dam.")}], "category": "factual", "history": []},
    {"id": "t2", "question": "How many mortar rounds landed in the U.S. Embassy compound?",
     "answerable": True, "gold_answers": ["three", "3"], "gold_evidence": [], "category": "number_date",
     "history": []},
    {"id": "t3", "question": "What is the capital of Australia?", "answerable": False, "gold_answers": [],
     "gold_evidence": [], "category": "out_of_corpus", "history": []},
    {"id": "t4", "question": "When did it collapse?", "answerable": True, "gold_answers": ["3:40"],
     "gold_evidence": [], "category": "follow_up", "history": ["Which company operates the Korrin Dam?"]},
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """``newsrag eval FILE --backend extractive --json --report --gate`` on four questions."""
    from rag.cli import main

    tmp = tmp_path_factory.mktemp("evalrun")
    qa = write_jsonl(TINY_QA, tmp / "tiny.jsonl")
    gate_file = tmp / "gate.toml"
    # one bar nobody can meet: the gate must fail and say which
    gate_file.write_text("[extractive]\nhit_at_5 = 0.5\nanswer_accuracy = { min = 1.01 }\n")
    out, rep = tmp / "out.json", tmp / "report"
    mp = pytest.MonkeyPatch()
    mp.setenv("RAG_EVAL_CACHE_DIR", str(tmp / "cache"))
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = main(["eval", str(qa), "--backend", "extractive", "--json", str(out), "--report", str(rep),
                         "--gate", str(gate_file)])
    finally:
        mp.undo()
    (tmp / "stdout.txt").write_text(printed.getvalue())
    return code, json.loads(out.read_text()), rep, tmp


def test_tiny_eval_writes_the_contract(tiny_run):
    code, res, _, _ = tiny_run
    assert list(res)[:5] == CONTRACT_KEYS
    assert res["dataset"] == "news" and res["backend"] == "extractive" and res["n"] == 4
    # the DESIGN.md contract's 12, in order, then the figures that cannot flatter (#15)
    assert list(res["metrics"]) == list(METRIC_NAMES) + list(STRICT_METRIC_NAMES)
    m = res["metrics"]
    assert m["outcomes"] and sum(m["outcomes"].values()) == 4 and 0 <= m["wrong_answer_rate"] <= 1
    assert set(m["origin"]) <= {"extractive", "refusal"} and m["faithfulness_scorer"]["name"]
    for name in METRIC_NAMES:
        assert m[name] is None or isinstance(m[name], (int, float)), name
    assert 0 <= m["answer_accuracy"] <= 1 and m["latency_p50_ms"] > 0
    assert m["hit_at_5"] == 1.0  # t1's gold sentence is in fic-001's first chunk
    assert m["refusal_precision"] is None or 0 <= m["refusal_precision"] <= 1
    assert [it["id"] for it in res["items"]] == ["t1", "t2", "t3", "t4"]
    t1 = res["items"][0]
    assert t1["scores"]["correct"] is True and not t1["refused"]
    assert any(p["gold"] for p in t1["retrieved"])
    extra = res["metrics_extra"]
    assert set(extra["per_category"]) == {"factual", "number_date", "out_of_corpus", "follow_up"}
    assert extra["support_meta"]["n"] > 200 and 0 < extra["support_meta"]["balanced_accuracy"] <= 1
    assert extra["faithfulness_raw"] is not None and extra["errors"] == 0


def test_tiny_eval_follow_up_went_through_the_history(tiny_run):
    _, res, _, _ = tiny_run
    t4 = res["items"][3]
    # the standalone question carries the earlier turn, so retrieval sees "Korrin Dam"
    assert "Korrin" in t4["standalone_question"]


def test_tiny_eval_gate_and_report(tiny_run):
    code, res, rep, tmp = tiny_run
    assert code == 1  # answer_accuracy >= 1.01 cannot hold
    printed = (tmp / "stdout.txt").read_text()
    # the failing metric is printed with its value and its bar; the table was printed too
    acc = res["metrics"]["answer_accuracy"]
    shown = f"{acc:.0f}" if float(acc).is_integer() else f"{acc:.3f}"
    assert f"FAIL [extractive] answer_accuracy = {shown}, below the minimum 1.01" in printed
    assert "pass [extractive] hit_at_5 = 1 ≥ 0.5" in printed
    assert "hit_at_5" in printed.split("FAIL")[0] and "per category" in printed
    for name in ("report.md", "report.json", "chart.png"):
        assert (rep / name).stat().st_size > 0
    assert (rep / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (rep / "report.md").read_text()
    assert "| hit_at_5 | 1.000 |" in md and "Support scorer meta-eval" in md
    assert json.loads((rep / "report.json").read_text())["metrics"] == res["metrics"]
    # the cached index is reused by the next run
    assert len(list((tmp / "cache").glob("*/complete.json"))) == 1


# --------------------------------------------------------------------------------------------------
# the judge
# --------------------------------------------------------------------------------------------------


def _judge_records() -> list[dict]:
    cite = {"n": 1, "quote": "The Vessa Hydro Authority operates the dam.", "doc_id": "d", "start": 0,
            "end": 1}
    return [
        {"question": "Who operates the dam?", "history": [], "answerable": True, "refused": False,
         "error": "", "gold_answers": ["Vessa Hydro Authority"],
         "answer": "The Vessa Hydro Authority operates it. [1]",
         "citations": [cite]},
        {"question": "When?", "history": ["Who operates the dam?"], "answerable": True, "refused": True,
         "error": "", "gold_answers": ["1974"], "answer": "The articles don't say.", "citations": []},
        {"question": "Who owns the moon?", "history": [], "answerable": False, "refused": False, "error": "",
         "gold_answers": [], "answer": "The Authority. [1] It is big.", "citations": [cite]},
    ]


class _ScriptedJudge:
    """Answers "correct" for correctness prompts and "supported" only when the claim names the Authority."""

    name, model = "fake", "scripted"

    def __init__(self):
        self.prompts: list[str] = []

    def complete_json(self, messages, schema, max_tokens=16):
        text = messages[-1]["content"]
        self.prompts.append(text)
        if "correct" in schema["properties"]:
            return json.dumps({"correct": True})
        claim = text.split("Answer sentence:")[1]
        return json.dumps({"supported": "Authority" in claim})

    def close(self):
        pass


def test_judge_aggregates_verdicts():
    from rag.evaluation.judge import Judge

    recs, fake = _judge_records(), _ScriptedJudge()
    out = Judge(fake).judge_items(recs, split_cited)
    # one answerable question answered (correct), one refused (counts as not correct)
    assert out["judge_answer_accuracy"] == 0.5
    # sentences: rec0 (supported), rec2 "The Authority." (supported),
    # rec2 "It is big." (cites nothing -> False)
    assert out["judge_sentences"] == 3 and out["judge_faithfulness"] == pytest.approx(2 / 3)
    assert recs[2]["judge"] == {"supported": [True, False]} and "correct" not in recs[2]["judge"]
    assert len(fake.prompts) == 3  # no call for a sentence without citations, none for the refusal
    assert any("Earlier question" not in p and "Who operates the dam?" in p for p in fake.prompts)


@pytest.mark.slow
def test_judge_with_a_real_model_returns_schema_verdicts(local_backend):
    from rag.evaluation.judge import Judge

    recs = _judge_records()
    out = Judge(local_backend).judge_items(recs, split_cited)
    assert out["judge_unparsed"] == 0  # every call produced the JSON the schema asks for
    assert isinstance(recs[0]["judge"]["correct"], bool)
    assert all(isinstance(v, bool) for r in recs for v in r["judge"].get("supported", []))


def test_targets_are_reported_but_do_not_gate():
    from rag.evaluation.runner import gate, targets

    th = {"local": {"answer_accuracy": 0.3}, "targets": {"local": {"answer_accuracy": 0.7}}}
    res = {"dataset": "news", "backend": "local", "metrics": {"answer_accuracy": 0.4}, "metrics_extra": {}}
    fails, passes = gate(res, th)
    assert fails == [] and len(passes) == 1
    assert targets(res, th) == ["[targets.local] answer_accuracy = 0.400, below the minimum 0.7"]
    assert targets({**res, "metrics": {"answer_accuracy": 0.8}}, th) == []
