"""``python -m bench embeddings``: the OpenVINO embedding backend vs PyTorch fp32, same model.

* speed: ``Embedder.encode`` of the same chunk texts, same batch size, interleaved repeats;
* determinism: each text's vector encoded alone, in reverse order and mixed with other texts, vs
  in one batch (max abs diff, min cosine), for both backends;
* agreement: OpenVINO vs PyTorch vectors of the same texts;
* retrieval: hit@5 (a gold article among the top 5 passages) on the eval questions
  (``eval/qa/news.jsonl`` over ``eval/corpus``) and on the synthetic corpus's fact questions, with an
  index built by each backend; hybrid (what the product uses) and dense-only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import emit, table
from bench.evalset import CORPUS, QUESTIONS

BACKENDS = ("openvino", "torch")


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--texts", type=int, default=400, help="chunk texts for the speed/determinism checks")
    p.add_argument("--articles", type=int, default=60, help="synthetic articles for the retrieval check")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)


def _embedder(backend: str, batch_size: int):
    from rag.index.embeddings import Embedder

    e = Embedder(batch_size=batch_size, backend=backend)
    e.encode(["warm-up"])
    if e.backend != backend:
        raise RuntimeError(f"backend {backend} unavailable (got {e.backend})")
    return e


def _diff(a, b) -> tuple[float, float]:
    import numpy as np

    return float(np.abs(a - b).max()), float((a * b).sum(1).min())


def speed_and_determinism(texts: list[str], batch_size: int, repeat: int, seed: int) -> dict[str, Any]:
    import numpy as np

    embs = {b: _embedder(b, batch_size) for b in BACKENDS}
    best = {b: float("inf") for b in BACKENDS}
    vecs = {}
    for _ in range(max(1, repeat)):
        for b, e in embs.items():
            t0 = time.perf_counter()
            vecs[b] = e.encode(texts)
            best[b] = min(best[b], time.perf_counter() - t0)
    out: dict[str, Any] = {"texts": len(texts), "batch_size": batch_size,
                           "precision": embs["openvino"]._ov.precision}
    for b in BACKENDS:
        out[f"{b}_texts_per_s"] = round(len(texts) / best[b], 2)
    out["speedup"] = round(best["torch"] / best["openvino"], 3)
    r = random.Random(seed)
    sample = list(range(min(48, len(texts))))
    others = [texts[r.randrange(len(texts))] for _ in range(40)]
    for b, e in embs.items():
        ref = vecs[b][sample]
        alone = np.stack([e.encode([texts[i]])[0] for i in sample])
        rev = e.encode([texts[i] for i in sample][::-1])[::-1]
        mixed = e.encode([texts[i] for i in sample] + others)[: len(sample)]
        worst = [_diff(ref, x) for x in (alone, rev, mixed)]
        out[f"{b}_batch_max_abs_diff"] = max(w[0] for w in worst)
        out[f"{b}_batch_min_cosine"] = min(w[1] for w in worst)
    d, c = _diff(vecs["openvino"], vecs["torch"])
    out["ov_vs_torch_max_abs_diff"], out["ov_vs_torch_min_cosine"] = d, c
    return out


def _hit_at_5(backend: str, corpus: Path, qs: list[tuple[str, set[str]]], index_dir: Path) -> dict[str, float]:
    from rag.api import Assistant
    from rag.retrieve.hybrid import HybridSearch
    from rag.settings import Settings

    os.environ["RAG_EMBED_BACKEND"] = backend
    try:
        a = Assistant(Settings(index_dir=index_dir, backend="extractive"))
        a.ingest([corpus])
        index = a.index
        if index.embedder.backend != backend:
            raise RuntimeError(f"index built with {index.embedder.backend}, wanted {backend}")
        hyb = dense = 0
        for q, gold in qs:
            top = HybridSearch(index, top_k=5).search(q)
            hyb += any(p.meta.get("ext_id") in gold for p in top)
            vec = index.embedder.encode_one(q)
            hits = index.chroma.query(list(map(float, vec)), 5)
            dense += any(m.get("ext_id") in gold for _, _, _, m in hits)
        a.close()
    finally:
        os.environ.pop("RAG_EMBED_BACKEND", None)
    n = max(1, len(qs))
    return {"hybrid_hit_at_5": round(hyb / n, 4), "dense_hit_at_5": round(dense / n, 4), "questions": len(qs)}


def retrieval(articles: int, seed: int) -> dict[str, Any]:
    from bench.corpus import generate, write_jsonl

    eval_qs = []
    for line in QUESTIONS.read_text("utf-8").splitlines():
        q = json.loads(line) if line.strip() else None
        if q and q.get("answerable") and not q.get("history") and q.get("gold_evidence"):
            eval_qs.append((q["question"], {g["doc"] for g in q["gold_evidence"]}))
    arts = generate(articles, seed)
    syn_qs = [(a.question, {a.id}) for a in arts]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="newsrag-bench-emb-") as tmp:
        syn = write_jsonl(arts, Path(tmp) / "syn.jsonl")
        for b in BACKENDS:
            out[f"eval_{b}"] = _hit_at_5(b, CORPUS, eval_qs, Path(tmp) / f"eval-{b}")
            out[f"synthetic_{b}"] = _hit_at_5(b, syn, syn_qs, Path(tmp) / f"syn-{b}")
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.corpus import chunk_texts

    texts = chunk_texts(args.texts, args.seed)
    r = random.Random(args.seed)
    texts = [t if i % 3 else " ".join(t.split()[: r.randrange(5, 60)]) for i, t in enumerate(texts)]  # mixed lengths
    res = {"speed": speed_and_determinism(texts, args.batch_size, args.repeat, args.seed),
           "retrieval": retrieval(args.articles, args.seed)}
    return res


def report(res: dict[str, Any]) -> str:
    s = res["speed"]
    rows = [{"backend": f"openvino ({s['precision']})", "texts/s": s["openvino_texts_per_s"],
             "max |diff| across batches": f"{s['openvino_batch_max_abs_diff']:.2e}",
             "min cos across batches": f"{s['openvino_batch_min_cosine']:.6f}"},
            {"backend": "torch (f32)", "texts/s": s["torch_texts_per_s"],
             "max |diff| across batches": f"{s['torch_batch_max_abs_diff']:.2e}",
             "min cos across batches": f"{s['torch_batch_min_cosine']:.6f}"}]
    r = res["retrieval"]
    rows2 = []
    for ds in ("eval", "synthetic"):
        for b in BACKENDS:
            x = r[f"{ds}_{b}"]
            rows2.append({"questions": f"{ds} ({x['questions']})", "backend": b,
                          "hybrid hit@5": x["hybrid_hit_at_5"], "dense hit@5": x["dense_hit_at_5"]})
    return (f"embeddings: {s['texts']} texts, batch {s['batch_size']}; OpenVINO is {s['speedup']}x PyTorch\n"
            + table(rows, ["backend", "texts/s", "max |diff| across batches", "min cos across batches"])
            + f"\nOpenVINO vs PyTorch vectors: max |diff| {s['ov_vs_torch_max_abs_diff']:.2e}, "
              f"min cosine {s['ov_vs_torch_min_cosine']:.6f}\n\n"
            + table(rows2, ["questions", "backend", "hybrid hit@5", "dense hit@5"]))


def main(args: argparse.Namespace) -> int:
    res = run(args)
    emit("embeddings", res, report(res), args.json, getattr(args, "out", None))
    return 0
