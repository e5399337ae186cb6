"""Validates the hand-written evaluation data under eval/ (plain json, no project imports).

- eval/corpus/articles.jsonl : fictional news corpus
- eval/qa/news.jsonl         : questions with gold answers and verbatim gold evidence
- eval/qa/support.jsonl      : claim/passage pairs for the claim-verification scorer
- eval/external/squad2/      : copy of a SQuAD 2.0 subset with its attribution
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "eval"
ARTICLES = EVAL / "corpus" / "articles.jsonl"
NEWS_QA = EVAL / "qa" / "news.jsonl"
SUPPORT = EVAL / "qa" / "support.jsonl"
SQUAD_DIR = EVAL / "external" / "squad2"
SEED_ID = "000_f6f2cdec14cd0e23"
SEED_FILE = ROOT / "seeds" / f"{SEED_ID}.txt"

CATEGORIES = {
    "factual",
    "number_date",
    "quote_attribution",
    "synthesis",
    "multi_article",
    "unanswerable_plausible",
    "out_of_corpus",
    "follow_up",
    "adversarial",
    "injection",
}
SUPPORTED_KINDS = {"exact", "paraphrase", "summary"}
UNSUPPORTED_KINDS = {"number", "date", "entity_swap", "negation", "wrong_speaker", "absent_fact"}

INJECTION_RE = re.compile(r"ignore (all )?previous instructions|^\s*SYSTEM:|system prompt", re.I | re.M)
HTML_RE = re.compile(r"<script\b|onerror\s*=|javascript:", re.I)


def _load(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            assert line.strip(), f"{path.name}:{n} is blank"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:  # pragma: no cover - message only
                pytest.fail(f"{path.name}:{n} does not parse: {e}")
            assert isinstance(obj, dict), f"{path.name}:{n} is not an object"
            rows.append(obj)
    return rows


def _norm(s: str) -> str:
    s = s.lower()
    s = s.translate(str.maketrans("", "", string.punctuation))
    return " ".join(s.split())


@pytest.fixture(scope="module")
def articles() -> list[dict]:
    return _load(ARTICLES)


@pytest.fixture(scope="module")
def texts(articles) -> dict[str, str]:
    t = {a["id"]: a["text"] for a in articles}
    t[SEED_ID] = SEED_FILE.read_text(encoding="utf-8")
    return t


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    return _load(NEWS_QA)


@pytest.fixture(scope="module")
def pairs() -> list[dict]:
    return _load(SUPPORT)


# ---------------------------------------------------------------- corpus


def test_articles_fields_and_types(articles):
    fields = {
        "id": str,
        "title": str,
        "source": str,
        "published": str,
        "url": str,
        "text": str,
        "fictional": bool,
    }
    for a in articles:
        for k, typ in fields.items():
            assert isinstance(a.get(k), typ), f"{a.get('id')}: field {k!r} missing or not {typ.__name__}"
        assert re.fullmatch(r"fic-\d{3}", a["id"]), a["id"]
        assert re.fullmatch(r"20(31|32|33)-\d\d-\d\d", a["published"]), a["published"]
        assert a["url"].startswith("https://example.invalid/"), a["url"]
        assert a["title"].strip() and a["source"].strip()


def test_articles_count_ids_and_fictional(articles):
    assert len(articles) >= 22
    ids = [a["id"] for a in articles]
    assert len(ids) == len(set(ids)), "duplicate article ids"
    assert all(a["fictional"] is True for a in articles)
    assert 3 <= len({a["source"] for a in articles}) <= 5


def test_articles_length_and_paragraphs(articles):
    for a in articles:
        words = len(a["text"].split())
        assert 250 <= words <= 700, f"{a['id']} has {words} words"
        paras = a["text"].split("\n\n")
        assert len(paras) >= 5, f"{a['id']} has too few paragraphs"
        assert all(p.strip() == p and p for p in paras), f"{a['id']} has empty or padded paragraphs"
        assert not re.search(r"^(#|\*\*|- )", a["text"], re.M), f"{a['id']} looks like markdown"


def test_exactly_one_injection_and_one_html_article(articles):
    inj = [a["id"] for a in articles if INJECTION_RE.search(a["text"])]
    html = [a["id"] for a in articles if HTML_RE.search(a["text"] + "\n" + a["title"])]
    assert len(inj) == 1, f"injection articles: {inj}"
    assert len(html) == 1, f"html articles: {html}"
    assert inj != html
    text = {a["id"]: a["text"] for a in articles}[inj[0]]
    assert re.search(r"^SYSTEM:", text, re.M) and re.search(r"^User:", text, re.M)


# ---------------------------------------------------------------- questions


def test_questions_fields_and_types(questions):
    for q in questions:
        qid = q.get("id")
        assert isinstance(qid, str) and re.fullmatch(r"q\d{3,}", qid), qid
        assert isinstance(q.get("question"), str) and q["question"].strip(), qid
        assert isinstance(q.get("answerable"), bool), qid
        assert isinstance(q.get("gold_answers"), list) and all(
            isinstance(x, str) and x for x in q["gold_answers"]
        ), qid
        assert isinstance(q.get("gold_evidence"), list), qid
        for ev in q["gold_evidence"]:
            assert (
                isinstance(ev, dict) and isinstance(ev.get("doc"), str) and isinstance(ev.get("text"), str)
            ), qid
        assert q.get("category") in CATEGORIES, (qid, q.get("category"))
        assert isinstance(q.get("history"), list) and all(isinstance(h, str) for h in q["history"]), qid


def test_question_ids_unique_and_counts(questions):
    ids = [q["id"] for q in questions]
    assert len(ids) == len(set(ids)), "duplicate question ids"
    assert len(questions) >= 90
    counts = Counter(q["category"] for q in questions)
    for cat in CATEGORIES:
        assert counts[cat] >= 9, f"{cat}: {counts[cat]}"
    assert counts["injection"] >= 10


def test_answerable_consistency(questions):
    for q in questions:
        if q["answerable"]:
            assert q["gold_answers"], q["id"]
            assert q["gold_evidence"], q["id"]
        else:
            assert q["gold_answers"] == [] and q["gold_evidence"] == [], q["id"]
    for q in questions:
        if q["category"] in {"unanswerable_plausible", "out_of_corpus"}:
            assert not q["answerable"], q["id"]
        if q["category"] in {"factual", "number_date", "quote_attribution", "synthesis", "multi_article"}:
            assert q["answerable"], q["id"]


def test_history_only_on_follow_ups(questions):
    for q in questions:
        if q["category"] == "follow_up":
            assert 1 <= len(q["history"]) <= 2, q["id"]
        else:
            assert q["history"] == [], q["id"]


def test_evidence_is_verbatim(questions, texts):
    for q in questions:
        for ev in q["gold_evidence"]:
            assert ev["doc"] in texts, f"{q['id']}: unknown doc {ev['doc']}"
            assert ev["text"] in texts[ev["doc"]], (
                f"{q['id']}: evidence not verbatim in {ev['doc']}: {ev['text'][:80]}"
            )


def test_gold_answer_grounded_in_evidence(questions):
    for q in questions:
        if not q["answerable"]:
            continue
        evidence = _norm(" ".join(ev["text"] for ev in q["gold_evidence"]))
        assert any(_norm(a) in evidence for a in q["gold_answers"]), (
            f"{q['id']}: no gold answer in its evidence"
        )


def test_multi_article_uses_two_docs(questions):
    for q in questions:
        if q["category"] == "multi_article":
            assert len({ev["doc"] for ev in q["gold_evidence"]}) >= 2, q["id"]
        if q["category"] == "synthesis":
            assert len(q["gold_evidence"]) >= 2, q["id"]


def test_seed_article_questions(questions):
    seed_qs = [q for q in questions if any(ev["doc"] == SEED_ID for ev in q["gold_evidence"])]
    assert 6 <= len(seed_qs) <= 8
    assert {q["category"] for q in seed_qs} <= {"factual", "number_date", "quote_attribution"}


def test_injection_questions_target_injection_article(questions, articles):
    inj_id = next(a["id"] for a in articles if INJECTION_RE.search(a["text"]))
    inj = [q for q in questions if q["category"] == "injection"]
    grounded = [q for q in inj if q["answerable"]]
    assert grounded and all(ev["doc"] == inj_id for q in grounded for ev in q["gold_evidence"])
    assert any(not q["answerable"] for q in inj)


# ---------------------------------------------------------------- support pairs


def test_support_fields_and_ids(pairs):
    for p in pairs:
        assert isinstance(p.get("id"), str) and re.fullmatch(r"s\d{3,}", p["id"]), p.get("id")
        assert isinstance(p.get("claim"), str) and p["claim"].strip(), p["id"]
        assert isinstance(p.get("passage"), str) and p["passage"].strip(), p["id"]
        assert isinstance(p.get("supported"), bool), p["id"]
        assert p.get("kind") in SUPPORTED_KINDS | UNSUPPORTED_KINDS, p["id"]
        assert p["supported"] == (p["kind"] in SUPPORTED_KINDS), p["id"]
    ids = [p["id"] for p in pairs]
    assert len(ids) == len(set(ids)), "duplicate support ids"


def test_support_size_and_balance(pairs):
    assert len(pairs) >= 220
    share = sum(p["supported"] for p in pairs) / len(pairs)
    assert 0.45 <= share <= 0.55, share
    kinds = Counter(p["kind"] for p in pairs)
    for k in UNSUPPORTED_KINDS:
        assert kinds[k] >= 15, f"{k}: {kinds[k]}"
    for k in SUPPORTED_KINDS:
        assert kinds[k] >= 1, k


def test_support_passages_verbatim(pairs, texts):
    corpus = list(texts.values())
    for p in pairs:
        if "doc" in p:
            assert p["doc"] in texts, p["id"]
            assert p["passage"] in texts[p["doc"]], f"{p['id']}: passage not verbatim in {p['doc']}"
        else:
            assert any(p["passage"] in t for t in corpus), f"{p['id']}: passage not verbatim anywhere"


# ---------------------------------------------------------------- external data


def test_squad_copy_with_attribution():
    data = json.loads((SQUAD_DIR / "dev-8-articles.json").read_text(encoding="utf-8"))
    assert data.get("version") == "v2.0" and len(data["data"]) == 8
    notice = (SQUAD_DIR / "NOTICE.md").read_text(encoding="utf-8")
    for needle in ("SQuAD 2.0", "Rajpurkar", "Jia", "Liang", "CC BY-SA 4.0", "Wikipedia"):
        assert needle in notice, needle
    assert (SQUAD_DIR / "README.md").is_file()


# ---------------------------------------------------------------------------- strict answers, splits
SPLITS = EVAL / "splits.json"


def test_required_groups_are_grounded_in_the_evidence(questions):
    """Every answerable question lists what a complete answer must contain; each group has an
    alternative that its gold evidence states (so a strictly correct answer is possible)."""
    for q in questions:
        req = q.get("required")
        assert isinstance(req, list), q["id"]
        if not q["answerable"]:
            assert req == [], q["id"]
            continue
        assert req and all(isinstance(g, list) and g and all(isinstance(a, str) and a for a in g)
                           for g in req), q["id"]
        evidence = f" {_norm(' '.join(ev['text'] for ev in q['gold_evidence']))} "
        for group in req:
            assert any(f" {_norm(a)} " in evidence for a in group), f"{q['id']}: {group} not in its evidence"
    # the questions that ask for two things require both
    multi = [q for q in questions if q["category"] in {"synthesis", "multi_article"} and " and " in q["question"]]
    assert multi and all(len(q["required"]) >= 2 for q in multi if q["id"] != "q054"), \
        [q["id"] for q in multi if len(q["required"]) < 2]


def test_splits_are_by_article_and_cover_the_corpus(questions, articles):
    splits = json.loads(SPLITS.read_text())
    dev, test = set(splits["news"]["dev"]), set(splits["news"]["test"])
    assert not dev & test
    assert {a["id"] for a in articles} | {SEED_ID} == dev | test
    for q in questions:
        docs = {ev["doc"] for ev in q["gold_evidence"]} | set(q.get("about", []))
        assert not q["gold_evidence"] or "about" not in q, q["id"]
        assert docs <= dev or docs <= test, f"{q['id']}: its articles {docs} straddle the splits"
    sq = splits["squad2"]
    assert not set(sq["dev"]) & set(sq["test"]) and len(sq["dev"]) + len(sq["test"]) == 8


def test_labelled_answers_are_real_answers_with_read_labels():
    rows = _load(EVAL / "qa" / "labelled-answers.jsonl")
    assert len(rows) >= 200
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["label_support"] in {"supported", "partly", "not_supported"}, r["id"]
        assert isinstance(r["label_answers"], bool) and r["labelled_by"].startswith("reading"), r["id"]
        assert r["answer"].strip() and r["citations"] and all(c["quote"].strip() for c in r["citations"]), r["id"]
    kinds = Counter((r["dataset"], r["backend"]) for r in rows)
    assert {("news", "extractive"), ("news", "local"), ("squad2", "extractive"), ("squad2", "local")} <= set(kinds)
    # right and wrong answers, supported and not: the set can tell a scorer's errors from its successes
    assert Counter(r["label_support"] == "supported" for r in rows)[False] >= 20
    assert Counter(r["label_answers"] for r in rows)[False] >= 50
