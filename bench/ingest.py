"""``python -m bench ingest``: our ingest vs raw ``SentenceTransformer.encode`` vs llama-index defaults.

All pipelines see the same synthetic corpus (``bench.corpus``, from ``--seed``), each in its own
subprocess (so ``peak_rss_mb`` is that pipeline's), model loaded and warmed before the clock.

* ours: the full pipeline (load, clean, chunk, embed, Chroma upsert, BM25, manifest).
* raw: ``SentenceTransformer.encode`` of exactly our chunk texts, same model, same batch size: the
  PyTorch floor for the embedding work alone.
* llama-index default: ``VectorStoreIndex.from_documents`` into Chroma (``ChromaVectorStore``) with
  ``HuggingFaceEmbedding(model_name=<local path>)``, every setting left at its default (1024-token
  ``SentenceSplitter`` chunks, which the 256-token model then truncates; batch size 10).
* llama-index same chunks (extra): our chunk texts as ``TextNode``s through llama-index + Chroma with
  our batch size: like-for-like on identical work.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench.common import emit, run_worker, table
from bench.corpus import generate, write_jsonl


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--articles", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeat", type=int, default=1, help="interleaved repeats; each pipeline keeps its best")
    p.add_argument("--no-same-chunks", action="store_true", help="skip the llama-index same-chunks run")
    p.add_argument("--compare-torch", action="store_true", help="also run our pipeline on PyTorch embeddings")


def run(args: argparse.Namespace) -> dict[str, Any]:
    best: dict[str, dict[str, Any]] = {}

    def keep(name: str, res: dict[str, Any]) -> None:
        res["chunks_per_s"] = res["chunks"] / res["seconds"] if res["seconds"] > 0 else 0.0
        old = best.get(name)
        rss = max(res["peak_rss_mb"], old["peak_rss_mb"]) if old else res["peak_rss_mb"]
        if old is None or res["chunks_per_s"] > old["chunks_per_s"]:
            best[name] = res
        best[name]["peak_rss_mb"] = rss
        best[name]["runs"] = (old or {}).get("runs", 0) + 1

    with tempfile.TemporaryDirectory(prefix="newsrag-bench-") as tmp:
        t = Path(tmp)
        corpus = write_jsonl(generate(args.articles, args.seed), t / "corpus.jsonl")
        chunks_file = t / "chunks.json"
        for r in range(max(1, args.repeat)):
            keep("ours", run_worker("ingest_ours", {"corpus": str(corpus), "index_dir": str(t / f"ours{r}"),
                                                    "batch_size": args.batch_size,
                                                    "chunks_out": str(chunks_file) if r == 0 else ""}))
            if args.compare_torch:
                from bench.common import bench_env

                keep("ours_torch", run_worker("ingest_ours", {
                    "corpus": str(corpus), "index_dir": str(t / f"ourst{r}"), "batch_size": args.batch_size},
                    env=bench_env(RAG_EMBED_BACKEND="torch")))
            keep("raw", run_worker("encode_raw", {"chunks_file": str(chunks_file), "batch_size": args.batch_size}))
            keep("llamaindex", run_worker("ingest_llamaindex", {"corpus": str(corpus), "chroma_dir": str(t / f"li{r}"),
                                                                "batch_size": args.batch_size}))
            if not args.no_same_chunks:
                keep("llamaindex_same", run_worker("ingest_llamaindex", {
                    "corpus": str(corpus), "chroma_dir": str(t / f"lis{r}"), "batch_size": args.batch_size,
                    "same_chunks": True, "chunks_file": str(chunks_file)}))

    ours, raw, li = best["ours"], best["raw"], best["llamaindex"]
    words = sum(len(a.text.split()) for a in generate(args.articles, args.seed))
    out: dict[str, Any] = {
        "articles": args.articles,
        "chunks": ours["chunks"],
        "ours_chunks_per_s": round(ours["chunks_per_s"], 2),
        "raw_encode_chunks_per_s": round(raw["chunks_per_s"], 2),
        "llamaindex_default_chunks_per_s": round(li["chunks_per_s"], 2),
        "ratio_vs_raw": round(ours["chunks_per_s"] / raw["chunks_per_s"], 3),
        "ratio_vs_llamaindex": round(ours["chunks_per_s"] / li["chunks_per_s"], 3),
        "peak_rss_mb": ours["peak_rss_mb"],
        # extras: context for reading the ratios
        "seed": args.seed,
        "batch_size": args.batch_size,
        "repeat": args.repeat,
        "corpus_words": words,
        "ours_backend": ours.get("backend"),
        "ours_precision": ours.get("precision"),
        "ours_seconds": round(ours["seconds"], 3),
        "ours_articles_per_s": round(args.articles / ours["seconds"], 3),
        "raw_encode_seconds": round(raw["seconds"], 3),
        "raw_peak_rss_mb": raw["peak_rss_mb"],
        "llamaindex_default_chunks": li["chunks"],
        "llamaindex_default_seconds": round(li["seconds"], 3),
        "llamaindex_default_articles_per_s": round(args.articles / li["seconds"], 3),
        "llamaindex_default_peak_rss_mb": li["peak_rss_mb"],
        "ratio_vs_llamaindex_articles_per_s": round(li["seconds"] / ours["seconds"], 3),
    }
    if "llamaindex_same" in best:
        ls = best["llamaindex_same"]
        out.update(llamaindex_same_chunks_chunks_per_s=round(ls["chunks_per_s"], 2),
                   llamaindex_same_chunks_peak_rss_mb=ls["peak_rss_mb"],
                   ratio_vs_llamaindex_same_chunks=round(ours["chunks_per_s"] / ls["chunks_per_s"], 3))
    if "ours_torch" in best:
        ot = best["ours_torch"]
        out.update(ours_torch_chunks_per_s=round(ot["chunks_per_s"], 2), ours_torch_peak_rss_mb=ot["peak_rss_mb"],
                   ratio_openvino_vs_torch=round(ours["chunks_per_s"] / ot["chunks_per_s"], 3))
    return out


def report(res: dict[str, Any]) -> str:
    rows = [{"pipeline": f"ours ({res['ours_backend']} {res['ours_precision']})", "chunks": res["chunks"],
             "seconds": res["ours_seconds"], "chunks/s": res["ours_chunks_per_s"], "ours ÷ this": 1.0,
             "peak RSS MB": res["peak_rss_mb"]}]
    if "ours_torch_chunks_per_s" in res:
        rows.append({"pipeline": "ours (torch f32)", "chunks": res["chunks"],
                     "seconds": round(res["chunks"] / res["ours_torch_chunks_per_s"], 3),
                     "chunks/s": res["ours_torch_chunks_per_s"], "ours ÷ this": res["ratio_openvino_vs_torch"],
                     "peak RSS MB": res["ours_torch_peak_rss_mb"]})
    rows.append({"pipeline": "raw SentenceTransformer.encode", "chunks": res["chunks"],
                 "seconds": res["raw_encode_seconds"], "chunks/s": res["raw_encode_chunks_per_s"],
                 "ours ÷ this": res["ratio_vs_raw"], "peak RSS MB": res["raw_peak_rss_mb"]})
    rows.append({"pipeline": "llama-index default", "chunks": res["llamaindex_default_chunks"],
                 "seconds": res["llamaindex_default_seconds"], "chunks/s": res["llamaindex_default_chunks_per_s"],
                 "ours ÷ this": res["ratio_vs_llamaindex"], "peak RSS MB": res["llamaindex_default_peak_rss_mb"]})
    if "llamaindex_same_chunks_chunks_per_s" in res:
        rows.append({"pipeline": "llama-index, our chunks", "chunks": res["chunks"],
                     "seconds": round(res["chunks"] / res["llamaindex_same_chunks_chunks_per_s"], 3),
                     "chunks/s": res["llamaindex_same_chunks_chunks_per_s"],
                     "ours ÷ this": res["ratio_vs_llamaindex_same_chunks"],
                     "peak RSS MB": res["llamaindex_same_chunks_peak_rss_mb"]})
    head = (f"ingest: {res['articles']} synthetic articles (seed {res['seed']}, {res['corpus_words']:,} words), "
            f"batch {res['batch_size']}, best of {res['repeat']} interleaved run(s)\n")
    foot = (f"\narticles/s: ours {res['ours_articles_per_s']}, llama-index default "
            f"{res['llamaindex_default_articles_per_s']} (its 1024-token chunks are truncated to 256 tokens "
            "when embedded, so it embeds less of each article)")
    return head + table(rows, ["pipeline", "chunks", "seconds", "chunks/s", "ours ÷ this", "peak RSS MB"]) + foot


def main(args: argparse.Namespace) -> int:
    res = run(args)
    emit("ingest", res, report(res), args.json, getattr(args, "out", None))
    return 0
