"""The chunker the index is handed: whole sentences, bounded tokens, exact offsets, the same chunks for
the same article (ingest and rebuild must agree)."""

from __future__ import annotations

import pytest
from fakes import HashingEmbedder

from rag.text.chunk import Chunker, chunk_article, hf_token_offsets
from rag.types import Article

pytestmark = pytest.mark.unit

TEXT = ("The U.S. Embassy was hit on Oct. 5 by nearly seven rounds. Mr. Austin said the attacks must stop. "
        "He spoke to the prime minister on Friday.\n\nA second paragraph follows. It has three sentences. "
        "The last one is here.")


def test_chunker_is_chunk_article_with_fixed_parameters():
    art = Article(doc_id="d1", text=TEXT, title="t")
    offsets = hf_token_offsets(HashingEmbedder().tokenizer)
    chunker = Chunker(offsets, max_tokens=20, overlap=1)
    chunks = chunker(art)
    assert chunks == chunk_article(art, offsets, 20, 1)
    assert len(chunks) > 2
    assert all(TEXT[c.start:c.end] == c.text for c in chunks)
    assert [c.chunk_id for c in chunks] == [f"d1-{i:04d}" for i in range(len(chunks))]
    assert chunker(art) == chunks  # deterministic: a rebuild re-derives the manifest's chunks
    assert len(Chunker(offsets, max_tokens=200, overlap=0)(art)) < len(chunks)


def test_the_index_uses_the_chunker_it_is_handed(tmp_path):
    from rag.index.base import IndexBase
    from rag.settings import Settings

    art = Article(doc_id="d1", text=TEXT)

    class Store:
        def get(self, doc_id):
            return art

    calls = []

    def chunker(a):
        calls.append(a.doc_id)
        return chunk_article(a, hf_token_offsets(HashingEmbedder().tokenizer), 20, 0)

    ix = IndexBase(Settings(index_dir=tmp_path), embedder=HashingEmbedder(), chunker=chunker)
    ix.articles = Store()
    assert ix.chunker is chunker
    n = len(ix.chunks_of("d1"))
    assert calls == ["d1"] and n > 1
    with pytest.raises(Exception, match="re-chunks to"):
        ix.chunks_of("d1", n_chunks=n + 1)
    default = IndexBase(Settings(index_dir=tmp_path, chunk_tokens=16), embedder=HashingEmbedder())
    assert isinstance(default.chunker, Chunker) and default.chunker.max_tokens == 16
