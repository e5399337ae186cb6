"""The product's one sentence splitter (rag/text/sentences.py): Punkt with paragraph and line breaks."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.text.sentences import sentences, split_sentences

ROOT = Path(__file__).resolve().parents[2]


def test_split_sentences_handles_abbreviations_quotes_and_paragraphs():
    text = (
        "U.S. forces in Iraq have been attacked at least 84 times since Oct. 17. The U.S. has responded.\n\n"
        "Mr. Smith arrived at 4 a.m. on Friday, said John F. Kennedy Jr. of Boston. Prices rose 2.5 percent. "
        '"It is over," he said. "We will win." Then he left.  Really? Yes!\nA title line\nends a sentence'
    )
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == [
        "U.S. forces in Iraq have been attacked at least 84 times since Oct. 17.",
        "The U.S. has responded.",
        "Mr. Smith arrived at 4 a.m. on Friday, said John F. Kennedy Jr. of Boston.",
        "Prices rose 2.5 percent.",
        '"It is over," he said.',
        '"We will win."',
        "Then he left.",
        "Really?",
        "Yes!",
        "A title line",
        "ends a sentence",
    ]


def test_split_sentences_on_the_seed_article():
    seed = (ROOT / "seeds" / "000_f6f2cdec14cd0e23.txt").read_text(encoding="utf-8")
    sents = sentences(seed)
    assert (
        "Early on Friday, nearly seven mortar rounds landed in the U.S. Embassy compound in Baghdad." in sents
    )
    assert "U.S. forces in Iraq and Syria have been attacked at least 84 times since Oct. 17." in sents
    assert (
        "Explosions were heard near the embassy, in the center of Baghdad, at about 4 a.m. on Friday."
        in sents
    )
    assert all("\n" not in s for s in sents)


_PIECES = list('ab .?!"\n,UuS') + ["Mr. ", "U.S. ", "2.5", "Oct. 1", "\n\n", "a.m. "]


@settings(deadline=None, max_examples=150)
@given(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join))
def test_split_sentences_spans_are_stripped_ordered_and_in_bounds(text):
    spans = split_sentences(text)
    prev_end = 0
    inside = [False] * len(text)
    for s, e in spans:
        assert prev_end <= s < e <= len(text)
        piece = text[s:e]
        assert piece == piece.strip() and piece
        prev_end = e
        for k in range(s, e):
            inside[k] = True
    # nothing but whitespace falls between sentences
    assert all(inside[k] or text[k].isspace() for k in range(len(text)))


def test_rag_has_one_sentence_splitter():
    """Every sentence split in rag/ goes through this module: no second splitter to drift from it."""
    import ast

    rag = ROOT / "rag"
    splitters = sorted(str(p.relative_to(ROOT)) for p in rag.rglob("*.py")
                       for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
                       if isinstance(node, ast.FunctionDef) and node.name in ("split_sentences", "sentences"))
    assert splitters == ["rag/text/sentences.py", "rag/text/sentences.py"]
