"""One measured pipeline per process: ``python -m bench.worker TASK '<json args>'``.

Prints one JSON line (``seconds``, counts, ``peak_rss_mb``). Model loading and warm-up happen
before the clock starts in every pipeline alike: the benchmarks compare steady-state ingest.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb, token_stats


def _read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(ln) for ln in fh if ln.strip()]


def ingest_ours(a: dict[str, Any]) -> dict[str, Any]:
    """Our pipeline end to end: load, clean, chunk, embed, Chroma upsert, BM25, manifest."""
    from rag.api import Assistant
    from rag.settings import Settings

    settings = Settings(index_dir=Path(a["index_dir"]), backend="extractive", embed_batch_size=a["batch_size"])
    asst = Assistant(settings)
    index = asst.index  # opens Chroma, loads the embedder
    index.embedder.encode(["warm-up"])
    index.embedder.tokenizer("warm-up")
    from rag.text.sentences import split_sentences

    split_sentences("Warm up the sentence splitter. It loads once per process.")
    t0 = time.perf_counter()
    report = asst.ingest([a["corpus"]])
    seconds = time.perf_counter() - t0
    if report.failed:
        raise RuntimeError(f"ingest failures: {report.failed[:3]}")
    # after the clock: what was embedded, read back from Chroma (the texts the model saw)
    texts = [t for pairs in index.chroma.texts_by_doc(None).values() for _, t in pairs]
    if a.get("chunks_out"):
        Path(a["chunks_out"]).write_text(json.dumps(texts))
    emb = index.embedder
    return {"seconds": seconds, "chunks": report.chunks_added, "articles": report.documents_added,
            "backend": emb.backend, "precision": emb.precision,
            "inference_precision": getattr(emb._ov, "inference_precision", "f32"),
            **token_stats(emb.tokenizer, texts, emb.max_seq_length)}


def encode_raw(a: dict[str, Any]) -> dict[str, Any]:
    """Plain ``SentenceTransformer.encode`` of exactly our chunk texts, same model, same batch size."""
    from sentence_transformers import SentenceTransformer

    from rag.index.embeddings import resolve_model_path

    texts = json.loads(Path(a["chunks_file"]).read_text())
    model = SentenceTransformer(resolve_model_path("all-MiniLM-L6-v2"), device="cpu")
    model.encode(["warm-up"], batch_size=a["batch_size"])
    t0 = time.perf_counter()
    vecs = model.encode(texts, batch_size=a["batch_size"], normalize_embeddings=True, convert_to_numpy=True,
                        show_progress_bar=False)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "chunks": int(vecs.shape[0])}


def ingest_llamaindex(a: dict[str, Any]) -> dict[str, Any]:
    """llama-index defaults: ``VectorStoreIndex.from_documents`` into Chroma with HuggingFaceEmbedding.

    With ``same_chunks`` it instead embeds exactly our chunk texts as ``TextNode``s (same batch size):
    the like-for-like comparison of the embed-and-store path.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from rag.index.embeddings import resolve_model_path

    client = chromadb.PersistentClient(path=a["chroma_dir"], settings=ChromaSettings(anonymized_telemetry=False))
    col = client.get_or_create_collection("bench")
    store = ChromaVectorStore(chroma_collection=col)
    ctx = StorageContext.from_defaults(vector_store=store)
    kw = {"embed_batch_size": a["batch_size"]} if a.get("same_chunks") else {}
    embed = HuggingFaceEmbedding(model_name=resolve_model_path("all-MiniLM-L6-v2"), **kw)
    embed.get_text_embedding("warm-up")
    if a.get("same_chunks"):
        nodes = [TextNode(text=t) for t in json.loads(Path(a["chunks_file"]).read_text())]
        t0 = time.perf_counter()
        VectorStoreIndex(nodes, storage_context=ctx, embed_model=embed)
    else:
        t0 = time.perf_counter()
        docs = [Document(text=r["text"], metadata={k: r.get(k, "") for k in ("title", "source", "published")})
                for r in _read_jsonl(a["corpus"])]
        VectorStoreIndex.from_documents(docs, storage_context=ctx, embed_model=embed)
    seconds = time.perf_counter() - t0
    # after the clock: how much of each chunk the 256-token model read (it truncates the rest)
    texts = col.get(include=["documents"])["documents"] or []
    return {"seconds": seconds, "chunks": col.count(),
            **token_stats(embed._model.tokenizer, texts, int(embed._model.max_seq_length))}


def build_retrieve_index(a: dict[str, Any]) -> dict[str, Any]:
    from bench.retrieve import _worker_build

    return _worker_build(a)


def measure_retrieve(a: dict[str, Any]) -> dict[str, Any]:
    from bench.retrieve import _worker_measure

    return _worker_measure(a)


def ingest_eval(a: dict[str, Any]) -> dict[str, Any]:
    """The eval corpus into the index at ``index_dir`` (the Chroma server when ``CHROMA_HOST`` is set)."""
    from bench.evalset import build_index

    build_index(Path(a["index_dir"]))
    return {}


def ask_questions(a: dict[str, Any]) -> dict[str, Any]:
    from bench.concurrency import ask_questions as run

    return run(a)


TASKS = {"ingest_ours": ingest_ours, "encode_raw": encode_raw, "ingest_llamaindex": ingest_llamaindex,
         "build_retrieve_index": build_retrieve_index, "measure_retrieve": measure_retrieve,
         "ingest_eval": ingest_eval, "ask_questions": ask_questions}


def main(argv: list[str]) -> int:
    from rag.logging_setup import configure

    configure(0)
    logging.getLogger("rag").setLevel(logging.WARNING)
    task, args = argv[0], json.loads(argv[1])
    out = TASKS[task](args)
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
