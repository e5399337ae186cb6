"""The one consistency check of an index, whichever backend stores it.

Both backends ask the same questions: do the manifest and the vector store list the same chunks, are
the listed articles' texts stored, does BM25 list the same chunks, is each source key indexed once.
How to read the article store and BM25 differs (files on disk vs. records on a Chroma server), so the
backend passes those two probes in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rag.index.manifest import Manifest
from rag.types import RagError


@dataclass
class CheckReport:
    ok: bool
    documents: int
    chunks: int
    problems: list[str] = field(default_factory=list)

    def to_contract(self) -> dict:
        return {"ok": self.ok, "documents": self.documents, "chunks": self.chunks, "problems": self.problems}


def check_consistency(m: Manifest, chroma_ids: Callable[[], set[str]], orphan_note: str,
                      article_problems: Callable[[Manifest], list[str]],
                      bm25_problems: Callable[[Manifest, set[str]], list[str]]) -> CheckReport:
    """Read-only. ``orphan_note`` is the backend's explanation of chunks the manifest does not list
    (formatted with ``n``): on a shared server they may belong to an ingest that is still running."""
    problems: list[str] = []
    expected = m.chunk_ids()
    try:
        have = chroma_ids()
    except RagError as exc:
        problems.append(str(exc))
        have = set()
    missing = expected - have
    orphans = have - expected
    if missing:
        problems.append(f"{len(missing)} chunk(s) listed in the manifest are missing from Chroma "
                        f"(e.g. {sorted(missing)[0]}); run `newsrag index rebuild`")
    if orphans:
        problems.append(orphan_note.format(n=len(orphans)))
    problems.extend(article_problems(m))
    problems.extend(bm25_problems(m, expected))
    keys = [d.key for d in m.docs.values()]
    if len(keys) != len(set(keys)):
        problems.append("duplicate articles for one source key in the manifest")
    return CheckReport(ok=not problems, documents=len(m.docs), chunks=m.n_chunks, problems=problems)
