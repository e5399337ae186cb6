"""Text layer: sentence spans and token-bounded chunks, shared by ingest, index and answer (below all three)."""
