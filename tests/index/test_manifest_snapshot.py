"""The server-mode manifest snapshot (rag/index/manifest_snapshot.py).

The unit tests drive ``ManifestSnapshots`` directly with a ``state`` record as ``ServerMeta.write_state``
writes it; the last tests open ``ServerNewsIndex`` on a real ``chroma run`` server (the ``chroma_server``
fixture of test_server_mode.py) with a hashing embedder. No timings: "loaded, not read from the server" is
read from the snapshot object's counters and from ``ServerMeta.load_manifest`` calls.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from rag.index.manifest import DocEntry, Manifest
from rag.index.manifest_snapshot import KEEP, ManifestSnapshots, _digest
from rag.index.server_meta import ServerMeta, docs_checksum

DOCS = {"harbour": 2, "bridge": 2, "dam": 1}
FURNITURE = {"Coastal Herald": {"Subscribe now": 3}}


def _manifest(gen: int, docs=DOCS) -> Manifest:
    return Manifest(generation=gen, embed_model="hash-64", embed_dim=64, chunk_tokens=200, furniture=FURNITURE,
                    docs={d: DocEntry(doc_id=d, key=f"{d}.txt", path=f"{d}.txt", content_hash=d, n_chunks=n,
                                      title=d.title(), source="Coastal Herald", published="2024-05-0%d" % n)
                          for d, n in docs.items()})


def _state(m: Manifest) -> dict:
    """The ``state`` record of ``m``'s commit, as ``ServerMeta.read_state`` returns it."""
    return {"kind": "state", "generation": m.generation, "embed_model": m.embed_model, "embed_dim": m.embed_dim,
            "chunk_tokens": m.chunk_tokens, "n_docs": len(m.docs), "docs_xor": docs_checksum(m.docs),
            "furniture": m.furniture}


def _snaps(tmp_path: Path, collection_id: str = "c1", collection: str = "news") -> ManifestSnapshots:
    return ManifestSnapshots(tmp_path / "manifest", collection, collection_id)


def _files(s: ManifestSnapshots) -> list[Path]:
    """The snapshot files (not the marker, nor temporary files)."""
    return sorted(p for p in s.root.iterdir() if p.name.startswith("g"))


def test_a_second_process_loads_the_saved_manifest(tmp_path):
    m = _manifest(4)
    s = _snaps(tmp_path)
    s.save(m)
    assert s.saves == 1 and len(_files(s)) == 1
    other = _snaps(tmp_path)  # what another process opening the same index has
    got = other.load(_state(m))
    assert got is not None and other.loads == 1
    assert got == m and got.docs["harbour"].title == "Harbour"


def test_the_state_record_wins_over_the_file_for_everything_but_the_docs(tmp_path):
    m = _manifest(4)
    _snaps(tmp_path).save(m)
    state = {**_state(m), "furniture": {"Daily Meridian": {"Read more": 2}}, "chunk_tokens": 256}
    got = _snaps(tmp_path).load(state)
    assert got is not None and got.furniture == {"Daily Meridian": {"Read more": 2}} and got.chunk_tokens == 256
    assert got.docs == m.docs


def test_another_generation_or_index_state_never_uses_it(tmp_path):
    m = _manifest(4)
    _snaps(tmp_path).save(m)
    assert _snaps(tmp_path).load(_state(_manifest(5))) is None  # the next commit
    fewer = {k: v for k, v in DOCS.items() if k != "dam"}
    assert _snaps(tmp_path).load(_state(_manifest(4, fewer))) is None  # same counter, other docs (a reset server)
    assert _snaps(tmp_path, collection_id="c2").load(_state(m)) is None  # the side collection was re-created
    assert _snaps(tmp_path, collection="other").load(_state(m)) is None
    assert _snaps(tmp_path).load({"generation": 0, "furniture": {}}) is None  # nothing committed
    assert _snaps(tmp_path).load(_state(m)) is not None


def test_nothing_is_saved_for_an_empty_index(tmp_path):
    s = _snaps(tmp_path)
    s.save(Manifest(generation=0))
    s.save(_manifest(3, {}))
    assert s.saves == 0 and not s.root.exists()


def _rewrite(path: Path, head: dict, body: bytes) -> None:
    path.write_bytes(json.dumps(head).encode() + b"\n" + body)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flipped-byte", "foreign-key", "docs-dropped",
                                    "no-header"])
def test_a_corrupt_snapshot_is_ignored_then_replaced(tmp_path, caplog, damage):
    m = _manifest(4)
    s = _snaps(tmp_path)
    s.save(m)
    (path,) = _files(s)
    data = path.read_bytes()
    head_raw, _, body = data.partition(b"\n")
    head = json.loads(head_raw)
    if damage == "truncate":
        path.write_bytes(data[:-20])
    elif damage == "garbage":
        path.write_bytes(b"\x00\x01{not json")
    elif damage == "flipped-byte":  # a title changed on disk: the same size, the doc ids intact
        path.write_bytes(data.replace(b'"Harbour"', b'"Harbous"'))
    elif damage == "foreign-key":  # a whole, well-formed snapshot of another index in this one's place
        head["key"]["collection_id"] = "someone-else"
        _rewrite(path, head, body)
    elif damage == "docs-dropped":  # consistent size and digest, but not the docs the state commits
        fewer = _manifest(4, {"harbour": 2}).model_dump_json().encode()
        _rewrite(path, {**head, "size": len(fewer), "digest": _digest(fewer)}, fewer)
    else:
        path.write_bytes(body)  # the manifest JSON alone (no header line)
    with caplog.at_level(logging.WARNING, logger="rag.index.manifest_snapshot"):
        assert s.load(_state(m)) is None
    assert "unusable" in caplog.text
    assert not path.exists()  # removed, so the one read from the server takes its place
    s.save(m)
    again = _snaps(tmp_path).load(_state(m))
    assert again is not None and again == m


def test_two_savers_leave_one_whole_snapshot(tmp_path):
    m = _manifest(4)
    a, b = _snaps(tmp_path), _snaps(tmp_path)
    a.save(m)
    b.save(m)  # found saved: nothing written
    assert (a.saves, b.saves) == (1, 0)
    assert len(_files(a)) == 1 and [p.name for p in a.root.iterdir() if p.name.startswith(".g")] == []


def test_old_generations_and_leftover_temporary_files_are_pruned(tmp_path):
    s = _snaps(tmp_path)
    s.root.mkdir(parents=True)
    (s.root / ".g00000001-0000000000000000.json.x1y2").write_text("half")  # a killed saver's temp file
    for g in range(1, 7):
        s.save(_manifest(g))
    assert [p.name[:9] for p in _files(s)] == [f"g{g:08d}" for g in range(7 - KEEP, 7)]
    assert not (s.root / ".g00000001-0000000000000000.json.x1y2").exists()


def test_snapshots_of_an_index_unused_for_a_month_are_dropped(tmp_path):
    from rag.index.manifest_snapshot import STALE_S

    m = _manifest(4)
    gone, used, live = (_snaps(tmp_path, collection_id=c) for c in ("gone", "used", "live"))
    gone.save(m)
    used.save(m)
    foreign = tmp_path / "manifest" / "0123456789abcdef"  # looks like ours, but has no marker: not touched
    foreign.mkdir()
    old = time.time() - STALE_S - 60
    for p in (gone.root, used.root, foreign):
        os.utime(p, (old, old))
    assert used.load(_state(m)) is not None  # a load marks it in use
    live.save(m)
    assert not gone.root.exists() and used.root.exists() and foreign.exists() and live.load(_state(m)) is not None


def test_settings_knobs(tmp_path, monkeypatch):
    from rag.settings import Settings

    monkeypatch.delenv("RAG_MANIFEST_CACHE_DIR", raising=False)  # set by conftest.py for every test
    assert Settings().manifest_snapshot is True
    assert Settings(cache_dir=tmp_path).resolved_manifest_cache_dir == tmp_path / "manifest"
    assert (Settings(cache_dir=tmp_path, manifest_cache_dir=tmp_path / "x").resolved_manifest_cache_dir
            == tmp_path / "x")
    monkeypatch.setenv("RAG_MANIFEST_SNAPSHOT", "0")
    assert Settings().manifest_snapshot is False


# ---------------------------------------------------------------------- ServerNewsIndex on a real server
from test_server_mode import chroma_server  # noqa: E402,F401 - the fixture (starts `chroma run`)

TEXTS = {
    "harbour": "Velmora harbour reopened on Monday after three weeks of storm repairs. Harbour master Ilse "
               "Varnholt said 43 cargo ships had waited offshore.",
    "bridge": "Mayor Tamsin Rautio said 9,200 vehicles crossed the new Oskgrad bridge. The bridge spans the "
              "Lunava river and cost 40 million crowns.",
    "dam": "Inspectors found 17 cracks in the Korrin dam spillway, the water board said.",
}


def _open(host: str, port: int, tmp_path: Path, cache: str = "manifest", **over):
    from fakes import HashingEmbedder

    from rag.index.server_index import ServerNewsIndex
    from rag.settings import Settings

    s = Settings(chroma_host=host, chroma_port=port, collection="msnap", index_dir=tmp_path / "local",
                 bm25_cache_dir=tmp_path / "bm25", manifest_cache_dir=tmp_path / cache, sync_interval_s=0, **over)
    return ServerNewsIndex(s, embedder=HashingEmbedder())


def _commit(ix, name: str, text: str) -> None:
    from rag.types import Article

    art = Article(doc_id=f"{name:0>16}"[:16], text=text, title=name, source="Coastal Herald",
                  published="2024-05-01", path=f"{name}.txt")
    ix.commit([(art, ix.chunker(art), art.path, art.doc_id)], [])


@pytest.fixture
def server_reads(monkeypatch):
    """Every full manifest read from the server (``ServerMeta.load_manifest``), by generation read."""
    reads: list[int] = []
    real = ServerMeta.load_manifest

    def counting(self, *a, **kw):
        m = real(self, *a, **kw)
        reads.append(m.generation)
        return m

    monkeypatch.setattr(ServerMeta, "load_manifest", counting)
    return reads


def _same(a: Manifest, b: Manifest) -> bool:
    return a.model_dump() == b.model_dump()


@pytest.mark.timeout(600)
def test_server_index_opens_from_the_manifest_snapshot_and_a_commit_makes_it_stale(chroma_server, tmp_path,
                                                                                    server_reads):
    host, port = chroma_server
    writer = _open(host, port, tmp_path)
    for name, text in TEXTS.items():
        _commit(writer, name, text)
    gen = writer.manifest.generation
    assert writer.manifest_snapshots.saves == 3  # one per commit, right after it
    plain = _open(host, port, tmp_path, cache="unused", manifest_snapshot=False)  # read from the server
    assert server_reads[-1] == gen and plain.manifest_snapshots is None
    assert not (tmp_path / "unused").exists()  # the setting off: nothing written
    reference = plain.manifest
    assert _same(writer.manifest, reference)  # what the writer saved is what the server holds

    server_reads.clear()
    reader = _open(host, port, tmp_path)  # a second app process on this machine
    assert server_reads == [] and reader.manifest_snapshots.loads == 1 and reader.manifest_snapshots.saves == 0
    assert _same(reader.manifest, reference) and len(reader.list_docs()) == len(TEXTS)
    assert reader.bm25.search("cargo ships offshore", 3)[0][0].startswith("000000000harbour")

    # ingest more: the snapshot of `gen` is stale. One whose new snapshot is missing (the commit was made on
    # another machine) reads the server and saves it; it never takes the old one.
    _commit(writer, "extra", "The Velmora ferry resumed its harbour crossings on Tuesday.")
    for p in reader.manifest_snapshots.root.glob(f"g{gen + 1:08d}-*.json"):
        p.unlink()
    server_reads.clear()
    third = _open(host, port, tmp_path)
    assert server_reads == [gen + 1] and third.manifest_snapshots.loads == 0 and third.manifest_snapshots.saves == 1
    assert third.manifest.generation == gen + 1 and "00000000000extra" in third.manifest.docs
    assert _same(third.manifest, _open(host, port, tmp_path, manifest_snapshot=False).manifest)
    server_reads.clear()
    fourth = _open(host, port, tmp_path)
    assert server_reads == [] and fourth.manifest_snapshots.loads == 1 and _same(fourth.manifest, third.manifest)

    # a reader that follows the commits by delta saves the new generation's snapshot when it is missing
    _commit(writer, "late", "A second ferry joins the Velmora harbour route in June, the operator said.")
    for p in reader.manifest_snapshots.root.glob(f"g{gen + 2:08d}-*.json"):
        p.unlink()
    assert reader.sync(force=True) and reader.manifest.generation == gen + 2
    assert reader.manifest_snapshots.saves == 1
    server_reads.clear()
    fifth = _open(host, port, tmp_path)
    assert server_reads == [] and _same(fifth.manifest, writer.manifest)
    assert fifth.check().ok and writer.check().ok


@pytest.mark.timeout(600)
def test_a_corrupt_manifest_snapshot_on_the_server_index_is_rebuilt_with_a_warning(chroma_server, tmp_path,
                                                                                    server_reads, caplog):
    host, port = chroma_server
    writer = _open(host, port, tmp_path)
    for name, text in TEXTS.items():
        _commit(writer, name, text)
    (path,) = writer.manifest_snapshots.root.glob(f"g{writer.manifest.generation:08d}-*.json")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    server_reads.clear()
    with caplog.at_level(logging.WARNING, logger="rag.index.manifest_snapshot"):
        reader = _open(host, port, tmp_path)
    assert "unusable" in caplog.text
    assert server_reads == [writer.manifest.generation] and reader.manifest_snapshots.saves == 1
    assert _same(reader.manifest, writer.manifest)
    server_reads.clear()
    again = _open(host, port, tmp_path)  # the rebuilt snapshot is whole
    assert server_reads == [] and again.manifest_snapshots.loads == 1 and _same(again.manifest, writer.manifest)
    assert again.check().ok and len(again.list_docs()) == len(TEXTS)  # the indexed data is untouched
    shutil.rmtree(tmp_path / "manifest")  # the cache gone altogether: read from the server again
    server_reads.clear()
    assert _same(_open(host, port, tmp_path).manifest, writer.manifest) and len(server_reads) == 1
