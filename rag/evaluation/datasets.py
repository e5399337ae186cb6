"""Evaluation datasets: the news question set (over eval/corpus + seeds/) and SQuAD 2.0.

Both load into the same :class:`EvalItem` shape, so the runner and the metrics never branch on the
dataset. Gold evidence is ``{"doc": <id>, "text": <sentence or None>}``: for news ``doc`` is an
article's JSONL ``id`` (the passage's ``meta["ext_id"]``) or the seed file's stem, and ``text`` a
sentence the passage must contain; for SQuAD ``doc`` is the paragraph's id and ``text`` is None (the
passage must come from that paragraph).

Sampling (``--limit N --seed S``) is deterministic: it depends only on the file, N and S, never on
dict/set order or the process, so CI compares like with like across runs.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[2]


def project_path(rel: str) -> Path:
    """``rel`` under the current directory when it is there, else under the project checkout."""
    p = Path(rel)
    return p if p.exists() else _ROOT / rel


NEWS_QA = project_path("eval/qa/news.jsonl")
NEWS_CORPUS = [project_path("eval/corpus"), project_path("seeds")]
SQUAD_FILE = project_path("eval/external/squad2/dev-8-articles.json")
SQUAD_SOURCE = "Wikipedia (SQuAD 2.0)"
SPLITS_FILE = project_path("eval/splits.json")


@dataclass
class EvalItem:
    id: str
    question: str
    answerable: bool
    gold_answers: list[str] = field(default_factory=list)
    gold_evidence: list[dict[str, Any]] = field(default_factory=list)
    category: str = ""
    history: list[str] = field(default_factory=list)
    group: str = ""  # SQuAD: the article title (for per-article breakdowns)
    # what a complete answer must contain: every group, one alternative of each (strict accuracy)
    required: list[list[str]] = field(default_factory=list)
    split: str = ""  # "dev" | "test" (eval/splits.json, by article)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Dataset:
    name: str
    items: list[EvalItem]
    corpus: list[Path]  # what to ingest (files or directories)
    gold_by: str = "ext_id"  # how a passage names its document: "ext_id" (JSONL id, or file stem)
    tmp_dir: Path | None = None  # a temporary directory holding generated corpus files, removed after the run


# --------------------------------------------------------------------------------------------------
# news
# --------------------------------------------------------------------------------------------------


def load_news(path: str | Path = NEWS_QA) -> list[EvalItem]:
    from rag.evaluation.splits import load_splits, split_of

    splits = load_splits(str(SPLITS_FILE))
    items = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc})") from exc
            gold = list(r.get("gold_answers") or [])
            evidence = list(r.get("gold_evidence") or [])
            articles = list(dict.fromkeys([e["doc"] for e in evidence] + list(r.get("about") or [])))
            items.append(EvalItem(
                id=str(r["id"]), question=r["question"], answerable=bool(r["answerable"]),
                gold_answers=gold, gold_evidence=evidence,
                category=str(r.get("category") or "uncategorised"), history=list(r.get("history") or []),
                required=[list(g) for g in r.get("required") or ([gold] if gold else [])],
                split=split_of("news", str(r["id"]), articles, splits)))
    return items


def in_split(items: list[EvalItem], split: str | None) -> list[EvalItem]:
    """The items of one split (``dev`` / ``test``); all of them for ``None`` or ``"all"``."""
    if split in (None, "all"):
        return list(items)
    if split not in ("dev", "test"):
        raise ValueError(f"unknown split {split!r}: use dev, test or all")
    return [it for it in items if it.split == split]


def stratified_sample(items: list[EvalItem], limit: int | None, seed: int,
                      key: str = "category") -> list[EvalItem]:
    """``limit`` items spread over the values of ``key`` in proportion to their size (at least one each
    while ``limit`` allows), chosen by a seeded shuffle; returned in the original order.

    Proportional allocation keeps the sample's mix equal to the full set's, so a sampled metric
    estimates the full-set metric rather than a re-weighted one.
    """
    if limit is None or limit >= len(items):
        return list(items)
    if limit <= 0:
        return []
    groups: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[str(getattr(it, key))].append(i)
    names = sorted(groups)
    total = len(items)
    quota = {g: limit * len(groups[g]) / total for g in names}
    alloc = {g: math.floor(q) for g, q in quota.items()}
    if limit >= len(names):
        for g in names:
            alloc[g] = max(alloc[g], 1)
    # hand out what is left by largest remainder (ties: larger group, then name), take back any excess
    # from the most over-allocated groups (only possible through the minimum of one)
    while sum(alloc.values()) < limit:
        g = max((g for g in names if alloc[g] < len(groups[g])),
                key=lambda g: (quota[g] - alloc[g], len(groups[g]), g))
        alloc[g] += 1
    while sum(alloc.values()) > limit:
        g = max((g for g in names if alloc[g] > 1), key=lambda g: (alloc[g] - quota[g], g))
        alloc[g] -= 1
    rng = random.Random(seed)
    chosen: list[int] = []
    for g in names:  # sorted names: the rng sequence does not depend on dict order
        chosen.extend(rng.sample(groups[g], alloc[g]))
    return [items[i] for i in sorted(chosen)]


def news_dataset(path: str | Path | None = None, limit: int | None = None, seed: int = 0,
                 corpus: list[Path] | None = None, split: str | None = None) -> Dataset:
    items = stratified_sample(in_split(load_news(path or NEWS_QA), split), limit, seed)
    return Dataset(name="news", items=items, corpus=list(corpus or NEWS_CORPUS))


# --------------------------------------------------------------------------------------------------
# SQuAD 2.0
# --------------------------------------------------------------------------------------------------


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in title).strip("_") or "article"


def paragraph_id(title: str, i: int) -> str:
    return f"squad-{_slug(title)}-{i:03d}"


def load_squad(path: str | Path = SQUAD_FILE) -> tuple[list[dict[str, Any]], list[EvalItem]]:
    """(articles, questions) from an official SQuAD 2.0 JSON file.

    Every paragraph becomes one article record (``id`` = :func:`paragraph_id`, title = the Wikipedia
    article's title, ready for the JSONL loader); every question one item whose gold evidence is its
    paragraph. Impossible questions are unanswerable with no gold answers. Each question is in the split
    of its Wikipedia article (``eval/splits.json``).
    """
    from rag.evaluation.splits import load_splits, split_of

    splits = load_splits(str(SPLITS_FILE))
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or "data" not in data:
        raise ValueError(f"{path}: not a SQuAD JSON file (no top-level 'data')")
    records: list[dict[str, Any]] = []
    items: list[EvalItem] = []
    for art in data["data"]:
        title = str(art.get("title", "")).replace("_", " ")
        for i, para in enumerate(art["paragraphs"]):
            pid = paragraph_id(title, i)
            records.append({"id": pid, "title": title, "text": para["context"], "source": SQUAD_SOURCE})
            for qa in para["qas"]:
                impossible = bool(qa.get("is_impossible"))
                answers = [] if impossible else list(dict.fromkeys(a["text"] for a in qa.get("answers", [])))
                items.append(EvalItem(
                    id=str(qa.get("id") or f"{pid}-q{len(items)}"), question=qa["question"].strip(),
                    answerable=not impossible, gold_answers=answers,
                    gold_evidence=[{"doc": pid, "text": None}],
                    category="impossible" if impossible else "answerable", group=title,
                    required=[answers] if answers else [],
                    split=split_of("squad2", str(qa.get("id")), [title], splits)))
    return records, items


def balanced_sample(items: list[EvalItem], limit: int | None, seed: int) -> list[EvalItem]:
    """Half answerable, half impossible (as far as each side allows), seeded; original order kept."""
    if limit is None or limit >= len(items):
        return list(items)
    pos = [i for i, it in enumerate(items) if it.answerable]
    neg = [i for i, it in enumerate(items) if not it.answerable]
    n_pos = min(len(pos), (limit + 1) // 2)
    n_neg = min(len(neg), limit - n_pos)
    n_pos = min(len(pos), limit - n_neg)  # top up from the other side when one runs short
    rng = random.Random(seed)
    chosen = rng.sample(pos, n_pos) + rng.sample(neg, n_neg)
    return [items[i] for i in sorted(chosen)]


def write_jsonl(records: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def squad_dataset(path: str | Path | None, limit: int | None, seed: int, work_dir: Path,
                  split: str | None = None) -> Dataset:
    """The SQuAD questions (sampled) and a JSONL corpus of *every* paragraph under ``work_dir``.

    The whole corpus is ingested even for a sample, so retrieval is open-corpus: a question has to
    find its paragraph among all 340, not among the few its sample drew.
    """
    records, items = load_squad(path or SQUAD_FILE)
    corpus = write_jsonl(records, work_dir / "squad_paragraphs.jsonl")
    return Dataset(name="squad2", items=balanced_sample(in_split(items, split), limit, seed), corpus=[corpus])
