"""The one consistency check both index backends use (rag/index/check.py) and open_index's choice."""

from __future__ import annotations

import pytest

from rag.index.check import check_consistency
from rag.index.manifest import DocEntry, Manifest
from rag.types import RagError

pytestmark = pytest.mark.unit

NOTE = "{n} orphan chunk(s)"


def _manifest(*docs: tuple[str, str, int]) -> Manifest:
    return Manifest(docs={d: DocEntry(doc_id=d, key=k, path=k, content_hash="", n_chunks=n) for d, k, n in docs})


def test_agreeing_index_is_ok():
    m = _manifest(("a", "a.txt", 2), ("b", "b.txt", 1))
    rep = check_consistency(m, lambda: {"a-0000", "a-0001", "b-0000"}, NOTE, lambda m: [], lambda m, e: [])
    assert rep.ok and (rep.documents, rep.chunks, rep.problems) == (2, 3, [])
    assert rep.to_contract() == {"ok": True, "documents": 2, "chunks": 3, "problems": []}


def test_every_kind_of_disagreement_is_reported_in_order():
    m = _manifest(("a", "same.txt", 2), ("b", "same.txt", 1))
    seen = {}

    def bm25(m, expected):
        seen["expected"] = expected
        return ["bm25 differs"]

    rep = check_consistency(m, lambda: {"a-0000", "b-0000", "x-0000", "y-0000"}, NOTE,
                            lambda m: ["article lost"], bm25)
    assert not rep.ok
    assert rep.problems[0].startswith("1 chunk(s) listed in the manifest are missing from Chroma (e.g. a-0001)")
    assert rep.problems[1:] == ["2 orphan chunk(s)", "article lost", "bm25 differs",
                                "duplicate articles for one source key in the manifest"]
    assert seen["expected"] == {"a-0000", "a-0001", "b-0000"}


def test_an_unreadable_vector_store_is_a_problem_not_a_crash():
    def broken():
        raise RagError("Chroma is unreadable")

    rep = check_consistency(_manifest(("a", "a.txt", 1)), broken, NOTE, lambda m: [], lambda m, e: [])
    assert rep.problems[0] == "Chroma is unreadable"
    assert "missing from Chroma" in rep.problems[1]


def test_open_index_picks_the_backend_from_the_settings(monkeypatch, tmp_path):
    from rag.index import backend
    from rag.settings import Settings

    opened = []
    monkeypatch.setattr("rag.index.store.EmbeddedIndex", lambda s, *a, **kw: opened.append(("embedded", kw)))
    monkeypatch.setattr("rag.index.server_index.ServerNewsIndex", lambda s, *a, **kw: opened.append(("server", kw)))
    backend.open_index(Settings(index_dir=tmp_path), repair=False)
    backend.open_index(Settings(index_dir=tmp_path, chroma_host="localhost"))
    assert [k for k, _ in opened] == ["embedded", "server"]
    assert opened[0][1]["repair"] is False and opened[1][1]["repair"] is True


def test_both_backends_implement_the_protocol():
    from rag.index.backend import IndexBackend
    from rag.index.server_index import ServerNewsIndex
    from rag.index.store import EmbeddedIndex

    members = [n for n in vars(IndexBackend) if not n.startswith("_")] + list(IndexBackend.__annotations__)
    for cls in (EmbeddedIndex, ServerNewsIndex):
        init = cls.__init__.__code__.co_names
        for name in members:
            assert hasattr(cls, name) or name in init or name in ("settings", "root", "embedder"), (cls, name)


def test_repair_removes_orphan_chunks_and_refuses_when_listed_ones_are_gone(tmp_path):
    from fakes import HashingEmbedder, MemoryVectors

    from rag.index.base import IndexBase
    from rag.settings import Settings

    ix = IndexBase(Settings(index_dir=tmp_path), embedder=HashingEmbedder())
    ix.chroma = MemoryVectors()
    ix.chroma.upsert(["a-0000", "a-0001", "z-0000"], [[1.0], [1.0], [1.0]], ["", "", ""], [{}, {}, {}])
    ix._repair_chunks(_manifest(("a", "a.txt", 2)), "in X", "`rebuild`")
    assert ix.chroma.all_ids() == {"a-0000", "a-0001"}  # the interrupted ingest's chunk is gone
    with pytest.raises(RagError, match=r"The index in X is damaged: 1 chunk\(s\) listed .* Run `rebuild`\."):
        ix._repair_chunks(_manifest(("a", "a.txt", 3)), "in X", "`rebuild`")
