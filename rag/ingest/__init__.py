"""Ingest: load files into raw records, clean them into Articles, chunk them (with the index's chunker)."""
