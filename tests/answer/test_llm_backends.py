"""LLM backends against a real model (SmolLM2-135M on llama.cpp) and a real HTTP server.

Tests marked ``slow`` load the model; the others need no model and run in the fast suite.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from rag.answer.backends import make_backend
from rag.answer.backends.llm import LLMBackend
from rag.answer.backends.openai_compat import OpenAIBackend
from rag.settings import Settings
from rag.types import ModelNotInstalledError, RagError

# The session fixtures (model install, shared server) live in tests/conftest_llm.py.

SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "maxLength": 200},
        "citations": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 3},
            "maxItems": 3,
        },
    },
    "required": ["answer", "citations"],
    "additionalProperties": False,
}
MESSAGES = [
    {
        "role": "system",
        "content": "Answer the question from the numbered passages. Reply in JSON with 'answer' and "
        "'citations' (the numbers of the passages you used).",
    },
    {
        "role": "user",
        "content": "[1] The Harlow Bay council approved a desalination plant on Tuesday.\n"
        "[2] The plant will cost 184 million dollars and open in spring 2027.\n"
        "[3] Oyster farming supports about 300 local jobs.\n"
        "Question: When will the plant open?",
    },
]


def assert_valid(raw: str) -> dict:
    """``raw`` parses and satisfies SCHEMA."""
    obj = json.loads(raw)
    assert set(obj) == {"answer", "citations"}, obj
    assert isinstance(obj["answer"], str) and len(obj["answer"]) <= 200
    assert isinstance(obj["citations"], list) and len(obj["citations"]) <= 3
    assert all(isinstance(c, int) and 1 <= c <= 3 for c in obj["citations"]), obj
    return obj


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listeners(port: int) -> list[tuple[str, str]]:
    """(file, local address) of every listening TCP socket on ``port`` (from /proc/net)."""
    found = []
    for name in ("tcp", "tcp6"):
        try:
            lines = open(f"/proc/net/{name}").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr, state = fields[1], fields[3]
            host, port_hex = addr.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                found.append((name, host))
    return found


# --- without a model -------------------------------------------------------------------------


def test_unreachable_server_is_a_rag_error_naming_the_url():
    url = f"http://127.0.0.1:{_free_port()}/v1"
    backend = OpenAIBackend(url, "some-model", timeout=5, max_retries=0)
    try:
        with pytest.raises(RagError, match="Could not reach") as ei:
            backend.complete_text([{"role": "user", "content": "hi"}])
        assert url in str(ei.value)
        with pytest.raises(RagError) as ei:
            list(backend.stream_json([{"role": "user", "content": "hi"}], SCHEMA))
        assert url in str(ei.value)
        with pytest.raises(RagError, match=url):
            backend.check()
    finally:
        backend.close()


def test_each_openai_error_becomes_its_own_message():
    """The ladder is first-match: a timeout is also a connection error, a 401 or 404 also a status error."""
    import openai

    backend = OpenAIBackend("http://127.0.0.1:9/v1", "some-model", timeout=7, max_retries=0)
    req = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")

    def status(cls, code):
        return cls("x", response=httpx.Response(code, request=req, json={"error": {"message": "nope"}}), body=None)

    try:
        cases = [
            (openai.APITimeoutError(request=req), "did not answer within 7 s"),
            (openai.APIConnectionError(request=req), "Could not reach the LLM server at http://127.0.0.1:9/v1"),
            (status(openai.AuthenticationError, 401), "refused the API key (401)"),
            (status(openai.NotFoundError, 404), "answered 404 for model 'some-model'"),
            (status(openai.InternalServerError, 500), "refused the request (500)"),
            (ValueError("odd"), "The LLM call to http://127.0.0.1:9/v1 failed: ValueError: odd"),
        ]
        for exc, message in cases:
            assert message in str(backend._error(exc)), (exc, message)
        same = RagError("already said")
        assert backend._error(same) is same
    finally:
        backend.close()


def test_make_backend_choices(tmp_path):
    assert make_backend(Settings(backend="extractive")) is None
    with pytest.raises(RagError, match="RAG_OPENAI_BASE_URL"):
        make_backend(Settings(backend="openai", openai_base_url=None, openai_model="m"))
    with pytest.raises(RagError, match="RAG_OPENAI_MODEL"):
        make_backend(Settings(backend="openai", openai_base_url="http://127.0.0.1:9/v1", openai_model=None))
    b = make_backend(Settings(backend="openai", openai_base_url="http://127.0.0.1:9/v1/", openai_model="m"))
    try:
        assert isinstance(b, OpenAIBackend) and isinstance(b, LLMBackend)
        assert (b.name, b.model, b.base_url) == ("openai", "m", "http://127.0.0.1:9/v1")
        assert b.llm.__class__.__name__ == "OpenAILike"
    finally:
        b.close()
        b.close()  # twice is fine
    with pytest.raises(RagError, match="closed"):
        b.complete_text([{"role": "user", "content": "hi"}])


def test_local_backend_without_the_model_says_how_to_install(tmp_path):
    s = Settings(backend="local", local_model="qwen2.5-0.5b", model_dir=tmp_path)  # the old name still works
    with pytest.raises(ModelNotInstalledError, match=r"python -m rag\.models install qwen2\.5-coder-0\.5b"):
        make_backend(s)


@pytest.mark.slow
def test_local_backend_refuses_a_broken_gguf(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 4096)
    from rag.answer.backends.local import LocalBackend

    with pytest.raises(RagError, match="could not start"):
        LocalBackend(Settings(backend="local", local_model=str(bad), llm_threads=1, llm_parallel=1))


# --- local backend on SmolLM2 ------------------------------------------------------------------


@pytest.mark.slow
def test_complete_json_follows_the_schema(local_backend):
    assert isinstance(local_backend, LLMBackend)
    assert (local_backend.name, local_backend.model) == ("local", "smollm2-135m")
    assert_valid(local_backend.complete_json(MESSAGES, SCHEMA, max_tokens=120))


@pytest.mark.slow
def test_stream_json_deltas_make_valid_json(local_backend):
    deltas = list(local_backend.stream_json(MESSAGES, SCHEMA, max_tokens=120))
    assert len(deltas) > 3 and all(isinstance(d, str) for d in deltas)
    assert_valid("".join(deltas))


@pytest.mark.slow
def test_response_format_path_is_honoured(llm_settings):
    """Without the compact grammar the schema goes out as response_format and still binds."""
    from rag.answer.backends.local import LocalBackend

    b = LocalBackend(llm_settings, compact_json=False)
    try:
        odd = {
            "type": "object",
            "properties": {"zebra_count": {"type": "integer", "minimum": 7, "maximum": 9}},
            "required": ["zebra_count"],
            "additionalProperties": False,
        }
        obj = json.loads(b.complete_json([{"role": "user", "content": "Tell me about Paris."}], odd, 60))
        assert list(obj) == ["zebra_count"] and 7 <= obj["zebra_count"] <= 9
    finally:
        b.close()


@pytest.mark.slow
def test_complete_text_is_unconstrained(local_backend):
    text = local_backend.complete_text([{"role": "user", "content": "Say hello."}], max_tokens=16)
    assert isinstance(text, str) and text.strip()


@pytest.mark.slow
def test_two_concurrent_requests_both_succeed(local_backend):
    barrier = threading.Barrier(2)
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            if i == 0:
                results[i] = local_backend.complete_json(MESSAGES, SCHEMA, max_tokens=120)
            else:
                results[i] = "".join(local_backend.stream_json(MESSAGES, SCHEMA, max_tokens=120))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    assert sorted(results) == [0, 1]
    for raw in results.values():
        assert_valid(raw)


@pytest.mark.slow
def test_one_server_per_model_and_loopback_only(local_backend, llm_settings):
    from rag.answer.backends.local import LocalBackend

    server = local_backend.server
    assert server.base_url.startswith("http://127.0.0.1:")
    other = LocalBackend(llm_settings)
    try:
        assert other.server is server  # reused, not a second model in memory
    finally:
        other.close()
        other.close()
    listeners = _listeners(server.port)
    assert listeners == [("tcp", "0100007F")], listeners  # 127.0.0.1 only: not 0.0.0.0, not [::]
    # the API is not open to any local process or web page: it needs the per-process key
    r = httpx.post(f"{server.base_url}/v1/chat/completions", json={"messages": MESSAGES, "max_tokens": 4})
    assert r.status_code == 401
    assert httpx.get(f"{server.base_url}/health").json()["status"] == "ok"
    # closing a backend does not stop the shared server
    assert local_backend.complete_text([{"role": "user", "content": "Hi"}], max_tokens=4) is not None


@pytest.mark.slow
def test_abandoned_stream_stops_generating(local_backend, llm_server):
    stream = local_backend.stream_json(
        [{"role": "user", "content": "Write a very long story about a dragon."}],
        {"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]},
        max_tokens=1500,
    )
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    headers = {"Authorization": f"Bearer {llm_server['api_key']}"}
    url = llm_server["base_url"].removesuffix("/v1") + "/slots"
    deadline = time.monotonic() + 60
    busy = True
    while busy and time.monotonic() < deadline:
        busy = any(slot["is_processing"] for slot in httpx.get(url, headers=headers).json())
        if busy:
            time.sleep(0.2)
    assert not busy, "the server kept generating for a reader that went away"


# --- OpenAI-compatible backend against the real llama.cpp HTTP server ------------------------------


@pytest.mark.slow
def test_openai_backend_against_a_real_server(llm_server):
    b = OpenAIBackend(llm_server["base_url"], "smollm2", api_key=llm_server["api_key"], timeout=300)
    try:
        b.check()
        assert_valid(b.complete_json(MESSAGES, SCHEMA, max_tokens=160))
        streamed = "".join(b.stream_json(MESSAGES, SCHEMA, max_tokens=160))
        assert json.loads(streamed).keys() == {"answer", "citations"}
        assert b.complete_text([{"role": "user", "content": "Say hello."}], max_tokens=8).strip()
    finally:
        b.close()


@pytest.mark.slow
def test_openai_backend_wrong_key_is_a_clear_error(llm_server):
    b = OpenAIBackend(llm_server["base_url"], "smollm2", api_key="wrong", timeout=30, max_retries=0)
    try:
        with pytest.raises(RagError, match="RAG_OPENAI_API_KEY"):
            b.complete_text([{"role": "user", "content": "hi"}], max_tokens=4)
    finally:
        b.close()
