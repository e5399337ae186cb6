"""Sentence spans with character offsets (Punkt, shipped inside llama-index-core; no download).

Paragraph breaks always end a sentence; Punkt handles abbreviations such as "U.S." and "Oct.".
"""

from __future__ import annotations

import re
from functools import lru_cache

_PARA = re.compile(r"\n\s*\n")


@lru_cache(maxsize=1)
def _punkt():
    from pathlib import Path

    import llama_index.core
    from nltk.tokenize.punkt import PunktSentenceTokenizer, PunktTokenizer

    cache = Path(llama_index.core.__file__).parent / "_static" / "nltk_cache"
    try:
        import nltk

        if str(cache) not in nltk.data.path:
            nltk.data.path.append(str(cache))
        tok = PunktTokenizer("english")
    except Exception:  # noqa: BLE001 - Punkt data missing: fall back to an untrained tokenizer
        tok = PunktSentenceTokenizer()
    # News abbreviations Punkt's English model can miss at a sentence end.
    tok._params.abbrev_types.update({"u.s", "u.k", "u.n", "oct", "nov", "dec", "jan", "feb", "aug", "sept",
                                     "gen", "col", "lt", "sgt", "gov", "sen", "rep", "dr", "mr", "mrs", "ms"})
    return tok


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of sentences; ``text[start:end]`` is stripped and non-empty."""
    spans: list[tuple[int, int]] = []
    pos = 0
    paragraphs = []
    for m in _PARA.finditer(text):
        paragraphs.append((pos, m.start()))
        pos = m.end()
    paragraphs.append((pos, len(text)))
    tok = _punkt()
    for ps, pe in paragraphs:
        para = text[ps:pe]
        if not para.strip():
            continue
        for s, e in tok.span_tokenize(para):
            # single newlines inside a paragraph (e.g. a title line) also end a sentence
            seg = para[s:e]
            off = 0
            for line in seg.split("\n"):
                ls = s + off + (len(line) - len(line.lstrip()))
                le = s + off + len(line.rstrip())
                if le > ls:
                    spans.append((ps + ls, ps + le))
                off += len(line) + 1
    return spans
