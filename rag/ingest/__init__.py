"""Ingest: load files into raw records, clean them into Articles, chunk them with offsets."""
