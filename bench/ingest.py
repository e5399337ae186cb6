"""``python -m bench ingest``: articles/s of our ingest vs the llama-index default vs raw encode.

The unit is the one a user feels: **articles from files to a queryable index** (load, clean, chunk,
embed, Chroma upsert, BM25, manifest). All pipelines see the same synthetic corpus
(``bench.corpus``, from ``--seed``), each in its own subprocess (so ``peak_rss_mb`` is that
pipeline's), model loaded and warmed before the clock. Repeats are interleaved (A B C A B C ...);
each figure is the **median** over the repeats, and a ratio is the median of the per-repeat ratios
(both sides measured back to back, so a burst of outside load hurts them alike).

* ours: the full pipeline with the settings in force (by default ``embed_precision=auto``: int8 with nncf
  installed, and 256-token chunks).
* ours, int8: the same with ``RAG_EMBED_PRECISION=int8``, only when another precision is configured (e.g.
  ``RAG_EMBED_PRECISION=default``, the vectors of indexes built before 2026-12-07); ``--no-int8`` skips it.
* ours, f32 forced: the same with OpenVINO's inference-precision hint at f32
  (``RAG_OV_INFERENCE_PRECISION=f32``): what a CPU without bf16 (AVX2/AVX-512 without BF16) gets.
* raw: ``SentenceTransformer.encode`` of exactly our chunk texts, same model, same batch size: the
  PyTorch floor for the embedding work alone.
* llama-index default: ``VectorStoreIndex.from_documents`` into Chroma (``ChromaVectorStore``) with
  ``HuggingFaceEmbedding(model_name=<local path>)``, every setting left at its default (1024-token
  ``SentenceSplitter`` chunks, which the 256-token model then truncates; batch size 10).
* llama-index same chunks (extra): our chunk texts as ``TextNode``s through llama-index + Chroma with
  our batch size: like-for-like on identical work.
* ``--variant NAME:VAR=VAL,...`` (extra, repeatable): our pipeline again under other ``RAG_*``
  settings, e.g. ``--variant old:RAG_CHUNK_TOKENS=200,RAG_CHUNK_OVERLAP_SENTENCES=1`` (lever checks).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.common import bench_env, cpu_info, emit, run_worker, table
from bench.corpus import generate, write_jsonl
from rag.index.embeddings import nncf_available

F32_ENV = {"RAG_OV_INFERENCE_PRECISION": "f32"}
INT8_ENV = {"RAG_EMBED_PRECISION": "int8"}


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--articles", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeat", type=int, default=3, help="interleaved repeats; figures are medians")
    p.add_argument("--no-same-chunks", action="store_true", help="skip the llama-index same-chunks run")
    p.add_argument("--no-f32", action="store_true", help="skip the forced-f32 run of our pipeline")
    p.add_argument("--no-int8", action="store_true", help="skip the int8 run of our pipeline")
    p.add_argument("--no-raw", action="store_true", help="skip raw encode (lever checks; its fields are then 0)")
    p.add_argument("--compare-torch", action="store_true", help="also run our pipeline on PyTorch embeddings")
    p.add_argument("--variant", action="append", default=[], metavar="NAME:VAR=VAL,...",
                   help="also run our pipeline with these RAG_* environment settings (repeatable)")


def parse_variant(spec: str) -> tuple[str, dict[str, str]]:
    name, _, assigns = spec.partition(":")
    env = {}
    for kv in filter(None, assigns.split(",")):
        k, sep, v = kv.partition("=")
        if not sep or not k.strip():
            raise SystemExit(f"--variant {spec!r}: expected NAME:VAR=VAL[,VAR=VAL...]")
        env[k.strip()] = v.strip()
    if not name.strip():
        raise SystemExit(f"--variant {spec!r}: the variant needs a name")
    return name.strip(), env


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else 0.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {}
    variants = [parse_variant(v) for v in args.variant]
    from rag.settings import Settings

    # the int8 row only when the pipeline in force is not already int8 (auto = int8 with nncf, the default)
    with_int8 = not args.no_int8 and nncf_available() and Settings().embed_precision not in ("auto", "int8")

    def keep(name: str, res: dict[str, Any]) -> None:
        runs.setdefault(name, []).append(res)

    with tempfile.TemporaryDirectory(prefix="newsrag-bench-") as tmp:
        t = Path(tmp)
        corpus = write_jsonl(generate(args.articles, args.seed), t / "corpus.jsonl")
        chunks_file = t / "chunks.json"
        for r in range(max(1, args.repeat)):
            def ours(name: str, env: dict[str, str] | None = None, first: bool = False, r: int = r) -> None:
                keep(name, run_worker("ingest_ours", {
                    "corpus": str(corpus), "index_dir": str(t / f"{name}{r}"), "batch_size": args.batch_size,
                    "chunks_out": str(chunks_file) if first else ""}, env=bench_env(**(env or {}))))

            ours("ours", first=r == 0)
            keep("llamaindex", run_worker("ingest_llamaindex", {"corpus": str(corpus), "chroma_dir": str(t / f"li{r}"),
                                                                "batch_size": args.batch_size}))
            if not args.no_f32:
                ours("ours_f32", F32_ENV)
            if with_int8:
                ours("ours_int8", INT8_ENV)
            for vname, venv in variants:
                ours(f"variant_{vname}", venv)
            if args.compare_torch:
                ours("ours_torch", {"RAG_EMBED_BACKEND": "torch"})
            if not args.no_raw:
                keep("raw", run_worker("encode_raw", {"chunks_file": str(chunks_file),
                                                      "batch_size": args.batch_size}))
            if not args.no_same_chunks:
                keep("llamaindex_same", run_worker("ingest_llamaindex", {
                    "corpus": str(corpus), "chroma_dir": str(t / f"lis{r}"), "batch_size": args.batch_size,
                    "same_chunks": True, "chunks_file": str(chunks_file)}))

    n = args.articles
    li = runs["llamaindex"]

    def summary(name: str) -> dict[str, Any]:
        rs = runs[name]
        sec = _median([x["seconds"] for x in rs])
        chunks = rs[0]["chunks"]
        out = {"chunks": chunks, "seconds": round(sec, 3), "seconds_runs": [round(x["seconds"], 3) for x in rs],
               "chunks_per_s": round(chunks / sec, 2) if sec else 0.0,
               "articles_per_s": round(n / sec, 3) if sec else 0.0,
               "peak_rss_mb": max(x["peak_rss_mb"] for x in rs)}
        if name != "llamaindex":
            # per-repeat ratio: this run against the llama-index run of the same repeat
            out["ratio_vs_llamaindex_articles_per_s"] = round(_median(
                [b["seconds"] / a["seconds"] for a, b in zip(rs, li, strict=False) if a["seconds"]]), 3)
        for k in ("backend", "precision", "inference_precision", "truncated_chunks", "embedded_tokens",
                  "chunk_tokens_p50", "model_window"):
            if k in rs[0]:
                out[k] = rs[0][k]
        return out

    if "raw" not in runs:  # --no-raw
        runs["raw"] = [{"seconds": 0.0, "chunks": runs["ours"][0]["chunks"], "peak_rss_mb": 0.0}]
    ours, raw, lid = summary("ours"), summary("raw"), summary("llamaindex")
    words = sum(len(a.text.split()) for a in generate(n, args.seed))
    out: dict[str, Any] = {
        # the DESIGN contract (chunks/s: a detail since articles/s became the headline)
        "articles": n,
        "chunks": ours["chunks"],
        "ours_chunks_per_s": ours["chunks_per_s"],
        "raw_encode_chunks_per_s": raw["chunks_per_s"],
        "llamaindex_default_chunks_per_s": lid["chunks_per_s"],
        "ratio_vs_raw": round(raw["seconds"] / ours["seconds"], 3) if raw["seconds"] else 0.0,
        "ratio_vs_llamaindex": round(ours["chunks_per_s"] / lid["chunks_per_s"], 3),
        "peak_rss_mb": ours["peak_rss_mb"],
        # the headline: articles from files to a queryable index, per second
        "ours_articles_per_s": ours["articles_per_s"],
        "llamaindex_default_articles_per_s": lid["articles_per_s"],
        "raw_encode_articles_per_s": raw["articles_per_s"],
        "ratio_vs_llamaindex_articles_per_s": ours["ratio_vs_llamaindex_articles_per_s"],
        "truncated_chunks": ours["truncated_chunks"],
        "cpu": cpu_info(),
        "precision": ours["precision"],
        "inference_precision": ours["inference_precision"],
        # context for reading the ratios
        "seed": args.seed,
        "batch_size": args.batch_size,
        "repeat": args.repeat,
        "statistic": "median of interleaved repeats; ratios are medians of per-repeat ratios",
        "corpus_words": words,
        "ours_backend": ours["backend"],
        "ours_precision": ours["precision"],
        "ours_seconds": ours["seconds"],
        "ours_seconds_runs": ours["seconds_runs"],
        "ours_embedded_tokens": ours["embedded_tokens"],
        "ours_chunk_tokens_p50": ours["chunk_tokens_p50"],
        "model_window_tokens": ours["model_window"],
        "raw_encode_seconds": raw["seconds"],
        "raw_peak_rss_mb": raw["peak_rss_mb"],
        "llamaindex_default_chunks": lid["chunks"],
        "llamaindex_default_seconds": lid["seconds"],
        "llamaindex_default_seconds_runs": lid["seconds_runs"],
        "llamaindex_default_peak_rss_mb": lid["peak_rss_mb"],
        "llamaindex_default_truncated_chunks": lid["truncated_chunks"],
        "llamaindex_default_embedded_tokens": lid["embedded_tokens"],
    }
    if "ours_f32" in runs:
        f = summary("ours_f32")
        out["f32_forced"] = {
            "how": "RAG_OV_INFERENCE_PRECISION=f32: OpenVINO's inference-precision hint at f32 (a CPU without bf16)",
            "precision": f["precision"], "inference_precision": f["inference_precision"],
            "ours_articles_per_s": f["articles_per_s"], "llamaindex_default_articles_per_s": lid["articles_per_s"],
            "ratio_vs_llamaindex_articles_per_s": f["ratio_vs_llamaindex_articles_per_s"],
            "truncated_chunks": f["truncated_chunks"], "chunks": f["chunks"], "ours_chunks_per_s": f["chunks_per_s"],
            "ours_seconds": f["seconds"], "ours_seconds_runs": f["seconds_runs"], "peak_rss_mb": f["peak_rss_mb"]}
    if "ours_int8" in runs:
        q = summary("ours_int8")
        out["int8"] = {
            "how": "RAG_EMBED_PRECISION=int8: the NNCF-quantised embedding model (beside another configured precision)",
            "precision": q["precision"], "inference_precision": q["inference_precision"],
            "ours_articles_per_s": q["articles_per_s"], "llamaindex_default_articles_per_s": lid["articles_per_s"],
            "ratio_vs_llamaindex_articles_per_s": q["ratio_vs_llamaindex_articles_per_s"],
            "truncated_chunks": q["truncated_chunks"], "chunks": q["chunks"], "ours_chunks_per_s": q["chunks_per_s"],
            "ours_seconds": q["seconds"], "ours_seconds_runs": q["seconds_runs"], "peak_rss_mb": q["peak_rss_mb"]}
    if variants:
        out["variants"] = {v: {"env": env, **summary(f"variant_{v}")} for v, env in variants}
    if "llamaindex_same" in runs:
        ls = summary("llamaindex_same")
        out.update(llamaindex_same_chunks_chunks_per_s=ls["chunks_per_s"],
                   llamaindex_same_chunks_peak_rss_mb=ls["peak_rss_mb"],
                   ratio_vs_llamaindex_same_chunks=round(ls["seconds"] / ours["seconds"], 3))
    if "ours_torch" in runs:
        ot = summary("ours_torch")
        out.update(ours_torch_chunks_per_s=ot["chunks_per_s"], ours_torch_peak_rss_mb=ot["peak_rss_mb"],
                   ratio_openvino_vs_torch=round(ot["seconds"] / ours["seconds"], 3))
    return out


def report(res: dict[str, Any]) -> str:
    n = res["articles"]
    li_s = res["llamaindex_default_seconds"]

    def row(name: str, chunks: int, seconds: float, rss: float, truncated: Any = "", ratio: Any = None) -> dict:
        return {"pipeline": name, "articles/s": round(n / seconds, 2) if seconds else 0.0,
                "vs default": ratio if ratio is not None else (round(li_s / seconds, 2) if seconds else 0.0),
                "chunks": chunks, "chunks/s": round(chunks / seconds, 2) if seconds else 0.0,
                "truncated": truncated, "seconds": seconds, "peak RSS MB": rss}

    rows = [row(f"ours ({res['ours_backend']} {res['precision']}, float ops {res['inference_precision']})",
                res["chunks"], res["ours_seconds"], res["peak_rss_mb"], res["truncated_chunks"],
                res["ratio_vs_llamaindex_articles_per_s"])]
    f = res.get("f32_forced")
    if f:
        rows.append(row(f"ours, f32 forced ({f['precision']}, float ops {f['inference_precision']})", f["chunks"],
                        f["ours_seconds"], f["peak_rss_mb"], f["truncated_chunks"],
                        f["ratio_vs_llamaindex_articles_per_s"]))
    q = res.get("int8")
    if q:
        rows.append(row(f"ours, int8 ({q['precision']}, float ops {q['inference_precision']})", q["chunks"],
                        q["ours_seconds"], q["peak_rss_mb"], q["truncated_chunks"],
                        q["ratio_vs_llamaindex_articles_per_s"]))
    for name, v in res.get("variants", {}).items():
        rows.append(row(f"variant {name} ({v.get('precision')})", v["chunks"], v["seconds"], v["peak_rss_mb"],
                        v.get("truncated_chunks", ""), v["ratio_vs_llamaindex_articles_per_s"]))
    if "ours_torch_chunks_per_s" in res:
        sec = round(res["chunks"] / res["ours_torch_chunks_per_s"], 3)
        rows.append(row("ours (torch f32)", res["chunks"], sec, res["ours_torch_peak_rss_mb"]))
    if res["raw_encode_seconds"]:
        rows.append(row("raw SentenceTransformer.encode of our chunks (embedding only)", res["chunks"],
                        res["raw_encode_seconds"], res["raw_peak_rss_mb"]))
    rows.append(row("llama-index default", res["llamaindex_default_chunks"], li_s,
                    res["llamaindex_default_peak_rss_mb"], res["llamaindex_default_truncated_chunks"], 1.0))
    if "llamaindex_same_chunks_chunks_per_s" in res:
        sec = round(res["chunks"] / res["llamaindex_same_chunks_chunks_per_s"], 3)
        rows.append(row("llama-index, our chunks", res["chunks"], sec, res["llamaindex_same_chunks_peak_rss_mb"]))
    cpu = res["cpu"]
    head = (f"ingest: {n} synthetic articles (seed {res['seed']}, {res['corpus_words']:,} words), batch "
            f"{res['batch_size']}, median of {res['repeat']} interleaved run(s); CPU {cpu['model']} "
            f"[{' '.join(cpu['extensions']) or 'no AVX2'}]\n")
    foot = (f"\nheadline: ours {res['ours_articles_per_s']} articles/s vs llama-index default "
            f"{res['llamaindex_default_articles_per_s']}: {res['ratio_vs_llamaindex_articles_per_s']}x"
            + (f" (f32 forced: {f['ratio_vs_llamaindex_articles_per_s']}x)" if f else "")
            + f".\nTruncated chunks (longer than the model's {res['model_window_tokens']}-token window): ours "
            f"{res['truncated_chunks']}, llama-index default {res['llamaindex_default_truncated_chunks']} of "
            f"{res['llamaindex_default_chunks']} (it embeds {res['llamaindex_default_embedded_tokens']:,} tokens, "
            f"ours {res['ours_embedded_tokens']:,}: every token of every article).")
    cols = ["pipeline", "articles/s", "vs default", "chunks", "chunks/s", "truncated", "seconds", "peak RSS MB"]
    return head + table(rows, cols) + foot


def main(args: argparse.Namespace) -> int:
    res = run(args)
    emit("ingest", res, report(res), args.json, getattr(args, "out", None))
    return 0
