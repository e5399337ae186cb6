"""The embedding backends: OpenVINO (default when installed) and PyTorch give the same vector space,
the OpenVINO vectors do not depend on batch composition, and the tokenizers agree."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from rag.types import RagError

TIER = "integration"  # the tests below load the embedding model or Chroma, or run the CLI (conftest.py)

TEXTS = [
    "The harbour of Velmora reopened on Monday after three weeks of repairs.",
    "Officials said 43 cargo ships had been waiting offshore.",
    "Kata'ib Hezbollah's leader Abu Ali al-Askari promised more strikes on American troops in Iraq, "
    "and the Pentagon chief spoke to the Iraqi prime minister about the attacks on Ain al-Asad airbase. " * 3,
    "Short.",
    "Inspectors found 17 cracks in the Korrin dam spillway on Wednesday, the water board said.",
]


def _need_openvino() -> None:
    import importlib.util

    if importlib.util.find_spec("openvino") is None:  # not importorskip: importing it would phone home
        pytest.skip("openvino is not installed")


@pytest.fixture(scope="module")
def embedders():
    _need_openvino()
    from rag.index.embeddings import Embedder

    # the float model (bf16 where the CPU has it, else f32) is the one that must match PyTorch closely;
    # int8 is checked against it below
    ov, pt = Embedder(backend="openvino", precision="bf16"), Embedder(backend="torch")
    assert ov.backend == "openvino" and pt.backend == "torch"
    return ov, pt


@pytest.fixture(scope="module")
def int8_and_f32():
    _need_openvino()
    import importlib.util

    if importlib.util.find_spec("nncf") is None:
        pytest.skip("nncf is not installed")
    from rag.index.embeddings import Embedder

    q, f = Embedder(backend="openvino", precision="int8"), Embedder(backend="openvino", precision="f32")
    assert q.precision == "int8" and f.precision == "f32"
    return q, f


def test_int8_vectors_stay_close_to_f32(int8_and_f32):
    q, f = int8_and_f32
    a, b = q.encode(TEXTS), f.encode(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-3)
    cos = (a * b).sum(1)
    assert cos.min() > 0.98, cos
    # and the int8 model is not the float one under another name
    assert np.abs(a - b).max() > 1e-4
    # the nearest neighbours agree: each text's int8 vector is closest to its own f32 vector
    assert ((a @ b.T).argmax(1) == np.arange(len(TEXTS))).all()


def test_int8_vectors_do_not_depend_on_the_batch(int8_and_f32):
    q, _ = int8_and_f32
    together = q.encode(TEXTS)
    alone = np.stack([q.encode([t])[0] for t in TEXTS])
    assert np.abs(alone - together).max() < 1e-6


def test_f32_forced_by_the_inference_precision_hint(monkeypatch):
    """RAG_OV_INFERENCE_PRECISION=f32 (the bench's no-bf16 case) runs every float op in f32."""
    _need_openvino()
    from rag.index.embeddings import Embedder, cpu_supports_bf16

    monkeypatch.setenv("RAG_OV_INFERENCE_PRECISION", "f32")
    assert cpu_supports_bf16() is False
    e = Embedder(backend="openvino", precision="bf16")  # asks for bf16: the CPU "has none", so f32
    assert e.precision == "f32" and e._ov.inference_precision == "f32"


def test_default_precision_is_int8_and_the_old_default_is_openvinos_own(monkeypatch):
    """The default (``auto``) is int8 where nncf is installed (it is a dependency). ``default``, the precision
    of indexes built before 2026-12-07, compiles the float IR exactly as before the setting existed (no
    inference-precision hint): those indexes keep their vectors."""
    _need_openvino()
    import importlib.util

    import openvino as ov

    from rag.index.embeddings import Embedder, cpu_supports_bf16
    from rag.settings import Settings

    monkeypatch.delenv("RAG_EMBED_PRECISION", raising=False)
    monkeypatch.delenv("RAG_OV_INFERENCE_PRECISION", raising=False)
    assert Settings().embed_precision == "auto" and Embedder().requested_precision == "auto"
    if importlib.util.find_spec("nncf") is not None:
        auto = Embedder(backend="openvino")
        assert auto.recorded_precision == "int8"  # resolved before loading, as an index open does
        assert auto.precision == "int8" and auto.recorded_precision == "int8"
    e = Embedder(backend="openvino", precision="default")
    assert e.requested_precision == "default" and e.precision != "int8"
    if cpu_supports_bf16():
        assert e._ov._precision_config == {}
    before = ov.Core().compile_model(e._ov._xml, "CPU", {"PERFORMANCE_HINT": "LATENCY"})  # the old compile
    now = np.stack([e.encode([t])[0] for t in TEXTS])
    e._ov.request = before.create_infer_request()
    old = np.stack([e.encode([t])[0] for t in TEXTS])
    assert np.array_equal(now, old)


def test_precision_setting(monkeypatch):
    from rag.index.embeddings import Embedder, get_embedder
    from rag.settings import Settings

    monkeypatch.setenv("RAG_EMBED_PRECISION", "f32")
    assert Settings().embed_precision == "f32"
    assert Embedder().requested_precision == "f32"
    assert get_embedder(precision="int8") is not get_embedder(precision="f32")
    monkeypatch.setenv("RAG_EMBED_PRECISION", "int4")
    with pytest.raises(RagError, match="RAG_EMBED_PRECISION"):
        Embedder()


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


def test_conversion_sends_no_telemetry(tmp_path):
    """OpenVINO's import and converter phone Google Analytics by default; ours must not (offline product).
    Run in a fresh interpreter so that `import openvino` really happens inside the check."""
    _need_openvino()
    import importlib.util
    import subprocess
    import sys

    from conftest import ROOT

    code = r"""
import json, os, sys
import openvino_telemetry
sent = []
for name in ("init", "send_event", "start_session", "send_error", "end_session", "send_stack_trace"):
    setattr(openvino_telemetry.Telemetry, name, (lambda n: lambda self, *a, **k: sent.append(n))(name))
from rag.index.embeddings import Embedder
e = Embedder(backend="openvino", precision=sys.argv[1])
assert e.encode(["a fresh conversion"]).shape == (1, 384)
print(json.dumps(sent))
"""
    # with nncf, the int8 option too: quantising reports through the same telemetry package
    precision = "int8" if importlib.util.find_spec("nncf") is not None else "default"
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # the converter stays quiet by itself on a CI
    env.update(RAG_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code, precision], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list((tmp_path / "openvino").glob("*/model.xml"))  # it really converted, into the temp cache
    if importlib.util.find_spec("nncf") is not None:  # and quantised (NNCF reports through the same package)
        assert list((tmp_path / "openvino").glob("*-int8*/model.xml"))
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("precision", ["default", "bf16", "int8"])
def test_bulk_encodes_match_single_ones(precision):
    """A bulk encode (several batches: the THROUGHPUT streams) gives the vectors a lone text gets (the
    LATENCY request): the index and the queries see the same model."""
    _need_openvino()
    import importlib.util

    if precision == "int8" and importlib.util.find_spec("nncf") is None:
        pytest.skip("nncf is not installed")
    from rag.index.embeddings import Embedder

    e = Embedder(backend="openvino", precision=precision, batch_size=2)
    bulk = e.encode(TEXTS)  # 3 batches of at most 2
    assert e._ov._queue is not None  # the throughput path ran
    alone = np.stack([e.encode([t])[0] for t in TEXTS])
    assert np.abs(bulk - alone).max() < 1e-6


def test_pipelined_steps_give_the_same_vectors():
    """encode_steps (the ingest path: the next step's batches queued while the caller holds the previous
    step) hands back each step in order with exactly encode()'s vectors, and a caller that stops after
    the first step leaves the embedder usable (its running requests are waited for)."""
    _need_openvino()
    from rag.index.embeddings import Embedder

    e = Embedder(backend="openvino", batch_size=2)
    steps = [TEXTS, TEXTS[::-1], TEXTS[:1], []]
    want = [e.encode(s) if s else np.zeros((0, e.dim), np.float32) for s in steps]
    got = list(e.encode_steps(iter(steps)))
    assert [g.shape for g in got] == [w.shape for w in want]
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    gen = e.encode_steps(iter(steps))
    assert np.array_equal(next(gen), want[0])
    gen.close()  # stops while the second step's batches may still run
    assert np.array_equal(e.encode(TEXTS), want[0])
