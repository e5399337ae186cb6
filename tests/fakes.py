"""A scripted stand-in for the LLM backend, for fast tests of the chain's logic (never as evidence that
generation works: tests/test_chain_local.py uses a real GGUF)."""

from __future__ import annotations

import json


class ScriptedLLM:
    """Returns canned JSON: first the answerability verdict, then the answer."""

    name = "fake"
    model = "scripted"

    def __init__(self, answer: str, citations: list[int], answerable: bool = True):
        self.answer, self.citations, self.answerable = answer, citations, answerable
        self.calls: list[list[dict]] = []

    def complete_json(self, messages, schema, max_tokens=160, logprobs=None):
        self.calls.append(messages)
        if "answerable" in schema.get("properties", {}):
            return json.dumps({"answerable": self.answerable})
        return json.dumps({"answer": self.answer, "citations": self.citations})

    def stream_json(self, messages, schema, max_tokens=160, logprobs=None):
        raw = self.complete_json(messages, schema, max_tokens)
        for i in range(0, len(raw), 7):
            yield raw[i:i + 7]

    def complete_text(self, messages, max_tokens=160):
        return "What did Lloyd Austin say about the attacks?"

    def close(self):
        pass
