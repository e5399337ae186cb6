"""The tuning numbers: every one a Settings field that the code reads, and the Knobs record (how they
reach evidence, answerability, verification and the support scorer) in step with Settings."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

RAG = Path(__file__).resolve().parent.parent / "rag"
# the groups of tuning numbers; index and paths fields are also read by process-level readers
# (rag/index/embeddings.py reads the environment through rag/settings.py) or by settings.py itself
TUNING_GROUPS = ("retrieval", "evidence", "answer_check", "support", "llm")


def _source() -> str:
    """rag/ without the two modules that declare the fields (a declaration is not a use)."""
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(RAG.rglob("*.py"))
                     if p.relative_to(RAG).as_posix() not in ("settings.py", "knobs.py"))


def test_every_tuning_setting_is_read_somewhere():
    from rag.settings import Settings

    src = _source()
    unread = [name for name, info in Settings.model_fields.items()
              if info.json_schema_extra["group"] in TUNING_GROUPS and not re.search(rf"\.{name}\b", src)]
    assert not unread, f"settings no code reads (a number moved back inline?): {unread}"


def test_knobs_are_settings_fields_with_their_defaults():
    from rag.knobs import DEFAULT_KNOBS, Knobs
    from rag.settings import Settings

    for f in fields(Knobs):
        assert f.name in Settings.model_fields, f"knob {f.name} is no Settings field"
        info = Settings.model_fields[f.name]
        assert info.json_schema_extra["group"] in TUNING_GROUPS, f.name
        assert getattr(DEFAULT_KNOBS, f.name) == info.default, f.name
        assert type(getattr(DEFAULT_KNOBS, f.name)) is type(info.default), f.name


def test_knobs_carry_every_value_of_a_settings_object():
    from rag.knobs import Knobs
    from rag.settings import Settings

    base = Settings.model_construct()  # defaults only: no environment, no TOML file
    changed = {f.name: getattr(base, f.name) + 1 for f in fields(Knobs)}
    knobs = Knobs.from_settings(base.model_copy(update=changed))
    assert {name: getattr(knobs, name) for name in changed} == changed


def test_the_chain_passes_the_settings_values_down():
    from rag.answer.chain import AnswerChain
    from rag.settings import Settings

    class Index:
        class embedder:  # noqa: N801 - stands for the embedder object
            encode = None

    s = Settings.model_construct().model_copy(update={"short_answer_words": 3, "support_raw_zero": 0.1})
    chain = AnswerChain(s, index_getter=lambda: Index)
    assert chain.knobs.short_answer_words == 3
    assert chain.scorer.knobs is chain.knobs and chain.scorer.raw_zero == 0.1


def test_a_knob_changes_the_outcome():
    """The values are used, not only carried: the same input, another knob, another verdict."""
    from rag.answer.answerable import check
    from rag.answer.verify import as_claim
    from rag.knobs import DEFAULT_KNOBS, Knobs
    from rag.support import SupportScorer

    q = "Who opened the new bridge?"
    assert as_claim("The mayor of the harbour town", q) != "The mayor of the harbour town"
    assert as_claim("The mayor of the harbour town", q, short_words=3) == "The mayor of the harbour town"

    ev = ["The bridge over the river opened on Monday after six years of work."]
    question = "When did the bridge over the river open to traffic and to cyclists?"
    assert check(question, ev).answerable
    strict = Knobs(**{**vars(DEFAULT_KNOBS), "min_question_coverage": 0.99})
    assert not check(question, ev, knobs=strict).answerable

    # lexical only (no embedder): raw = 0.7143 here, mapped to (raw - raw_zero) / (1 - raw_zero)
    claim, evidence = "The bridge opened on Monday to cyclists.", "The bridge over the river opened on Monday."
    assert SupportScorer().score(claim, evidence).score == pytest.approx(0.5918, abs=1e-4)
    lenient = SupportScorer(knobs=Knobs(**{**vars(DEFAULT_KNOBS), "support_raw_zero": 0.0}))
    assert lenient.score(claim, evidence).score == pytest.approx(0.7143, abs=1e-4)
    higher_bar = SupportScorer(knobs=Knobs(**{**vars(DEFAULT_KNOBS), "support_threshold": 0.6}))
    assert SupportScorer().score(claim, evidence).supported and not higher_bar.score(claim, evidence).supported
