"""Any OpenAI-compatible chat server: Ollama, vLLM, a llama.cpp server, OpenAI itself.

The schema goes out as the standard ``response_format`` (json_schema); servers that do not
support structured output will ignore it or refuse, and the answering chain's JSON parsing
catches the difference.
"""

from __future__ import annotations

from rag.answer.backends.llm import OpenAIChatBackend


class OpenAIBackend(OpenAIChatBackend):
    """The chat backend as it stands, named for the ``openai`` setting (base URL and model positional)."""

    name = "openai"
