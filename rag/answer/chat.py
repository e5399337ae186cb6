"""A conversation: bounded history, follow-ups resolved against it. One per user session."""

from __future__ import annotations

from collections.abc import Iterator

from rag.types import Answer


class Chat:
    def __init__(self, assistant, backend: str | None = None, filters: dict | None = None):
        self.assistant = assistant
        self.backend = backend
        self.filters = filters
        self.history: list[tuple[str, str]] = []

    def _remember(self, question: str, answer: Answer) -> None:
        self.history.append(("user", question))
        self.history.append(("assistant", answer.text))
        limit = self.assistant.settings.max_history_turns * 2
        if len(self.history) > limit:
            del self.history[:-limit]

    def ask(self, question: str, k: int | None = None) -> Answer:
        answer = self.assistant.ask(question, history=list(self.history), filters=self.filters, k=k,
                                    backend=self.backend)
        self._remember(question, answer)
        return answer

    def stream(self, question: str, k: int | None = None) -> Iterator[dict]:
        for ev in self.assistant.stream(question, history=list(self.history), filters=self.filters, k=k,
                                        backend=self.backend):
            if ev["type"] == "answer":
                self._remember(question, ev["answer"])
            yield ev

    def reset(self) -> None:
        self.history.clear()
