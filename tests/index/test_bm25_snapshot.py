"""The server-mode BM25 snapshot (rag/index/bm25_snapshot.py).

The unit tests drive ``BM25Snapshots`` directly; the last tests open ``ServerNewsIndex`` on a real
``chroma run`` server (the ``chroma_server`` fixture of test_server_mode.py) with a hashing embedder.
No timings: "loaded, not rebuilt" is read from the snapshot object's counters and from ``BM25Index.build``
calls.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from rag.index.bm25 import BM25Index
from rag.index.bm25_snapshot import KEEP, BM25Snapshots
from rag.index.manifest import DocEntry, Manifest

TEXTS = {
    "harbour": ["Velmora harbour reopened on Monday after three weeks of storm repairs.",
                "Harbour master Ilse Varnholt said 43 cargo ships had waited offshore."],
    "bridge": ["Mayor Tamsin Rautio said 9,200 vehicles crossed the new Oskgrad bridge.",
               "The bridge spans the Lunava river and cost 40 million crowns."],
    "dam": ["Inspectors found 17 cracks in the Korrin dam spillway, the water board said."],
}
QUERIES = ["harbour storm repairs", "bridge crowns", "cracks in the dam", "cargo ships offshore", "zebra"]


def _manifest(gen: int, docs=TEXTS) -> Manifest:
    return Manifest(generation=gen, docs={d: DocEntry(doc_id=d, key=d, path=d, content_hash=d, n_chunks=len(v))
                                          for d, v in docs.items()})


def _build(m: Manifest, docs=TEXTS) -> BM25Index:
    ids = [f"{d}-{i:04d}" for d in sorted(m.docs) for i in range(len(docs[d]))]
    return BM25Index.build(ids, [t for d in sorted(m.docs) for t in docs[d]], m.generation)


def _results(bm: BM25Index) -> list:
    return [bm.search(q, 10) for q in QUERIES]


def _folders(s: BM25Snapshots) -> list[Path]:
    """The snapshot directories (not the marker file, nor temporary or discarded copies)."""
    return sorted(p for p in s.root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _snaps(tmp_path: Path, collection_id: str = "c1", collection: str = "news") -> BM25Snapshots:
    return BM25Snapshots(tmp_path / "bm25", collection, collection_id)


def test_a_second_process_loads_the_saved_snapshot_with_identical_results(tmp_path):
    m = _manifest(4)
    built = _build(m)
    _snaps(tmp_path).save(m, built)
    other = _snaps(tmp_path)  # what another process opening the same index has
    got = other.load(m)
    assert got is not None and other.loads == 1
    assert got.ids == built.ids and got.generation == 4
    assert _results(got) == _results(built) and any(_results(got))
    assert type(got.retriever.scores["data"]).__name__ == "memmap"  # pages shared between processes


def test_another_generation_or_index_state_never_uses_it(tmp_path):
    m = _manifest(4)
    _snaps(tmp_path).save(m, _build(m))
    assert _snaps(tmp_path).load(_manifest(5)) is None  # the next commit
    fewer = {k: v for k, v in TEXTS.items() if k != "dam"}
    assert _snaps(tmp_path).load(_manifest(4, fewer)) is None  # same counter, other docs (e.g. a reset server)
    assert _snaps(tmp_path, collection_id="c2").load(m) is None  # the side collection was re-created
    assert _snaps(tmp_path, collection="other").load(m) is None
    assert _snaps(tmp_path).load(m) is not None


def test_a_foreign_key_in_the_right_place_is_rejected(tmp_path):
    m = _manifest(4)
    s = _snaps(tmp_path)
    s.save(m, _build(m))
    (folder,) = _folders(s)
    info = json.loads((folder / "snapshot.json").read_text())
    info["key"]["collection_id"] = "someone-else"
    (folder / "snapshot.json").write_text(json.dumps(info))
    assert s.load(m) is None


@pytest.mark.parametrize("damage", ["truncate-matrix", "garbage-ids", "garbage-info", "missing-vocab"])
def test_a_corrupt_snapshot_is_ignored_then_replaced(tmp_path, caplog, damage):
    m = _manifest(4)
    built = _build(m)
    s = _snaps(tmp_path)
    s.save(m, built)
    (folder,) = _folders(s)
    if damage == "truncate-matrix":
        p = folder / "model" / "data.csc.index.npy"
        p.write_bytes(p.read_bytes()[:-8])
    elif damage == "garbage-ids":
        (folder / "ids.json").write_text("{not json")
    elif damage == "garbage-info":
        (folder / "snapshot.json").write_text("\x00\x01")
    else:
        (folder / "model" / "vocab.index.json").unlink()
    with caplog.at_level(logging.WARNING, logger="rag.index.bm25_snapshot"):
        assert s.load(m) is None
    assert "unusable" in caplog.text
    assert not folder.exists()  # moved out of the way, so the rebuilt one can be saved
    rebuilt = _build(m)
    s.save(m, rebuilt)
    again = _snaps(tmp_path).load(m)
    assert again is not None and _results(again) == _results(built)


def test_two_savers_at_once_leave_one_whole_snapshot(tmp_path):
    m = _manifest(4)
    a, b = _snaps(tmp_path), _snaps(tmp_path)
    a.save(m, _build(m))
    b.save(m, _build(m))  # found saved: nothing written
    assert (a.saves, b.saves) == (1, 0)
    assert len(_folders(a)) == 1 and [p.name for p in a.root.iterdir() if p.name.startswith(".tmp")] == []
    assert _snaps(tmp_path).load(m) is not None


def test_old_generations_are_pruned(tmp_path):
    s = _snaps(tmp_path)
    for g in range(1, 7):
        m = _manifest(g)
        s.save(m, _build(m))
    assert sorted(p.name[:9] for p in _folders(s)) == [f"g{g:08d}" for g in range(7 - KEEP, 7)]


def test_snapshots_of_an_index_unused_for_a_month_are_dropped(tmp_path):
    from rag.index.bm25_snapshot import STALE_S

    m = _manifest(4)
    gone, used, live = (_snaps(tmp_path, collection_id=c) for c in ("gone", "used", "live"))
    gone.save(m, _build(m))
    used.save(m, _build(m))
    foreign = tmp_path / "bm25" / "0123456789abcdef"  # looks like ours, but has no marker: not touched
    foreign.mkdir()
    old = time.time() - STALE_S - 60
    for p in (gone.root, used.root, foreign):
        os.utime(p, (old, old))
    assert used.load(m) is not None  # a load marks it in use
    live.save(m, _build(m))
    assert not gone.root.exists() and used.root.exists() and foreign.exists() and live.load(m) is not None


def test_settings_knobs(tmp_path, monkeypatch):
    from rag.settings import Settings

    monkeypatch.delenv("RAG_BM25_CACHE_DIR", raising=False)  # set by conftest.py for every test

    assert Settings().bm25_snapshot is True
    assert Settings(cache_dir=tmp_path).resolved_bm25_cache_dir == tmp_path / "bm25"
    assert Settings(cache_dir=tmp_path, bm25_cache_dir=tmp_path / "x").resolved_bm25_cache_dir == tmp_path / "x"


# ---------------------------------------------------------------------- ServerNewsIndex on a real server
from test_server_mode import chroma_server  # noqa: E402,F401 - the fixture (starts `chroma run`)


def _open(host: str, port: int, cache: Path, **over):
    from fakes import HashingEmbedder

    from rag.index.server_index import ServerNewsIndex
    from rag.settings import Settings

    s = Settings(chroma_host=host, chroma_port=port, collection="snap", index_dir=cache.parent / "local",
                 bm25_cache_dir=cache, sync_interval_s=0, **over)
    return ServerNewsIndex(s, embedder=HashingEmbedder())


def _commit(ix, name: str, text: str) -> None:
    from rag.types import Article

    art = Article(doc_id=f"{name:0>16}"[:16], text=text, title=name, path=f"{name}.txt")
    ix.commit([(art, ix.chunker(art), art.path, art.doc_id)], [])


@pytest.mark.timeout(600)
def test_server_index_opens_from_the_snapshot_and_a_commit_invalidates_it(chroma_server, tmp_path, monkeypatch):
    host, port = chroma_server
    cache = tmp_path / "bm25"
    builds = []
    real_build = BM25Index.build.__func__
    monkeypatch.setattr(BM25Index, "build", classmethod(lambda cls, *a: builds.append(a[2]) or real_build(cls, *a)))

    writer = _open(host, port, cache)
    for name, chunks in TEXTS.items():
        _commit(writer, name, " ".join(chunks))
    gen = writer.manifest.generation
    assert writer.snapshots.saves == 3  # one per commit, right after it
    reference = _results(writer.bm25)

    builds.clear()
    reader = _open(host, port, cache)  # a second app process on this machine
    assert builds == [] and reader.snapshots.loads == 1 and reader._texts is None
    assert reader.manifest.generation == gen and _results(reader.bm25) == reference
    plain = _open(host, port, tmp_path / "unused", bm25_snapshot=False)  # the rebuild it replaces
    assert builds == [gen] and plain.snapshots is None and _results(plain.bm25) == reference
    assert not (tmp_path / "unused").exists()

    # the writer commits again: the reader's snapshot is stale; it loads the writer's new one
    _commit(writer, "extra", "The Velmora ferry resumed its harbour crossings on Tuesday.")
    builds.clear()
    assert reader.sync(force=True)
    assert builds == [] and reader.snapshots.loads == 2 and reader.bm25.generation == gen + 1
    assert _results(reader.bm25) == _results(writer.bm25)

    # a commit whose snapshot is missing (written on another machine): rebuilt from all texts, then saved
    for p in cache.rglob("g*"):
        if p.is_dir() and p.name.startswith(f"g{gen + 1:08d}"):
            shutil.rmtree(p)
    third = _open(host, port, cache)
    assert builds == [gen + 1] and third.snapshots.saves == 1 and third._texts is not None
    assert _results(third.bm25) == _results(writer.bm25)
    assert reader.check().ok and third.check().ok

    # a process that opened from a snapshot writes: it fetches the texts first, and its BM25 is the rebuilt one
    assert reader._texts is None
    _commit(reader, "late", "A second ferry joins the Velmora harbour route in June, the operator said.")
    assert reader._texts is not None and set(reader._texts) == set(reader.manifest.docs)
    fresh = _open(host, port, tmp_path / "unused", bm25_snapshot=False)
    assert reader.bm25.ids == fresh.bm25.ids and _results(reader.bm25) == _results(fresh.bm25)
    assert reader.bm25.search("second ferry route", 5)[0][0].startswith("000000000000late")


@pytest.mark.timeout(600)
def test_a_corrupt_snapshot_on_the_server_index_is_rebuilt_with_identical_results(chroma_server, tmp_path, caplog):
    host, port = chroma_server
    cache = tmp_path / "bm25"
    writer = _open(host, port, cache)
    for name, chunks in TEXTS.items():
        _commit(writer, name, " ".join(chunks))
    reference = _results(writer.bm25)
    (folder,) = [p for p in _folders(writer.snapshots) if p.name.startswith(f"g{writer.manifest.generation:08d}")]
    p = folder / "model" / "indices.csc.index.npy"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with caplog.at_level(logging.WARNING, logger="rag.index.bm25_snapshot"):
        reader = _open(host, port, cache)
    assert "unusable" in caplog.text and reader.snapshots.loads == 0 and reader.snapshots.saves == 1
    assert _results(reader.bm25) == reference
    again = _open(host, port, cache)  # the rebuilt snapshot is whole
    assert again.snapshots.loads == 1 and _results(again.bm25) == reference
    assert again.check().ok and len(again.list_docs()) == len(TEXTS)  # the indexed data is untouched
