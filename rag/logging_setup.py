"""Process-wide environment and logging defaults (offline, no telemetry, quiet libraries)."""

from __future__ import annotations

import logging
import os
import warnings


def set_hub_offline() -> None:
    """No model hub: set before Hugging Face code loads a model (also when used as a library)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def set_openmp_passive() -> None:
    """llama.cpp's worker threads are OpenMP threads, and libgomp busy-waits between tasks by default: on a
    shared 2-core machine that made decoding ~10x slower (2 vs 21 tokens/s). libgomp reads the variable
    once, when it loads (torch shares it), so this runs when the ``rag`` package is imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def set_offline_env() -> None:
    """No model hub, no analytics: this product must work without the internet and phone nowhere."""
    set_hub_offline()
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", os.environ.get("TQDM_DISABLE", "0"))


def configure(verbose: int = 0) -> None:
    set_offline_env()
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "chromadb", "sentence_transformers", "bm25s", "urllib3", "transformers",
                  "huggingface_hub", "opentelemetry"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
