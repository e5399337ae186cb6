"""The LLM seam of the answering chain, and its one implementation over OpenAI-style chat APIs.

Every backend speaks the OpenAI chat-completions protocol through llama-index's ``OpenAILike``
(exposed as ``.llm`` for code that wants llama-index's own interfaces): the in-process llama.cpp
server (``local``) and any remote OpenAI-compatible server (``openai``) differ only in how they
are started and in how a JSON schema is sent (``_schema_kwargs``).

Errors from the HTTP client are turned into ``RagError`` messages naming the server URL, so the
CLI and UI show a sentence rather than a traceback.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from rag.types import RagError

log = logging.getLogger(__name__)

_STREAM_HEADER = "X-Newsrag-Stream"


@runtime_checkable
class LLMBackend(Protocol):
    name: str  # "local" | "openai"
    model: str  # model id for reports

    def complete_json(self, messages: list[dict], schema: dict, max_tokens: int = 160,
                      logprobs: list | None = None) -> str:
        """The raw JSON text produced under the JSON-schema constraint. With a ``logprobs`` list, the
        (token, log-probability) pairs of the output are appended to it when the server reports them."""
        ...

    def stream_json(self, messages: list[dict], schema: dict, max_tokens: int = 160,
                    logprobs: list | None = None) -> Iterator[str]:
        """Text deltas of the same JSON, as they are generated (``logprobs`` as in ``complete_json``)."""
        ...

    def complete_text(self, messages: list[dict], max_tokens: int = 160) -> str:
        """Unconstrained text (e.g. condensing a follow-up question)."""
        ...

    def close(self) -> None: ...


def response_format(schema: dict) -> dict:
    """OpenAI's structured-output ``response_format`` for ``schema``.

    With ``strict`` OpenAI itself requires every object to list all its properties as required and
    to set ``additionalProperties: false``; llama.cpp and vLLM accept any schema.
    """
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "response"))[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


class OpenAIChatBackend:
    """``LLMBackend`` over an OpenAI-compatible ``/v1/chat/completions`` endpoint."""

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
        from llama_index.llms.openai_like import OpenAILike
        from openai import DefaultHttpxClient, OpenAI

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        # Streaming responses by request id, so an abandoned stream can be closed at once (see
        # _deltas); the hook runs in whatever thread sends the request.
        self._streams: dict[str, Any] = {}
        self._http = DefaultHttpxClient(event_hooks={"response": [self._track_stream]})
        # Retries live in the OpenAI client (it honours Retry-After); llama-index's own retry loop
        # (up to 60 s of backoff) is switched off so an unreachable server fails in seconds.
        self._client = OpenAI(
            base_url=self.base_url,
            # The SDK refuses an empty key; servers without auth ignore whatever is sent.
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=max_retries,
            http_client=self._http,
        )
        self.llm = OpenAILike(
            model=model,
            api_base=self.base_url,
            api_key=api_key or "not-needed",
            is_chat_model=True,
            context_window=context_window,
            temperature=temperature,
            timeout=timeout,
            max_retries=0,
            openai_client=self._client,
        )
        self._closed = False

    # --- the protocol --------------------------------------------------------------------

    def complete_json(self, messages: list[dict], schema: dict, max_tokens: int = 160,
                      logprobs: list | None = None) -> str:
        return self._chat(messages, max_tokens, self._schema_kwargs(schema), logprobs)

    def stream_json(self, messages: list[dict], schema: dict, max_tokens: int = 160,
                    logprobs: list | None = None) -> Iterator[str]:
        return self._stream(messages, max_tokens, self._schema_kwargs(schema), logprobs)

    def complete_text(self, messages: list[dict], max_tokens: int = 160) -> str:
        return self._chat(messages, max_tokens, {})

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._client.close()
            self._http.close()
        except Exception as exc:  # noqa: BLE001 - closing must never raise
            log.debug("closing the OpenAI client failed: %s", exc)

    # --- helpers -------------------------------------------------------------------------

    def check(self) -> None:
        """Fail now, with a clear message, if the server cannot be reached (``GET /models``)."""
        try:
            self._client.models.list()
        except Exception as exc:  # noqa: BLE001 - mapped to a user message
            raise self._error(exc) from exc

    def _schema_kwargs(self, schema: dict) -> dict[str, Any]:
        """Request fields that constrain the output to ``schema``."""
        return {"response_format": response_format(schema)}

    def _chat(self, messages: list[dict], max_tokens: int, extra: dict[str, Any],
              logprobs: list | None = None) -> str:
        if self._closed:
            raise RagError(f"The {self.name} LLM backend was closed.")
        if logprobs is not None:
            extra = {**extra, "logprobs": True}
        try:
            resp = self.llm.chat(_to_chat_messages(messages), max_tokens=max_tokens, **extra)
        except Exception as exc:  # noqa: BLE001 - mapped to a user message
            raise self._error(exc) from exc
        choices = getattr(resp.raw, "choices", None)
        _warn_if_truncated(choices, max_tokens)
        if logprobs is not None and choices:
            logprobs.extend(_token_logprobs(choices[0]))
        return resp.message.content or ""

    def _stream(self, messages: list[dict], max_tokens: int, extra: dict[str, Any],
                logprobs: list | None = None) -> Iterator[str]:
        if self._closed:
            raise RagError(f"The {self.name} LLM backend was closed.")
        request_id = uuid.uuid4().hex
        headers = {**extra.pop("extra_headers", {}), _STREAM_HEADER: request_id}
        if logprobs is not None:
            extra = {**extra, "logprobs": True}
        try:
            gen = self.llm.stream_chat(
                _to_chat_messages(messages), max_tokens=max_tokens, extra_headers=headers, **extra
            )
        except Exception as exc:  # noqa: BLE001 - mapped to a user message
            raise self._error(exc) from exc
        return self._deltas(gen, request_id, max_tokens, logprobs)

    def _deltas(self, gen, request_id: str, max_tokens: int, logprobs: list | None = None) -> Iterator[str]:
        last = None
        try:
            for chunk in gen:
                last = chunk
                if logprobs is not None:
                    choices = getattr(chunk.raw, "choices", None)
                    if choices:
                        logprobs.extend(_token_logprobs(choices[0]))
                if chunk.delta:
                    yield chunk.delta
        except Exception as exc:  # noqa: BLE001 - mapped to a user message
            raise self._error(exc) from exc
        finally:
            gen.close()
            # A reader that stops early (a UI "stop") must stop the generation too: llama.cpp
            # stops when the connection closes. llama-index's instrumentation keeps the aborted
            # generator in a reference cycle, so the SDK would only close the response at the
            # next garbage collection; close it here.
            response = self._streams.pop(request_id, None)
            if response is not None:
                response.close()
        if last is not None:
            _warn_if_truncated(getattr(last.raw, "choices", None), max_tokens)

    def _track_stream(self, response) -> None:
        request_id = response.request.headers.get(_STREAM_HEADER)
        if request_id:
            self._streams[request_id] = response

    def _error(self, exc: Exception) -> RagError:
        if isinstance(exc, RagError):
            return exc
        import openai

        url = self.base_url
        # first match wins: a timeout is also a connection error, a 401/404 also a status error
        ladder = (
            (openai.APITimeoutError, lambda: f"The LLM server at {url} did not answer within {self.timeout:.0f} s."),
            (openai.APIConnectionError, lambda: f"Could not reach the LLM server at {url} ({_cause(exc)}). "
                                                "Is it running, and is the URL right (it usually ends in /v1)?"),
            (openai.AuthenticationError,
             lambda: f"The LLM server at {url} refused the API key (401); set RAG_OPENAI_API_KEY."),
            (openai.NotFoundError, lambda: f"The LLM server at {url} answered 404 for model {self.model!r}: "
                                           "check RAG_OPENAI_MODEL and that the URL ends in /v1."),
            (openai.APIStatusError,
             lambda: f"The LLM server at {url} refused the request ({exc.status_code}): {_message(exc)}"),
        )
        for kind, message in ladder:
            if isinstance(exc, kind):
                return RagError(message())
        return RagError(f"The LLM call to {url} failed: {exc.__class__.__name__}: {exc}")


def _to_chat_messages(messages: list[dict]):
    from llama_index.core.llms import ChatMessage

    try:
        return [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
    except (KeyError, TypeError, ValueError) as exc:
        raise RagError(f"Bad chat message (need role and content): {exc}") from exc


def _token_logprobs(choice) -> list[tuple[str, float]]:
    """(token, log-probability) pairs of an OpenAI-style choice; [] when the server sent none."""
    content = getattr(getattr(choice, "logprobs", None), "content", None) or []
    return [(str(t.token), float(t.logprob)) for t in content if getattr(t, "logprob", None) is not None]


def _warn_if_truncated(choices, max_tokens: int) -> None:
    if choices and getattr(choices[0], "finish_reason", None) == "length":
        log.warning("the LLM output hit max_tokens=%d and was cut off", max_tokens)


def _cause(exc: BaseException) -> str:
    """The innermost cause's text, e.g. 'Connection refused' rather than 'Connection error.'."""
    inner: BaseException = exc
    while inner.__cause__ is not None:
        inner = inner.__cause__
    text = str(inner) or inner.__class__.__name__
    return text[:200]


def _message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
    return str(exc)[:300]
