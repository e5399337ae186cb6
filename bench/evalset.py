"""The small real index the answer/concurrency/startup benchmarks share: the eval corpus and questions."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT

log = logging.getLogger(__name__)
CORPUS = ROOT / "eval" / "corpus" / "articles.jsonl"
QUESTIONS = ROOT / "eval" / "qa" / "news.jsonl"


@dataclass
class Question:
    id: str
    question: str
    gold: list[str]


def load_questions(n: int) -> list[Question]:
    """The first ``n`` answerable, single-turn questions of the eval set."""
    out = []
    for line in QUESTIONS.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        if q.get("answerable") and not q.get("history") and q.get("gold_answers"):
            out.append(Question(q["id"], q["question"], list(q["gold_answers"])))
        if len(out) >= n:
            break
    return out


def _norm(s: str) -> str:
    return re.sub(r"[\s,]+", " ", s.lower()).strip()


def correct(answer, q: Question) -> bool:
    """Not refused and one of the gold answers appears in the answer text."""
    text = _norm(answer.text)
    return (not answer.refused) and any(_norm(g) in text for g in q.gold)


def build_index(index_dir: Path) -> Path:
    """Ingest the eval corpus with our pipeline (idempotent: a second call changes nothing)."""
    from rag.api import Assistant
    from rag.settings import Settings

    a = Assistant(Settings(index_dir=index_dir, backend="extractive"))
    report = a.ingest([CORPUS])
    if report.failed:
        raise RuntimeError(f"eval corpus ingest failed: {report.failed[:2]}")
    a.close()
    return index_dir


def local_model_available() -> bool:
    """True when the default local GGUF model is installed (we never download it here)."""
    try:
        from rag.models import resolve_model
        from rag.settings import Settings

        s = Settings()
        resolve_model(s.local_model, s)
        return True
    except Exception as exc:  # noqa: BLE001 - not installed / not importable: skip that backend
        log.info("local backend unavailable: %s", exc)
        return False


def backends(arg: str | None) -> list[str]:
    """``--backends`` or: extractive always, local when its model is installed."""
    if arg:
        return [b.strip() for b in arg.split(",") if b.strip()]
    return ["extractive"] + (["local"] if local_model_available() else [])
