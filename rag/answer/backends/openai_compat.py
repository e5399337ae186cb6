"""Any OpenAI-compatible chat server: Ollama, vLLM, a llama.cpp server, OpenAI itself.

The schema goes out as the standard ``response_format`` (json_schema); servers that do not
support structured output will ignore it or refuse, and the answering chain's JSON parsing
catches the difference.
"""

from __future__ import annotations

from rag.answer.backends.llm import OpenAIChatBackend


class OpenAIBackend(OpenAIChatBackend):
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        *,
        max_retries: int = 2,
        temperature: float = 0.0,
        context_window: int = 4096,
    ) -> None:
        super().__init__(
            base_url=base_url,
            model=model,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            temperature=temperature,
            context_window=context_window,
        )
