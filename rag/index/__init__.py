"""The index: embeddings, Chroma vectors, BM25, the manifest (commit point) and article store.

``backend.open_index(settings)`` opens the embedded store (``store.py``) or the server store
(``server_index.py``), both built on ``base.py`` and checked by ``check.py``; ``repair.py`` rebuilds.
The index is handed its chunker (rag/text) and imports nothing from rag/ingest.
"""
