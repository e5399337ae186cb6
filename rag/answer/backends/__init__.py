"""LLM backends: ``make_backend(settings)`` picks one from ``settings.backend``.

- ``local``: a GGUF model run in-process by llama.cpp (``LocalBackend``)
- ``openai``: any OpenAI-compatible server (``OpenAIBackend``)
- ``extractive``: no LLM at all (``None``; the answering chain extracts sentences)
"""

from __future__ import annotations

from rag.answer.backends.llm import LLMBackend
from rag.types import RagError

__all__ = ["LLMBackend", "make_backend"]


def make_backend(settings) -> LLMBackend | None:
    backend = settings.backend
    if backend == "extractive":
        return None
    if backend == "local":
        from rag.answer.backends.local import LocalBackend

        return LocalBackend(settings)
    if backend == "openai":
        if not settings.openai_base_url or not settings.openai_model:
            missing = [
                name
                for name, value in (
                    ("RAG_OPENAI_BASE_URL", settings.openai_base_url),
                    ("RAG_OPENAI_MODEL", settings.openai_model),
                )
                if not value
            ]
            raise RagError(
                f"The openai backend needs {' and '.join(missing)} (e.g. RAG_OPENAI_BASE_URL="
                "http://127.0.0.1:11434/v1 and RAG_OPENAI_MODEL=qwen2.5:0.5b for Ollama)."
            )
        from rag.answer.backends.openai_compat import OpenAIBackend

        return OpenAIBackend(
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            api_key=settings.openai_api_key,
            timeout=settings.llm_timeout_s,
            temperature=settings.llm_temperature,
            context_window=settings.llm_ctx,
        )
    raise RagError(f"Unknown backend {backend!r}: use local, openai or extractive.")
