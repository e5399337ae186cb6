"""Sentence spans with character offsets (Punkt, shipped inside llama-index-core; no download).

Paragraph breaks always end a sentence; Punkt handles abbreviations such as "U.S." and "Oct.".
Overlong paragraphs (a 1 MB single-line file) go to Punkt in bounded windows: NLTK runs Punkt's
regular expressions under a 5-second wall-clock guard and raises ``TimeoutError`` past it, which a
paragraph of some 100k short sentences reaches on a busy machine.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from functools import lru_cache

log = logging.getLogger(__name__)

_PARA = re.compile(r"\n\s*\n")
# A window of this many characters takes Punkt well under a second even when it is all sentence ends;
# news paragraphs are far shorter, so real articles are split exactly as before.
WINDOW = 20_000
_CUT = re.compile(r"[.!?\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*\s")
_SIMPLE = re.compile(r"\S.*?(?:[.!?\u3002\uff01\uff1f]+(?=\s)|\Z)", re.S)


def _punkt_module():
    """``nltk.tokenize.punkt`` without running ``nltk/__init__``, which imports most of NLTK (~1 s of a
    cold ``newsrag ask``). Punkt needs only a few leaf modules; while they load, ``nltk`` and
    ``nltk.tokenize`` are bare namespace modules, removed again afterwards so a later ``import nltk``
    runs the real package (reusing the leaf modules already loaded). Any surprise (another NLTK
    layout) falls back to the ordinary import."""
    import importlib
    import importlib.util
    import sys
    import types

    if "nltk" in sys.modules:
        return importlib.import_module("nltk.tokenize.punkt")
    spec = importlib.util.find_spec("nltk")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("nltk is not installed")
    root = list(spec.submodule_search_locations)[0]
    stubs = {"nltk": root, "nltk.tokenize": f"{root}/tokenize"}
    try:
        for name, path in stubs.items():
            mod = types.ModuleType(name)
            mod.__path__ = [path]
            sys.modules[name] = mod
        return importlib.import_module("nltk.tokenize.punkt")
    except Exception as exc:  # noqa: BLE001 - a different NLTK layout: import it the ordinary way
        log.debug("loading Punkt without nltk/__init__ failed (%s); importing nltk", exc)
        for name in [m for m in sys.modules if m == "nltk" or m.startswith("nltk.")]:
            sys.modules.pop(name, None)
        return importlib.import_module("nltk.tokenize.punkt")
    finally:
        for name, path in stubs.items():
            mod = sys.modules.get(name)
            if mod is not None and getattr(mod, "__file__", None) is None and list(getattr(mod, "__path__", [])) == [path]:
                del sys.modules[name]


_PUNKT_LOCK = threading.Lock()  # the stub modules above must not be seen half-built by another thread


@lru_cache(maxsize=1)
def _punkt():
    import importlib.util
    from pathlib import Path

    with _PUNKT_LOCK:
        punkt = _punkt_module()
    # the English model ships inside llama-index-core (found without importing llama-index)
    core = importlib.util.find_spec("llama_index.core")
    lang_dir = Path(list(core.submodule_search_locations)[0]) / "_static" / "nltk_cache" / "tokenizers" / \
        "punkt_tab" / "english" if core and core.submodule_search_locations else None
    try:
        from nltk.tabdata import PunktDecoder

        params = punkt.PunktParameters()
        dec = PunktDecoder()
        with open(lang_dir / "collocations.tab", encoding="utf-8") as f:
            params.collocations = set(dec.tab2tups(f))
        with open(lang_dir / "sent_starters.txt", encoding="utf-8") as f:
            params.sent_starters = dec.txt2set(f)
        with open(lang_dir / "abbrev_types.txt", encoding="utf-8") as f:
            params.abbrev_types = dec.txt2set(f)
        with open(lang_dir / "ortho_context.tab", encoding="utf-8") as f:
            params.ortho_context = dec.tab2intdict(f)
        tok = punkt.PunktSentenceTokenizer(params)
    except Exception as exc:  # noqa: BLE001 - Punkt data missing: an untrained tokenizer still splits
        log.warning("the Punkt English model could not be loaded (%s); sentence splitting is cruder", exc)
        tok = punkt.PunktSentenceTokenizer()
    # News abbreviations Punkt's English model can miss at a sentence end.
    tok._params.abbrev_types.update({"u.s", "u.k", "u.n", "oct", "nov", "dec", "jan", "feb", "aug", "sept",
                                     "gen", "col", "lt", "sgt", "gov", "sen", "rep", "dr", "mr", "mrs", "ms"})
    return tok


def _windows(para: str, size: int = WINDOW) -> Iterator[tuple[int, int]]:
    """Cut ``para`` into pieces of at most ``size`` characters: after a sentence end when there is one
    in the second half of the window, else at whitespace, else hard (one unbroken run of characters)."""
    start, n = 0, len(para)
    while n - start > size:
        limit = start + size
        cut = -1
        for m in _CUT.finditer(para, start + size // 2, limit):
            cut = m.end()
        if cut <= start:
            cut = max(para.rfind(" ", start + 1, limit), para.rfind("\n", start + 1, limit)) + 1
        if cut <= start:
            cut = limit
        yield start, cut
        start = cut
    yield start, n


def _sentence_spans(tok, text: str) -> list[tuple[int, int]]:
    try:
        return list(tok.span_tokenize(text))
    except TimeoutError:
        # only on a pathological window on an overloaded machine: a plain splitter keeps the ingest going
        log.warning("Punkt timed out on a %d-character passage; splitting it at sentence punctuation", len(text))
        return [(m.start(), m.end()) for m in _SIMPLE.finditer(text)]


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
        for ws, we in _windows(para):
            window = para[ws:we]
            for s, e in _sentence_spans(tok, window):
                # single newlines inside a paragraph (e.g. a title line) also end a sentence
                seg = window[s:e]
                off = 0
                for line in seg.split("\n"):
                    ls = s + off + (len(line) - len(line.lstrip()))
                    le = s + off + len(line.rstrip())
                    if le > ls:
                        spans.append((ps + ws + ls, ps + ws + le))
                    off += len(line) + 1
    return spans


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` as strings (see :func:`split_sentences`)."""
    return [text[s:e] for s, e in split_sentences(text)]
