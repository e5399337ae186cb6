"""A reproducible synthetic news corpus: the same seed gives byte-identical articles.

Articles are 300-1,500 words of plausible wire copy with the things retrieval must get right:
people's names, places, organisations, numbers and dates. Every article also carries one *fact*
(a unique number tied to a unique place) that a question can target, so the benchmarks can check
that answers are correct, not just fast. The generator itself is rag/index/calibration.py (the int8
embedding model is calibrated on it, with another seed, and rag does not import bench).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from rag.index.calibration import SyntheticArticle, generate, make_article  # noqa: F401 - re-exported


def write_jsonl(articles: list[SyntheticArticle], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for a in articles:
            fh.write(json.dumps(a.record(), ensure_ascii=False) + "\n")
    return path


def chunk_texts(n_chunks: int, seed: int = 0) -> list[str]:
    """Chunk-sized synthetic passages (about 150 words) for the retrieval scale test, generated cheaply."""
    r = random.Random(seed)
    out = []
    i = 0
    while len(out) < n_chunks:
        words = make_article(i, r).text.split()
        for s in range(0, len(words), 150):
            out.append(" ".join(words[s:s + 150]))
            if len(out) >= n_chunks:
                break
        i += 1
    return out
