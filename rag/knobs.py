"""The tuning numbers of the answering path (evidence, answerability, verification, support scorer), as
one frozen record built once from :class:`rag.settings.Settings`.

The functions that use them take ``knobs`` (default :data:`DEFAULT_KNOBS`, the Settings defaults, for
tests and tools); the chain passes ``Knobs.from_settings(settings)``, so a ``RAG_*`` variable or a TOML
value reaches them. Each field is the Settings field of the same name: its description is there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from rag.settings import Settings


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class Knobs:
    # evidence (rag/answer/evidence.py)
    evidence_min_chars: int = _default("evidence_min_chars")
    evidence_dense_weight: float = _default("evidence_dense_weight")
    evidence_lexical_weight: float = _default("evidence_lexical_weight")
    evidence_rank_prior: float = _default("evidence_rank_prior")
    evidence_name_weight: float = _default("evidence_name_weight")
    evidence_other_weight: float = _default("evidence_other_weight")
    evidence_context_discount: float = _default("evidence_context_discount")
    evidence_headline_factor: float = _default("evidence_headline_factor")
    evidence_answer_type_bonus: float = _default("evidence_answer_type_bonus")
    # answerability rules (rag/answer/answerable.py)
    min_question_coverage: float = _default("min_question_coverage")
    polarity_sentences: int = _default("polarity_sentences")
    answer_size_max: int = _default("answer_size_max")
    withheld_min_overlap: float = _default("withheld_min_overlap")
    # verification (rag/answer/verify.py)
    short_answer_words: int = _default("short_answer_words")
    fragment_min_contained: float = _default("fragment_min_contained")
    fragment_min_coverage: float = _default("fragment_min_coverage")
    fragment_title_coverage: bool = _default("fragment_title_coverage")
    fragment_contained_weight: float = _default("fragment_contained_weight")
    off_topic_min_coverage: float = _default("off_topic_min_coverage")
    answer_each_part: bool = _default("answer_each_part")  # each sentence checked against the part it answers
    verify_clauses: bool = _default("verify_clauses")
    # the support scorer (rag/support.py)
    support_threshold: float = _default("support_threshold")
    support_lexical_weight: float = _default("support_lexical_weight")
    support_embedding_weight: float = _default("support_embedding_weight")
    support_cos_low: float = _default("support_cos_low")
    support_cos_high: float = _default("support_cos_high")
    support_raw_zero: float = _default("support_raw_zero")
    support_local_weight: float = _default("support_local_weight")
    support_max_window: int = _default("support_max_window")
    support_stem_length_cap: int = _default("support_stem_length_cap")
    support_stem_length_scale: float = _default("support_stem_length_scale")
    support_window_penalty: float = _default("support_window_penalty")
    support_soft_penalty: float = _default("support_soft_penalty")
    support_hard_penalty: float = _default("support_hard_penalty")
    support_min_phrase_recall: float = _default("support_min_phrase_recall")
    support_focus_share: float = _default("support_focus_share")
    support_negation_share: float = _default("support_negation_share")
    support_number_claim_words: int = _default("support_number_claim_words")
    support_number_evidence_words: int = _default("support_number_evidence_words")
    support_min_quote_words: int = _default("support_min_quote_words")
    support_min_part_words: int = _default("support_min_part_words")
    support_speaker_lookback: int = _default("support_speaker_lookback")

    @classmethod
    def from_settings(cls, settings: Settings) -> Knobs:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


DEFAULT_KNOBS = Knobs()
