"""The int8 calibration texts (rag/index/calibration.py): reproducible, shared with the benchmarks'
corpus generator, and rag never imports bench to get them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

RAG = Path(__file__).resolve().parents[2] / "rag"


class _Enc:
    def __init__(self, text: str):
        self.offsets = []
        pos = 0
        for w in text.split():
            start = text.index(w, pos)
            self.offsets.append((start, start + len(w)))
            pos = start + len(w)


class _WordTokenizer:
    """A stand-in for ``tokenizers.Tokenizer``: one token per whitespace-separated word."""

    def encode(self, text: str, add_special_tokens: bool = False) -> _Enc:
        return _Enc(text)


def test_calibration_texts_are_reproducible_windows_questions_and_titles():
    from rag.index.calibration import CALIBRATION_SEED, calibration_texts, generate

    a = calibration_texts(_WordTokenizer(), 50, n_articles=3)
    assert a == calibration_texts(_WordTokenizer(), 50, n_articles=3)
    arts = generate(3, CALIBRATION_SEED)
    assert {x.question for x in arts} <= set(a) and {x.title for x in arts} <= set(a)
    windows = [t for t in a if t not in {x.question for x in arts} | {x.title for x in arts}]
    assert windows and all(len(t.split()) <= 50 for t in windows)
    assert calibration_texts(_WordTokenizer(), 50, n_articles=3, seed=1) != a


def test_bench_corpus_draws_from_the_same_generator():
    import bench.corpus
    import rag.index.calibration

    assert bench.corpus.generate is rag.index.calibration.generate
    assert bench.corpus.make_article is rag.index.calibration.make_article


def test_rag_never_imports_bench():
    """Only the ``newsrag bench`` command of the CLI hands over to the bench package."""
    offenders = []
    for path in RAG.rglob("*.py"):
        if path == RAG / "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{path.relative_to(RAG.parent)}: {n}" for n in names if n.split(".")[0] == "bench"]
    assert offenders == []
