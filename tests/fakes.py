"""Stand-ins for the unit tier: a scripted LLM backend, for fast tests of the chain's logic (never as
evidence that generation works: tests/test_chain_local.py uses a real GGUF), and a hashing embedder."""

from __future__ import annotations

import json
import re
import zlib

import numpy as np


class ScriptedLLM:
    """Returns canned JSON: first the answerability verdict, then the answer."""

    name = "fake"
    model = "scripted"

    def __init__(self, answer: str, citations: list[int], answerable: bool = True):
        self.answer, self.citations, self.answerable = answer, citations, answerable
        self.calls: list[list[dict]] = []

    def complete_json(self, messages, schema, max_tokens=160, logprobs=None):
        self.calls.append(messages)
        if "answerable" in schema.get("properties", {}):
            return json.dumps({"answerable": self.answerable})
        return json.dumps({"answer": self.answer, "citations": self.citations})

    def stream_json(self, messages, schema, max_tokens=160, logprobs=None):
        raw = self.complete_json(messages, schema, max_tokens)
        for i in range(0, len(raw), 7):
            yield raw[i:i + 7]

    def complete_text(self, messages, max_tokens=160):
        return "What did Lloyd Austin say about the attacks?"

    def close(self):
        pass


class _WordTokenizer:
    """The part of a Hugging Face fast tokenizer that chunking calls: one token per word, with offsets."""

    def __call__(self, texts, add_special_tokens=False, return_offsets_mapping=False, truncation=False,
                 verbose=False):
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        offsets = [[(m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", t)] for t in batch]
        ids = [[zlib.crc32(t[s:e].lower().encode()) % 30_000 for s, e in offs] for t, offs in zip(batch, offsets, strict=True)]
        out = {"input_ids": ids[0] if single else ids}
        if return_offsets_mapping:
            out["offset_mapping"] = offsets[0] if single else offsets
        return out


class HashingEmbedder:
    """A deterministic stand-in for ``rag.index.embeddings.Embedder`` (same attributes and methods) for unit
    tests that need *an* embedder, not a good one: each word hashes to a signed unit direction, a text is
    the normalised sum of its words'. Texts sharing words are closer, which is enough for fusion and
    filtering tests; nothing semantic (paraphrases) may be asserted with it."""

    backend = "hashing"

    def __init__(self, dim: int = 64, max_seq_length: int = 256, batch_size: int = 32):
        self.model_id = f"hashing-{dim}"
        self.model_name = self.model_id
        self.dim = dim
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.tokenizer = _WordTokenizer()
        self.calls = 0

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = zlib.crc32(word.encode())
                out[row, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm:
                out[row] /= norm
        return out

    def encode_steps(self, steps):
        for texts in steps:
            yield self.encode(texts)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def _matches(meta: dict, where: dict | None) -> bool:
    """The subset of Chroma's ``where`` language that ``Filters.chroma_where`` writes."""
    if not where:
        return True
    if "$and" in where:
        return all(_matches(meta, w) for w in where["$and"])
    (key, cond), = where.items()
    value = meta.get(key)
    ops = {"$in": lambda v, a: v in a, "$gte": lambda v, a: v >= a, "$lte": lambda v, a: v <= a,
           "$eq": lambda v, a: v == a}
    return all(ops[op](value, arg) for op, arg in cond.items())


class MemoryVectors:
    """An in-memory stand-in for ``ChromaStore``: exact cosine search over the stored vectors."""

    def __init__(self):
        self.rows: dict[str, tuple[np.ndarray, str, dict]] = {}

    def upsert(self, ids, vectors, texts, metas) -> None:
        for cid, vec, text, meta in zip(ids, vectors, texts, metas, strict=True):
            self.rows[cid] = (np.asarray(vec, dtype=np.float32), text, dict(meta))

    def delete(self, ids) -> None:
        for cid in ids:
            self.rows.pop(cid, None)

    def count(self) -> int:
        return len(self.rows)

    def all_ids(self) -> set[str]:
        return set(self.rows)

    def query(self, vector, n: int, where: dict | None = None):
        q = np.asarray(vector, dtype=np.float32)
        hits = [(cid, float(vec @ q), text, meta) for cid, (vec, text, meta) in self.rows.items()
                if _matches(meta, where)]
        return sorted(hits, key=lambda h: (-h[1], h[0]))[:n]

    def get(self, ids):
        return {cid: (self.rows[cid][1], self.rows[cid][2]) for cid in ids if cid in self.rows}


class MemoryIndex:
    """What ``HybridSearch`` and the chain read from an index (settings, embedder, manifest, BM25, vector
    store, articles), built in memory from articles with the fake embedder and the real chunker and BM25."""

    def __init__(self, settings, articles, embedder: HashingEmbedder | None = None):
        from rag.index.bm25 import BM25Index
        from rag.index.chroma_store import date_ord
        from rag.index.manifest import DocEntry, Manifest
        from rag.text.chunk import Chunker, hf_token_offsets

        self.settings = settings
        self.embedder = embedder or HashingEmbedder()
        self.chunker = Chunker(hf_token_offsets(self.embedder.tokenizer), 40, 1)
        self.chroma = MemoryVectors()
        self.articles = {a.doc_id: a for a in articles}
        self.manifest = Manifest(generation=1)
        ids, texts = [], []
        for art in articles:
            chunks = self.chunker(art)
            self.manifest.docs[art.doc_id] = DocEntry(
                doc_id=art.doc_id, key=art.path or art.doc_id, path=art.path, content_hash="",
                n_chunks=len(chunks), title=art.title, source=art.source, url=art.url, published=art.published)
            metas = [{**art.meta(), "start": c.start, "end": c.end, "index": c.index,
                      "published_ord": date_ord(art.published)} for c in chunks]
            self.chroma.upsert([c.chunk_id for c in chunks], self.embedder.encode([c.text for c in chunks]),
                               [c.text for c in chunks], metas)
            ids += [c.chunk_id for c in chunks]
            texts += [c.text for c in chunks]
        self.bm25 = BM25Index.build(ids, texts, self.manifest.generation)
