"""Dev and test splits of the eval sets, fixed by article (``eval/splits.json``).

Rules, thresholds, prompts and trained models are tuned on ``dev``; every figure the README reports
is a ``test`` figure. A question belongs to the split of the articles it is about: its gold evidence
(news), its ``about`` articles (news questions with no evidence), or its Wikipedia article (SQuAD).
A question about no article (out-of-corpus, a bare injection attempt) goes to the split named by the
parity of the sha256 of its id, so the assignment never depends on order or on the other questions.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

SPLITS = ("dev", "test")


@lru_cache(maxsize=4)
def load_splits(path: str) -> dict[str, dict[str, frozenset[str]]]:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    out: dict[str, dict[str, frozenset[str]]] = {}
    for dataset, parts in raw.items():
        if dataset.startswith("_"):
            continue
        out[dataset] = {name: frozenset(parts.get(name, [])) for name in SPLITS}
        overlap = out[dataset]["dev"] & out[dataset]["test"]
        if overlap:
            raise ValueError(f"{path}: {dataset}: in both dev and test: {sorted(overlap)}")
    return out


def by_hash(item_id: str) -> str:
    return SPLITS[hashlib.sha256(item_id.encode()).digest()[0] % 2]


def split_of(dataset: str, item_id: str, articles: list[str], splits: dict[str, dict[str, frozenset[str]]]) -> str:
    """``dev`` or ``test`` for one question about ``articles`` (ids or titles); ``""`` when none of its
    articles is listed (a question file of the user's own, over other articles)."""
    if not articles:
        return by_hash(item_id)
    parts = splits.get(dataset, {})
    found = {name for name in SPLITS for a in articles if a in parts.get(name, ())}
    if len(found) > 1:
        raise ValueError(f"eval/splits.json: {dataset} question {item_id}: its articles {articles} are in both "
                         "splits; articles linked by one question must share a split")
    return found.pop() if found else ""
