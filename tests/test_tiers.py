"""The test tiers (tests/conftest.py) and the unit tier's stand-ins (tests/fakes.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from fakes import HashingEmbedder

pytestmark = pytest.mark.unit


def test_every_collected_test_has_exactly_one_tier(request):
    for item in request.session.items:
        tiers = [t for t in ("unit", "integration", "slow") if item.get_closest_marker(t) is not None]
        assert len(tiers) == 1, (item.nodeid, tiers)
        if item.get_closest_marker("browser") is not None:
            assert tiers == ["slow"], item.nodeid


def test_the_unit_tier_refuses_the_real_embedder_chroma_llama_cpp_and_python_children(tmp_path):
    from rag.answer.backends import local
    from rag.index.chroma_store import ChromaStore
    from rag.index.embeddings import Embedder
    from rag.settings import Settings

    with pytest.raises(AssertionError, match="loaded the real embedding model"):
        Embedder().dim  # noqa: B018
    with pytest.raises(AssertionError, match="opened Chroma"):
        ChromaStore(Settings(index_dir=tmp_path), "m", 3)
    with pytest.raises(AssertionError, match="started the local LLM"):
        local._start(tmp_path / "x.gguf", None)
    with pytest.raises(AssertionError, match="spawned a Python process"):
        subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_hashing_embedder_has_the_real_embedders_interface():
    from rag.index.embeddings import Embedder

    fake = HashingEmbedder()
    for name in ("model_id", "dim", "max_seq_length", "tokenizer", "batch_size", "encode", "encode_one",
                 "backend", "model_name"):
        assert hasattr(Embedder, name) or name in Embedder().__dict__, name
        assert hasattr(fake, name), name


def test_hashing_embedder_is_deterministic_normalised_and_word_sensitive():
    fake = HashingEmbedder(dim=64)
    vecs = fake.encode(["mortar rounds hit the embassy", "mortar rounds hit the embassy", "a dam collapsed"])
    assert vecs.shape == (3, 64) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0)
    assert np.array_equal(vecs[0], vecs[1])
    near = float(vecs[0] @ fake.encode_one("embassy mortar rounds"))
    far = float(vecs[0] @ vecs[2])
    assert near > far
    enc = fake.tokenizer(["Mr. Austin said no."], add_special_tokens=False, return_offsets_mapping=True)
    text = "Mr. Austin said no."
    assert [text[s:e] for s, e in enc["offset_mapping"][0]] == ["Mr", ".", "Austin", "said", "no", "."]
