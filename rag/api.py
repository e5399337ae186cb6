"""The Python API: ``from rag import Assistant``.

A facade that validates input up front and hands work to the index and the answering chain. The
UI, the CLI and the eval all go through it; it holds no logic of its own beyond wiring.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.settings import Settings
from rag.types import Answer, IngestReport, Passage, RagError

log = logging.getLogger(__name__)


class Assistant:
    """Answers questions over an index of news articles, with verified citations.

    >>> a = Assistant()                       # settings from RAG_* env / newsrag.toml / defaults
    >>> a.ingest(["seeds/"])                  # doctest: +SKIP
    >>> a.ask("How many mortar rounds landed in the embassy compound?").text   # doctest: +SKIP
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any):
        base = settings or Settings()
        self.settings = base.model_copy(update=overrides) if overrides else base
        self._index = None
        self._chains: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ index
    @property
    def index(self):
        if self._index is None:
            with self._lock:
                if self._index is None:
                    from rag.index.backend import open_index

                    self._index = open_index(self.settings)
        return self._index

    def ingest(self, paths: str | Path | list[str | Path], prune: bool = False,
               show_progress: bool = False) -> IngestReport:
        from rag.ingest.pipeline import ingest

        if isinstance(paths, (str, Path)):
            paths = [paths]
        if not paths:
            raise RagError("Give at least one file or directory to ingest.")
        return ingest(self.index, list(paths), prune=prune, show_progress=show_progress)

    def search(self, query: str, k: int | None = None, filters: dict | None = None) -> list[Passage]:
        from rag.retrieve.hybrid import HybridSearch

        query = self._validate_question(query)
        return HybridSearch(self.index, top_k=k, filters=filters).search(query)

    def retriever(self, k: int | None = None, filters: dict | None = None):
        """A llama-index ``BaseRetriever`` over this index."""
        from rag.retrieve.llamaindex import HybridRetriever

        return HybridRetriever(self.index, top_k=k, filters=filters)

    def documents(self):
        return self.index.list_docs()

    def article(self, doc_id: str):
        return self.index.articles.get(doc_id)

    def remove(self, doc_ids: str | list[str]) -> int:
        if isinstance(doc_ids, str):
            doc_ids = [doc_ids]
        unknown = [d for d in doc_ids if d not in self.index.manifest.docs]
        if unknown:
            raise RagError(f"No article with id {unknown[0]!r} in the index; `newsrag list` shows the ids.")
        return self.index.remove(doc_ids)

    def check(self, read_only: bool = False):
        """Whether manifest, article store, Chroma and BM25 agree. ``read_only`` opens a not yet opened
        index without repairing it, so the report shows damage as found (``newsrag index check``)."""
        if read_only:
            with self._lock:
                if self._index is None:
                    from rag.index.backend import open_index

                    self._index = open_index(self.settings, repair=False)
        return self.index.check()

    def rebuild(self, progress=None):
        """Rebuild vectors and BM25 from the stored article texts (rag/index/repair.py). This assistant's
        open index is dropped first and reopened, repaired, on next use."""
        from rag.index.repair import rebuild_index

        with self._lock:
            self._index = None
            for chain in self._chains.values():
                chain.close()
            self._chains.clear()
            return rebuild_index(self.settings, progress)

    # ------------------------------------------------------------------ answering
    def _validate_question(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise RagError("Ask a question (the text was empty).")
        question = " ".join(question.split())
        if len(question) > self.settings.max_question_chars:
            raise RagError(f"The question is {len(question)} characters long; the limit is "
                           f"{self.settings.max_question_chars}. Shorten it.")
        return question

    def chain(self, backend: str | None = None):
        from rag.answer.chain import AnswerChain

        name = backend or self.settings.backend
        with self._lock:
            chain = self._chains.get(name)
            if chain is None:
                settings = self.settings if name == self.settings.backend else \
                    self.settings.model_copy(update={"backend": name})
                chain = self._chains[name] = AnswerChain(settings, index_getter=lambda: self.index)
        return chain

    def ask(self, question: str, history: list | None = None, filters: dict | None = None,
            k: int | None = None, backend: str | None = None) -> Answer:
        question = self._validate_question(question)
        return self.chain(backend).answer(question, history=history, filters=filters, k=k)

    def stream(self, question: str, history: list | None = None, filters: dict | None = None,
               k: int | None = None, backend: str | None = None) -> Iterator[dict]:
        """Yields ``{"type": "token", "text": ...}`` events, then ``{"type": "answer", "answer": Answer}``."""
        question = self._validate_question(question)
        yield from self.chain(backend).stream(question, history=history, filters=filters, k=k)

    def chat(self, backend: str | None = None, filters: dict | None = None):
        from rag.answer.chat import Chat

        return Chat(self, backend=backend, filters=filters)

    def close(self) -> None:
        for chain in self._chains.values():
            chain.close()
        self._chains.clear()
