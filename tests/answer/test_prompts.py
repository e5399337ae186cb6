"""The answer prompt's two layouts: the same words, the fixed instructions before or after the question."""

from __future__ import annotations

from types import SimpleNamespace

from rag.answer import prompts


def _items():
    return [SimpleNamespace(n=1, title="Harbour bridge reopens", display_text="The bridge reopened on Monday.")]


def test_instructions_in_system_keep_the_user_message_to_evidence_and_question():
    after = prompts.answer_messages(_items(), "When did the bridge reopen?")
    first = prompts.answer_messages(_items(), "When did the bridge reopen?", instructions_in_system=True)
    assert after[0]["content"] == prompts.SYSTEM
    assert after[1]["content"].endswith(prompts.ANSWER_INSTRUCTIONS)
    # the cached prefix (system message) holds the instructions; the question ends the prompt
    assert first[0]["content"] == f"{prompts.SYSTEM}\n\n{prompts.ANSWER_INSTRUCTIONS}"
    assert first[1]["content"].endswith("Question: When did the bridge reopen?")
    assert prompts.ANSWER_INSTRUCTIONS not in first[1]["content"]
    # nothing lost or added: the same text, moved
    def words(messages):
        return sorted(" ".join(m["content"] for m in messages).split())

    assert words(after) == words(first)


def test_every_question_shares_the_system_message():
    a = prompts.answer_messages(_items(), "Who?", instructions_in_system=True)
    b = prompts.answer_messages([], "Where?", [("user", "Who?"), ("assistant", "Someone [1].")],
                                instructions_in_system=True)
    assert a[0] == b[0]
    assert "[1]" not in b[1]["content"].split("Conversation so far:")[1]  # history cannot carry citations


def test_the_chain_uses_the_setting(monkeypatch):
    from rag.settings import Settings

    assert Settings().llm_instructions_in_system is True
    assert Settings(llm_instructions_in_system=False).llm_instructions_in_system is False
