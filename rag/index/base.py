"""What the embedded and the server index share: the embedder, the chunker they are handed, the model
check, chunk re-derivation, embedding in bounded steps, removal, listing and the consistency check.

Subclasses (rag/index/store.py, rag/index/server_index.py) own where the data lives and how a write
commits; each calls ``IndexBase.__init__`` first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from rag.faults import crash_point
from rag.index.check import CheckReport, check_consistency
from rag.index.manifest import DocEntry, Manifest
from rag.settings import Settings
from rag.types import Article, Chunk, IndexMismatchError, RagError

log = logging.getLogger(__name__)

Chunker = Callable[[Article], list[Chunk]]


class IndexBase:
    # how check() explains chunks in Chroma that the manifest does not list ({n}: how many)
    ORPHAN_CHUNKS_NOTE = "{n} chunk(s) in Chroma not in the manifest"

    def __init__(self, settings: Settings, embedder=None, chunker: Chunker | None = None):
        from rag.index.embeddings import get_embedder

        self.settings = settings
        self.root = Path(settings.index_dir)
        self._embedder_given, self._chunker_given = embedder is not None, chunker is not None
        self.embedder = embedder or self._configured_embedder()
        self._chunker = chunker
        self._built_chunk_limit: int | None = None  # an existing index's own chunk size (adopt_built_with)

    def _configured_embedder(self, precision: str | None = None):
        from rag.index.embeddings import get_embedder

        s = self.settings
        return get_embedder(s.embed_model, s.embed_batch_size, s.embed_device, getattr(s, "embed_backend", None),
                            precision or getattr(s, "embed_precision", None))

    def adopt_built_with(self, m: Manifest) -> None:
        """An index that holds articles keeps the chunk size and embedding precision it was built with:
        an article's chunks re-derived at another size would not match the stored ones, and queries embedded
        at another precision would sit in a slightly different space from the stored vectors. The settings
        choose both for a new index; `newsrag index rebuild` re-derives everything at the configured values."""
        if not m.docs:
            return
        self._built_chunk_limit = m.chunk_tokens or None
        if not self._chunker_given:
            self._chunker = None
        built = m.embed_precision or "default"  # an index from before the field: OpenVINO's own precision
        if not self._embedder_given and getattr(self.embedder, "recorded_precision", built) != built:
            log.info("the index was built with %s embeddings (configured: %s); queries use %s until "
                     "`newsrag index rebuild`", built, self.embedder.recorded_precision, built)
            self.embedder = self._configured_embedder(built)

    def use_configured(self) -> None:
        """Back to the configured chunk size and precision (a rebuild re-derives the index with them)."""
        self._built_chunk_limit = None
        if not self._chunker_given:
            self._chunker = None
        if not self._embedder_given:
            self.embedder = self._configured_embedder()

    # ------------------------------------------------------------------ components
    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def chunk_limit(self) -> int:
        if self._built_chunk_limit:
            return self._built_chunk_limit
        # never exceed what the model reads (minus [CLS]/[SEP]): no silent truncation
        return max(8, min(self.settings.chunk_tokens, self.embedder.max_seq_length - 2))

    @property
    def chunker(self) -> Chunker:
        """The chunker this index was handed; by default the sentence-aware one of rag/text, bounded by
        this index's embedding tokenizer. Ingest, rebuild and ``chunks_of`` all use it."""
        if self._chunker is None:
            from rag.text.chunk import Chunker as TextChunker
            from rag.text.chunk import hf_token_offsets

            self._chunker = TextChunker(hf_token_offsets(self.embedder.tokenizer), self.chunk_limit,
                                        self.settings.chunk_overlap_sentences)
        return self._chunker

    def _check_model(self) -> None:
        m = self.manifest
        if m.embed_model and m.docs and m.embed_model != self.model_id:
            raise IndexMismatchError(
                f"The index in {self.root} was built with the embedding model {m.embed_model!r} "
                f"(dimension {m.embed_dim}), but the configured model is {self.model_id!r}. Set "
                f"RAG_EMBED_MODEL={m.embed_model}, or rebuild with the new model: "
                f"`newsrag index rebuild --index {self.root}`."
            )

    def chunks_of(self, doc_id: str, n_chunks: int | None = None) -> list[Chunk]:
        """Re-derive an article's chunks from its stored text (deterministic chunking)."""
        chunks = self.chunker(self.articles.get(doc_id))
        if n_chunks is not None and len(chunks) != n_chunks:
            raise RagError(f"Article {doc_id} re-chunks to {len(chunks)} chunks, the manifest says {n_chunks}; "
                           "the chunking settings changed. Run `newsrag index rebuild`.")
        return chunks

    # ------------------------------------------------------------------ consistency
    def check(self) -> CheckReport:
        """Verify that manifest, article store, Chroma and BM25 agree. Read-only."""
        return check_consistency(self._manifest_to_check(), lambda: self.chroma.all_ids(),
                                 self.ORPHAN_CHUNKS_NOTE, self._article_problems, self._bm25_problems)

    def _manifest_to_check(self) -> Manifest:
        return self.manifest

    def _article_problems(self, m: Manifest) -> list[str]:
        raise NotImplementedError

    def _bm25_problems(self, m: Manifest, expected: set[str]) -> list[str]:
        raise NotImplementedError

    def _repair_chunks(self, m: Manifest, where: str, rebuild: str) -> None:
        """Delete the chunks ``m`` does not list (an interrupted ingest's); raise when listed ones are gone,
        which only a rebuild mends. Caller holds the writer lock."""
        if self.chroma.count() == m.n_chunks:  # the id set is built only when the counts disagree
            return
        expected = m.chunk_ids()
        have = self.chroma.all_ids()
        orphans = sorted(have - expected)
        if orphans:
            log.warning("removing %d orphan chunk(s) left by an interrupted ingest", len(orphans))
            self.chroma.delete(orphans)
        missing = expected - have
        if missing:
            raise RagError(f"The index {where} is damaged: {len(missing)} chunk(s) listed in the manifest are "
                           f"missing from Chroma. Run {rebuild}.")

    # ------------------------------------------------------------------ writes
    def _embed_and_upsert(self, all_chunks: list[tuple[Article, Chunk]], progress=None, on_batch=None) -> None:
        """Embed in bounded steps (the model's memory stays proportional to the batch size) and write the
        vectors to Chroma in larger batches (``chroma_write_batch``): a Chroma upsert costs less per chunk
        the more chunks it carries (about 2.2 ms/chunk in steps of 256 vs 1.5 ms in 2,000, measured).
        The embedder runs the next step while a step is handled here, so a write overlaps inference."""
        import numpy as np

        from rag.index.chroma_store import date_ord

        step = max(self.settings.embed_batch_size * 8, 64)
        write = max(step, int(getattr(self.settings, "chroma_write_batch", step)))
        pending: list[tuple[list[tuple[Article, Chunk]], np.ndarray]] = []

        def flush() -> None:
            rows = [x for part, _ in pending for x in part]
            vecs = np.concatenate([v for _, v in pending]) if len(pending) > 1 else pending[0][1]
            metas = []
            for art, c in rows:
                meta = art.meta()
                meta.update(start=c.start, end=c.end, index=c.index, published_ord=date_ord(art.published))
                metas.append(meta)
            self.chroma.upsert([c.chunk_id for _, c in rows], vecs, [c.text for _, c in rows], metas)
            pending.clear()
            crash_point("chroma-upsert")

        batches = [all_chunks[i:i + step] for i in range(0, len(all_chunks), step)]
        texts = ([c.text for _, c in batch] for batch in batches)
        if getattr(self.settings, "embed_pipeline", True):
            steps = self.embedder.encode_steps(texts)
        else:
            steps = (self.embedder.encode(t) for t in texts)
        waiting = 0
        try:
            for n, (batch, vecs) in enumerate(zip(batches, steps, strict=True)):
                crash_point("embed-batch")
                pending.append((batch, np.asarray(vecs, dtype=np.float32)))
                waiting += len(batch)
                if waiting >= write or n == len(batches) - 1:
                    flush()
                    waiting = 0
                if on_batch is not None:
                    on_batch()
                if progress is not None:
                    progress(len(batch))
        finally:
            steps.close()  # an error above: the embedder lets its running requests finish

    def remove(self, doc_ids) -> int:
        doc_ids = [d for d in doc_ids if d in self.manifest.docs]
        if doc_ids:
            self.commit([], doc_ids)
        return len(doc_ids)

    # ------------------------------------------------------------------ reads
    def list_docs(self) -> list[DocEntry]:
        return sorted(self.manifest.docs.values(), key=lambda d: (d.published or "", d.title), reverse=True)
