"""The embedding backends: OpenVINO (default when installed) and PyTorch give the same vector space,
the OpenVINO vectors do not depend on batch composition, and the tokenizers agree."""

from __future__ import annotations

import numpy as np
import pytest

from rag.types import RagError

TEXTS = [
    "The harbour of Velmora reopened on Monday after three weeks of repairs.",
    "Officials said 43 cargo ships had been waiting offshore.",
    "Kata'ib Hezbollah's leader Abu Ali al-Askari promised more strikes on American troops in Iraq, "
    "and the Pentagon chief spoke to the Iraqi prime minister about the attacks on Ain al-Asad airbase. " * 3,
    "Short.",
    "Inspectors found 17 cracks in the Korrin dam spillway on Wednesday, the water board said.",
]


@pytest.fixture(scope="module")
def embedders():
    pytest.importorskip("openvino")
    from rag.index.embeddings import Embedder

    ov, pt = Embedder(backend="openvino"), Embedder(backend="torch")
    assert ov.backend == "openvino" and pt.backend == "torch"
    return ov, pt


def test_same_identity_and_space(embedders):
    ov, pt = embedders
    assert ov.model_id == pt.model_id == "all-MiniLM-L6-v2"
    assert ov.dim == pt.dim == 384 and ov.max_seq_length == pt.max_seq_length
    a, b = ov.encode(TEXTS), pt.encode(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    assert (a * b).sum(1).min() >= 0.9999
    assert np.abs(a - b).max() < 5e-3


def test_openvino_vectors_do_not_depend_on_the_batch(embedders):
    ov, _ = embedders
    together = ov.encode(TEXTS)
    alone = np.stack([ov.encode([t])[0] for t in TEXTS])
    reordered = ov.encode(TEXTS[::-1])[::-1]
    padded_company = ov.encode(TEXTS + ["x " * 200, "y"])[: len(TEXTS)]
    for other in (alone, reordered, padded_company):
        assert np.abs(other - together).max() < 1e-6


def test_tokenizers_agree(embedders):
    ov, pt = embedders
    texts = [TEXTS[2], "U.S. Embassy — “quoted” text, 1,200 rounds; naïve café."]
    kw = {"add_special_tokens": False, "return_offsets_mapping": True, "truncation": False, "verbose": False}
    a, b = ov.tokenizer(texts, **kw), pt.tokenizer(texts, **kw)
    assert a["input_ids"] == [list(x) for x in b["input_ids"]]
    assert [[tuple(o) for o in om] for om in a["offset_mapping"]] == \
        [[tuple(o) for o in om] for om in b["offset_mapping"]]
    assert ov.tokenizer("hello world", add_special_tokens=False)["input_ids"] == \
        pt.tokenizer("hello world", add_special_tokens=False)["input_ids"]


def test_unknown_backend_is_a_clear_error(monkeypatch):
    from rag.index.embeddings import Embedder

    monkeypatch.setenv("RAG_EMBED_BACKEND", "cuda-magic")
    with pytest.raises(RagError, match="RAG_EMBED_BACKEND"):
        Embedder()
