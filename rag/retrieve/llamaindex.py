"""``HybridSearch`` as a llama-index ``BaseRetriever``: ``retrieve(str) -> list[NodeWithScore]``.

For code that composes llama-index parts (query engines, postprocessors, chat engines) over our
index; the chain itself calls ``HybridSearch.search`` and gets typed ``Passage`` objects.
"""

from __future__ import annotations

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rag.retrieve.hybrid import Filters, HybridSearch
from rag.types import Passage, meta_of


class HybridRetriever(BaseRetriever):
    def __init__(self, index, top_k: int | None = None, filters: Filters | dict | None = None):
        super().__init__()
        self.hybrid = HybridSearch(index, top_k=top_k, filters=filters)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [self.to_node(p) for p in self.hybrid.search(query_bundle.query_str)]

    def search(self, query: str, **kwargs) -> list[Passage]:
        return self.hybrid.search(query, **kwargs)

    @staticmethod
    def to_node(p: Passage) -> NodeWithScore:
        meta = {"doc_id": p.doc_id, **meta_of(p), "dense_score": p.dense_score, "bm25_score": p.bm25_score}
        node = TextNode(id_=p.chunk_id, text=p.text, start_char_idx=p.start, end_char_idx=p.end, metadata=meta)
        return NodeWithScore(node=node, score=p.score)
