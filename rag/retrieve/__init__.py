"""Retrieval: ``hybrid`` (dense + BM25 fused, the search the chain calls) and ``llamaindex`` (the same
search as a llama-index ``BaseRetriever``). The adapter imports the search, never the reverse, and this
package imports neither: a cold ``newsrag ask`` must not pay for llama-index."""
