"""Ingest into a real Chroma + BM25 index: offsets, idempotence, updates, bad input, crash safety."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SEED_FILE

from rag.text.sentences import split_sentences
from rag.types import IndexMismatchError, RagError

TIER = "integration"  # the tests below load the embedding model or Chroma, or run the CLI (conftest.py)


def _consistent(index) -> None:
    rep = index.check()
    assert rep.ok, rep.problems
    m = index.manifest
    assert index.chroma.count() == m.n_chunks == len(index.bm25.ids)
    assert set(index.bm25.ids) == m.chunk_ids() == index.chroma.all_ids()


def test_chunks_offsets_round_trip_and_token_bound(seed_assistant):
    index = seed_assistant.index
    (entry,) = index.manifest.docs.values()
    art = index.articles.get(entry.doc_id)
    chunks = index.chunks_of(entry.doc_id)
    assert len(chunks) == entry.n_chunks >= 3
    bounds = {s for s, _ in split_sentences(art.text)} | {e for _, e in split_sentences(art.text)}
    tok = index.embedder.tokenizer
    for c in chunks:
        assert art.text[c.start:c.end] == c.text
        assert c.start in bounds and c.end in bounds  # no sentence split mid-way
        assert len(tok(c.text, add_special_tokens=False)["input_ids"]) <= index.chunk_limit
    # one sentence of overlap between consecutive chunks
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start < a.end
    stored = index.chroma.get([chunks[0].chunk_id])[chunks[0].chunk_id]
    assert stored[0] == chunks[0].text and stored[1]["start"] == chunks[0].start
    assert stored[1]["source"] == "Shafaq News" and stored[1]["doc_id"] == entry.doc_id


def test_llamaindex_nodes(seed_assistant):
    from llama_index.core.schema import TextNode

    nodes = seed_assistant.retriever(k=3).retrieve("Ain al-Asad airbase")
    assert nodes and isinstance(nodes[0].node, TextNode)
    n = nodes[0].node
    art = seed_assistant.article(n.metadata["doc_id"])
    assert art.text[n.start_char_idx:n.end_char_idx] == n.text


def test_idempotent_reingest(assistant, seed_copy):
    r1 = assistant.ingest([seed_copy])
    assert (r1.documents_added, r1.chunks_added) == (1, assistant.index.manifest.n_chunks)
    r2 = assistant.ingest([seed_copy])
    assert (r2.documents_added, r2.documents_unchanged, r2.chunks_added) == (0, 1, 0)
    _consistent(assistant.index)


def test_update_replaces_and_prune_removes(assistant, seed_copy):
    f = seed_copy / SEED_FILE.name
    other = seed_copy / "b.txt"
    other.write_text("Harbour reopens\n\nThe harbour of Velmora reopened on Monday after repairs. "
                     "Officials said 40 ships were waiting.\n")
    assistant.ingest([seed_copy])
    old_ids = set(assistant.index.manifest.docs)
    f.write_text(f.read_text().replace("nearly seven mortar rounds", "nearly nine mortar rounds"))
    r = assistant.ingest([seed_copy])
    assert (r.documents_updated, r.documents_unchanged, r.documents_added) == (1, 1, 0)
    assert len(assistant.index.manifest.docs) == 2 and set(assistant.index.manifest.docs) != old_ids
    hits = assistant.search("How many mortar rounds landed?", k=3)
    assert any("nine mortar" in p.text for p in hits) and not any("seven mortar" in p.text for p in hits)
    _consistent(assistant.index)
    other.unlink()
    r = assistant.ingest([seed_copy], prune=True)
    assert r.documents_removed == 1 and len(assistant.index.manifest.docs) == 1
    _consistent(assistant.index)


def test_equal_text_in_two_files_kept_apart(assistant, seed_copy):
    shutil.copy(seed_copy / SEED_FILE.name, seed_copy / "copy.txt")
    r = assistant.ingest([seed_copy])
    assert r.documents_added == 2 and len(set(assistant.index.manifest.docs)) == 2
    _consistent(assistant.index)


def test_remove_and_list(assistant, seed_copy):
    assistant.ingest([seed_copy])
    (doc,) = assistant.documents()
    assert assistant.remove(doc.doc_id) == 1
    assert assistant.documents() == [] and assistant.index.chroma.count() == 0
    with pytest.raises(RagError, match="No article with id"):
        assistant.remove("nope")


def test_bad_inputs_reported_others_ingested(make_settings, tmp_path, seed_copy):
    from rag.api import Assistant

    a = Assistant(make_settings(max_file_mb=0.05))
    a.ingest([seed_copy])
    before = set(a.index.manifest.docs)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_text("")
    (bad / "blank.md").write_text("   \n\n  ")
    (bad / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (bad / "big.txt").write_text("Word and more words. " * 5000)
    (bad / "lines.jsonl").write_text('{"text": "A good record about the harbour of Velmora reopening."}\n{oops\n')
    (bad / "good.md").write_text("# Good article\n\nThe mayor of Velmora opened a bridge on Friday.\n")
    os.symlink(tmp_path / "missing-target.txt", bad / "broken.txt")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    r = a.ingest([bad, tmp_path / "does-not-exist.txt", tmp_path / "notes.pdf"])
    reasons = {Path(f.path.split(":")[0]).name: f.reason for f in r.failed}
    assert "empty" in reasons["empty.txt"]
    assert "empty" in reasons["blank.md"]
    assert "binary" in reasons["binary.txt"]
    assert "limit" in reasons["big.txt"] and "RAG_MAX_FILE_MB" in reasons["big.txt"]
    assert "malformed JSON" in reasons["lines.jsonl"]
    assert "no such file" in reasons["does-not-exist.txt"]
    assert "unsupported" in reasons["notes.pdf"]
    assert "broken symbolic link" in reasons["broken.txt"]
    assert r.documents_added == 2  # good.md and the good JSON line
    assert before <= set(a.index.manifest.docs)  # nothing already indexed was lost
    _consistent(a.index)
    a.close()


def test_embedding_model_mismatch_is_a_clear_error(make_settings, seed_copy, tmp_path):
    from rag.api import Assistant
    from rag.index.embeddings import resolve_model_path

    a = Assistant(make_settings())
    a.ingest([seed_copy])
    a.close()
    other = tmp_path / "other-minilm"
    shutil.copytree(resolve_model_path("all-MiniLM-L6-v2"), other)
    b = Assistant(make_settings(embed_model=str(other)))
    with pytest.raises(IndexMismatchError) as exc:
        b.search("embassy")
    msg = str(exc.value)
    assert "all-MiniLM-L6-v2" in msg and "other-minilm" in msg and "newsrag index rebuild" in msg


def test_an_index_keeps_the_chunking_and_precision_it_was_built_with(make_settings, seed_copy):
    """Opened with other chunk-size or precision settings, an existing index keeps its own (its articles
    re-chunk to the stored chunks, queries are embedded like its vectors, a re-ingest changes nothing);
    a rebuild moves it to the configured ones."""
    import numpy as np

    from rag.api import Assistant
    from rag.index.embeddings import get_embedder

    a = Assistant(make_settings(chunk_tokens=120, embed_precision="f32"))
    a.ingest([seed_copy])
    built = a.index.manifest
    assert (built.chunk_tokens, built.embed_precision) == (120, "f32")
    a.close()

    b = Assistant(make_settings(chunk_tokens=254, embed_precision="default"))
    idx = b.index
    assert idx.chunk_limit == 120 and idx.embedder.requested_precision == "f32"
    doc = next(iter(idx.manifest.docs.values()))
    assert len(idx.chunks_of(doc.doc_id, doc.n_chunks)) == doc.n_chunks  # no "chunking settings changed"
    q = "What did the embassy say?"
    assert np.array_equal(idx.embedder.encode_one(q), get_embedder(precision="f32").encode_one(q))
    rep = b.ingest([seed_copy])
    assert rep.documents_unchanged >= 1 and rep.chunks_added == 0

    b.index.rebuild()
    rebuilt = b.index.manifest
    assert (rebuilt.chunk_tokens, rebuilt.embed_precision) == (254, "default")
    assert rebuilt.n_chunks < built.n_chunks  # longer chunks: fewer of them
    assert b.index.check().ok
    b.close()


def test_rebuild_from_stored_articles(make_settings, seed_copy):
    from rag.api import Assistant

    a = Assistant(make_settings())
    a.ingest([seed_copy])
    n = a.index.manifest.n_chunks
    a.close()
    index_dir = a.settings.index_dir
    shutil.rmtree(seed_copy)  # the original files are gone
    shutil.rmtree(index_dir / "bm25")
    (index_dir / "chroma" / "chroma.sqlite3").write_bytes(b"truncated")  # a damaged vector store
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir)}
    check = subprocess.run([sys.executable, "-m", "rag.cli", "index", "check", "--json"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 1 and not json.loads(check.stdout)["ok"]
    assert "newsrag index rebuild" in check.stdout
    done = subprocess.run([sys.executable, "-m", "rag.cli", "index", "rebuild"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{n} chunk(s)" in done.stdout
    check = subprocess.run([sys.executable, "-m", "rag.cli", "index", "check", "--json"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    rep = json.loads(check.stdout)
    assert check.returncode == 0 and rep["ok"] and rep["chunks"] == n, rep


def _synthetic_corpus(d: Path, n: int) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        paras = [f"Report {i} from the river town of Osk{i}"] + [
            f"Officials in Osk{i} said on day {j} that {i * 7 + j} barges carried {j * 13 + i} tonnes of grain. "
            f"The harbour master, named Ilse Varn{i}, said the season had been {'good' if j % 2 else 'poor'}."
            for j in range(12)]
        (d / f"a{i:04d}.txt").write_text("\n\n".join(paras))


@pytest.mark.slow
def test_kill9_during_ingest_then_rerun_is_consistent(tmp_path):
    corpus = tmp_path / "corpus"
    _synthetic_corpus(corpus, 160)
    index_dir = tmp_path / "index"
    env = {**os.environ, "RAG_INDEX_DIR": str(index_dir), "RAG_EMBED_BATCH_SIZE": "8"}
    cmd = [sys.executable, "-m", "rag.cli", "ingest", str(corpus), "--json"]
    for delay in (4.0, 9.0):
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # state after the kills: whatever is committed is consistent once reopened
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["failed"] == []
    check = subprocess.run([sys.executable, "-m", "rag.cli", "index", "check", "--json"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    rep = json.loads(check.stdout)
    assert check.returncode == 0 and rep["ok"], rep
    assert rep["documents"] == 160
    again = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert json.loads(again.stdout)["documents_unchanged"] == 160
    assert json.loads(again.stdout)["chunks_added"] == 0
