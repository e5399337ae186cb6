"""The cold path of `newsrag ask` stays free of heavy imports (checked by module, not by timing).

llama-index and the NLTK package each cost about a second to import on this machine; the ask path
needs neither: retrieval is our own ``HybridSearch`` and Punkt is loaded from its leaf modules.
"""

from __future__ import annotations

import json
import subprocess
import sys

TIER = "integration"  # the tests below load the embedding model or Chroma, or run the CLI (conftest.py)

SAMPLE = ('The U.S. Embassy was hit on Oct. 5 by nearly seven rounds. Mr. Austin said "no." He left at 3 p.m. '
          'on Friday.\n\nA new paragraph, with Gen. Lee, follows. "It was bad," she said.')


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ask_path_imports_neither_llama_index_nor_nltk_package():
    res = _run(
        "import json, sys\n"
        "import rag.api, rag.cli, rag.retrieve.hybrid, rag.answer.chain, rag.answer.evidence, rag.answer.verify\n"
        "from rag.text.sentences import split_sentences\n"
        f"spans = split_sentences({SAMPLE!r})\n"
        "print(json.dumps({'spans': spans, 'mods': sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('llama_index', 'nltk'))}))\n"
    )
    # (the bare ``llama_index`` namespace package is found, not run, when locating Punkt's data)
    assert not any(m.startswith("llama_index.") for m in res["mods"]), res["mods"]
    # only Punkt's leaf modules, never the package's __init__ (which pulls in nltk.corpus, nltk.parse, ...)
    assert "nltk" not in res["mods"] and "nltk.corpus" not in res["mods"], res["mods"]
    assert len(res["spans"]) == 5


def test_punkt_matches_nltk_and_nltk_still_imports_afterwards():
    res = _run(
        "import json, pathlib\n"
        "from rag.text.sentences import _punkt\n"
        "ours = _punkt()\n"
        "import nltk, nltk.data, llama_index.core\n"  # the real package must still import cleanly
        "from nltk.tokenize import PunktTokenizer, sent_tokenize\n"
        "nltk.data.path.append(str(pathlib.Path(llama_index.core.__file__).parent / '_static' / 'nltk_cache'))\n"
        "ref = PunktTokenizer('english')\n"
        "ref._params.abbrev_types.update(ours._params.abbrev_types)\n"
        f"text = {SAMPLE!r}\n"
        "print(json.dumps({'same_params': ref._params.collocations == ours._params.collocations and "
        "ref._params.sent_starters == ours._params.sent_starters and "
        "dict(ref._params.ortho_context) == dict(ours._params.ortho_context), "
        "'ours': list(ours.span_tokenize(text)), 'ref': list(ref.span_tokenize(text)), "
        "'sent_tokenize': len(sent_tokenize('One. Two.'))}))\n"
    )
    assert res["same_params"]
    assert res["ours"] == res["ref"]
    assert res["sent_tokenize"] == 2


def test_llama_index_retriever_adapter(seed_assistant):
    from llama_index.core.schema import NodeWithScore

    from rag.retrieve.hybrid import HybridSearch
    from rag.retrieve.llamaindex import HybridRetriever

    nodes = seed_assistant.retriever(k=3).retrieve("mortar rounds embassy compound")
    assert nodes and all(isinstance(n, NodeWithScore) for n in nodes)
    passages = HybridSearch(seed_assistant.index, top_k=3).search("mortar rounds embassy compound")
    assert [n.node.node_id for n in nodes] == [p.chunk_id for p in passages]
    assert HybridRetriever is type(seed_assistant.retriever())
