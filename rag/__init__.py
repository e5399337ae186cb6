"""newsrag: cited, verified answers over a collection of news articles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.logging_setup import set_openmp_passive

# before anything heavy is imported: the OpenMP runtime reads it once, when it loads
set_openmp_passive()

__all__ = ["Assistant", "Settings", "Answer", "Citation", "Passage", "RagError"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from rag.api import Assistant
    from rag.settings import Settings
    from rag.types import Answer, Citation, Passage, RagError


def __getattr__(name: str):
    # lazy: `newsrag --help` must not import torch or chromadb
    if name == "Assistant":
        from rag.api import Assistant

        return Assistant
    if name == "Settings":
        from rag.settings import Settings

        return Settings
    if name in ("Answer", "Citation", "Passage", "RagError"):
        from rag import types

        return getattr(types, name)
    raise AttributeError(name)
