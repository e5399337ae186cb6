"""Sentence-aware chunking bounded by the embedding model's tokens, with exact offsets.

Each chunk is a run of whole sentences of the cleaned article (``text[start:end] == chunk.text``),
at most ``max_tokens`` tokens of the embedding tokenizer (so nothing is silently truncated by the
model), and starts with the last ``overlap`` sentences of the previous chunk. A single sentence longer
than the limit is split at token boundaries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag.text.sentences import split_sentences
from rag.types import Article, Chunk

TokenCounter = Callable[[list[str]], list[list[tuple[int, int]]]]


def hf_token_offsets(tokenizer) -> TokenCounter:
    """Token character offsets for each text, without special tokens (fast tokenizers)."""

    def offsets(texts: list[str]) -> list[list[tuple[int, int]]]:
        enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, truncation=False,
                        verbose=False)
        return [[tuple(o) for o in om] for om in enc["offset_mapping"]]

    return offsets


def whitespace_offsets(texts: list[str]) -> list[list[tuple[int, int]]]:
    """Fallback counter: one token per whitespace-separated word (tests, no model)."""
    import re

    return [[(m.start(), m.end()) for m in re.finditer(r"\S+", t)] for t in texts]


def _pieces(spans: list[tuple[int, int]], token_offsets: list[list[tuple[int, int]]], limit: int):
    """Split sentences longer than ``limit`` tokens at token boundaries; yield (start, end, ntokens)."""
    for (s, e), offs in zip(spans, token_offsets, strict=True):
        if len(offs) <= limit:
            yield s, e, max(1, len(offs))
            continue
        for i in range(0, len(offs), limit):
            part = offs[i : i + limit]
            ps = s + part[0][0]
            pe = s + part[-1][1] if i + limit < len(offs) else e
            yield ps, pe, len(part)


def chunk_article(article: Article, token_offsets: TokenCounter, max_tokens: int = 200,
                  overlap: int = 1) -> list[Chunk]:
    text = article.text
    spans = split_sentences(text)
    if not spans:
        return []
    offs = token_offsets([text[s:e] for s, e in spans])
    units = list(_pieces(spans, offs, max_tokens))
    chunks: list[Chunk] = []
    i = 0
    meta = article.meta()
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j][2] <= max_tokens):
            total += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        idx = len(chunks)
        chunks.append(Chunk(chunk_id=f"{article.doc_id}-{idx:04d}", doc_id=article.doc_id,
                            text=text[start:end], start=start, end=end, index=idx, meta=meta))
        if j >= len(units):
            break
        # next chunk starts `overlap` units back, but always makes progress
        i = max(i + 1, j - overlap)
    return chunks


@dataclass(frozen=True)
class Chunker:
    """``chunk_article`` with its parameters fixed. The index is handed one and uses it for every chunking
    (ingest, rebuild, re-deriving an article's chunks), so the three cannot drift apart."""

    token_offsets: TokenCounter
    max_tokens: int = 200
    overlap: int = 1

    def __call__(self, article: Article) -> list[Chunk]:
        return chunk_article(article, self.token_offsets, self.max_tokens, self.overlap)


def to_document(article: Article):
    """The article as a llama-index Document (id = doc_id)."""
    from llama_index.core import Document

    return Document(id_=article.doc_id, text=article.text, metadata=article.meta(),
                    excluded_embed_metadata_keys=list(article.meta()),
                    excluded_llm_metadata_keys=list(article.meta()))


def to_text_node(chunk: Chunk):
    """The chunk as a llama-index TextNode with ``start_char_idx``/``end_char_idx`` into the article."""
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    node = TextNode(id_=chunk.chunk_id, text=chunk.text, start_char_idx=chunk.start, end_char_idx=chunk.end,
                    metadata=dict(chunk.meta), excluded_embed_metadata_keys=list(chunk.meta),
                    excluded_llm_metadata_keys=list(chunk.meta))
    node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=chunk.doc_id)
    return node
