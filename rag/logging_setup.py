"""Process-wide environment and logging defaults (offline, no telemetry, quiet libraries)."""

from __future__ import annotations

import logging
import os
import warnings


def set_offline_env() -> None:
    """No model hub, no analytics: this product must work without the internet and phone nowhere."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
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
