"""The index: embeddings, Chroma vectors, BM25, the manifest (commit point) and article store."""
