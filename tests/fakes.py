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

    def complete_json(self, messages, schema, max_tokens=160):
        self.calls.append(messages)
        if "answerable" in schema.get("properties", {}):
            return json.dumps({"answerable": self.answerable})
        return json.dumps({"answer": self.answer, "citations": self.citations})

    def stream_json(self, messages, schema, max_tokens=160):
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

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
