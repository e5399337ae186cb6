"""A local GGUF model served in-process by llama.cpp (xllamacpp), reached over loopback HTTP.

``xllamacpp.Server`` runs llama.cpp's own C++ server inside this process: the constructor loads
the model and returns once the HTTP listener is up; dropping the object stops it (its destructor
terminates the loop and joins the thread). We start ONE server per model file per process and
share it between every ``LocalBackend`` (requests, chat sessions, threads): llama.cpp batches
concurrent requests itself (``n_parallel`` slots, continuous batching), so one loaded model
serves everyone. Servers stop at interpreter exit (``atexit``) or via ``stop_all()``.

Safety: the listener is bound to 127.0.0.1 on a port the OS picks (port 0, so no race), and
requires a random per-process API key, because llama.cpp allows every CORS origin and a web
page could otherwise drive it through the browser.

JSON output: llama.cpp honours ``response_format`` (json_schema) by compiling the schema into a
grammar, but that grammar allows free whitespace, and small models then spend their token
budget on newlines and tabs. This build uses LLGuidance, so we send the schema as an LLGuidance
grammar with whitespace fixed to ``", "`` and ``": "`` instead; without LLGuidance we fall back
to ``response_format``.

``python -m rag.answer.backends.local --model NAME`` runs a small latency benchmark.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.answer.backends.llm import OpenAIChatBackend, response_format
from rag.answer.prompts import chat
from rag.logging_setup import set_openmp_passive
from rag.types import RagError

log = logging.getLogger(__name__)

_LOOPBACK = "127.0.0.1"
_LOCK = threading.Lock()
_SERVERS: dict[Path, _Server] = {}


@dataclass(frozen=True)
class ServerConfig:
    ctx_per_slot: int
    parallel: int
    threads: int
    speculative: str = "none"  # "none", "ngram" (prompt lookup) or "draft" (a smaller model drafts)
    draft: Path | None = None  # the draft model's GGUF, for speculative = "draft"
    # llama.cpp CommonParams set last, as (name, value); "a__b" sets params.a.b (``bench llama``'s variants)
    params: tuple[tuple[str, Any], ...] = ()


@dataclass
class _Server:
    path: Path
    config: ServerConfig
    base_url: str  # http://127.0.0.1:PORT
    api_key: str
    llguidance: bool
    pid: int
    handle: Any = field(repr=False)  # the xllamacpp.Server; None once stopped

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def stop(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            log.info("stopping the llama.cpp server of %s", self.path.name)
            del handle  # the C++ destructor terminates the main loop and joins its thread


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # honours CPU pinning (taskset, cgroups cpusets)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _start(path: Path, config: ServerConfig) -> _Server:
    # llama.cpp's worker threads are OpenMP threads, and libgomp spins between operations by
    # default. On a small machine shared with other work (the embedder, other processes) the
    # spinning threads steal each other's cores: measured 2 vs 21 tokens/s for 2 threads on 2
    # busy cores. Sleeping waits cost little when the machine is idle. libgomp reads this once,
    # when it is loaded (by us or by torch, which shares it), so the earlier it is set the better.
    set_openmp_passive()
    try:
        import xllamacpp
    except ImportError as exc:
        raise RagError("The local backend needs the xllamacpp package: `pip install xllamacpp`.") from exc

    api_key = secrets.token_urlsafe(24)
    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.hostnames = [_LOOPBACK]
    p.port = 0  # the OS picks a free port; listening_address tells which
    p.api_keys = [api_key]
    p.ui = False
    p.n_parallel = config.parallel
    p.cont_batching = True
    # Each slot gets its own llm_ctx tokens (n_ctx is split evenly across slots when the KV
    # cache is not unified), so one long prompt cannot starve the others.
    p.kv_unified = False
    p.n_ctx = config.ctx_per_slot * config.parallel
    p.cpuparams.n_threads = config.threads
    p.cpuparams_batch.n_threads = config.threads
    # llama.cpp logs to stderr: errors only (1), unless we are debugging (3 = info).
    p.verbosity = 3 if log.isEnabledFor(logging.DEBUG) else 1
    p.model_alias = {path.stem}
    _speculate(p, config, xllamacpp)
    for key, value in config.params:
        obj, *attrs = [p, *key.split("__")]
        for a in attrs[:-1]:
            obj = getattr(obj, a)
        setattr(obj, attrs[-1], value)

    log.info(
        "starting llama.cpp on %s (ctx %d/slot, %d slots, %d threads)",
        path.name, config.ctx_per_slot, config.parallel, config.threads,
    )  # fmt: skip
    try:
        handle = xllamacpp.Server(p)  # blocks until the model is loaded and the port is open
    except Exception as exc:  # noqa: BLE001 - llama.cpp only says "check the input params"
        raise RagError(
            f"The local model server could not start with {path} ({exc}). The file may not be a "
            "usable GGUF model, or there may not be enough memory for it with "
            f"RAG_LLM_CTX={config.ctx_per_slot} × RAG_LLM_PARALLEL={config.parallel}; "
            "llama.cpp's errors are printed above."
        ) from exc
    address = str(handle.listening_address).rstrip("/")
    if not address.startswith(f"http://{_LOOPBACK}:"):
        del handle
        raise RagError(f"The local model server listens on {address!r}, not on {_LOOPBACK}; refusing it.")
    server = _Server(
        path=path,
        config=config,
        base_url=address,
        api_key=api_key,
        llguidance="%llguidance" in xllamacpp.json_schema_to_grammar({"type": "object"}),
        pid=os.getpid(),
        handle=handle,
    )
    _check_health(server)
    return server


def _speculate(p, config: ServerConfig, xllamacpp) -> None:
    """Speculative decoding, when asked for (a latency lever measured by ``bench answer --levers``; off by
    default: on two cores the prompt's prefill dominates, and a draft model must process the prompt too)."""
    if config.speculative == "none":
        return
    kinds = xllamacpp.common_speculative_type
    if config.speculative == "ngram":
        p.speculative.types = [kinds.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
        return
    if config.draft is None:
        raise RagError("llm_speculative = 'draft' needs llm_draft_model (a registered model name or a GGUF path).")
    p.speculative.types = [kinds.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
    p.speculative.draft.mparams.path = str(config.draft)
    p.speculative.draft.cpuparams.n_threads = config.threads
    p.speculative.draft.cpuparams_batch.n_threads = config.threads


def _check_health(server: _Server) -> None:
    import httpx

    try:
        resp = httpx.get(f"{server.base_url}/health", timeout=10.0)
        ok = resp.status_code == 200 and resp.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError) as exc:
        ok, resp = False, exc
    if not ok:
        server.stop()
        raise RagError(f"The local model server at {server.base_url} started but is not healthy: {resp}")


def get_server(path: Path, config: ServerConfig) -> _Server:
    """The running server for ``path``, started with ``config`` on first use."""
    path = Path(path).resolve()
    with _LOCK:
        server = _SERVERS.get(path)
        if server is not None and (server.handle is None or server.pid != os.getpid()):
            server = None  # stopped, or inherited through fork() without its threads
        if server is None:
            server = _start(path, config)
            _SERVERS[path] = server
        elif server.config != config:
            log.warning(
                "reusing the llama.cpp server of %s started with %s (asked for %s)",
                path.name, server.config, config,
            )  # fmt: skip
        return server


def stop_all() -> None:
    """Stop every local model server of this process (also run at exit)."""
    with _LOCK:
        servers = list(_SERVERS.values())
        _SERVERS.clear()
    for server in servers:
        if server.pid == os.getpid():
            try:
                server.stop()
            except Exception as exc:  # noqa: BLE001 - best effort at shutdown
                log.debug("stopping %s failed: %s", server.path, exc)


atexit.register(stop_all)


def llguidance_grammar(schema: dict) -> str:
    """An LLGuidance grammar for ``schema`` with fixed, compact-but-readable JSON whitespace."""
    options = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
    return "%llguidance {}\nstart: %json " + json.dumps({**schema, "x-guidance": options})


class LocalBackend(OpenAIChatBackend):
    """``LLMBackend`` on a registered local model (``settings.local_model``) or a GGUF path."""

    name = "local"

    def __init__(self, settings, *, compact_json: bool = True) -> None:
        from rag.models import REGISTRY, canonical_name, resolve_model

        path = resolve_model(settings.local_model, settings)
        draft = settings.llm_draft_model
        config = ServerConfig(
            ctx_per_slot=settings.llm_ctx,
            parallel=max(1, settings.llm_parallel),
            threads=settings.llm_threads or available_cores(),
            speculative=settings.llm_speculative,
            draft=resolve_model(draft, settings) if draft and settings.llm_speculative == "draft" else None,
        )
        self.server = get_server(path, config)
        self.model_path = path
        self.compact_json = compact_json and self.server.llguidance
        super().__init__(
            base_url=f"{self.server.base_url}/v1",
            model=canonical_name(settings.local_model) if canonical_name(settings.local_model) in REGISTRY
            else path.name,
            api_key=self.server.api_key,
            timeout=settings.llm_timeout_s,
            max_retries=0,  # a local server that fails will fail again
            temperature=settings.llm_temperature,
            context_window=settings.llm_ctx,
        )

    def _schema_kwargs(self, schema: dict) -> dict[str, Any]:
        if self.compact_json:
            # `grammar` is a llama.cpp request field; the OpenAI SDK sends it via extra_body.
            return {"extra_body": {"grammar": llguidance_grammar(schema)}}
        return {"response_format": response_format(schema)}

    def _error(self, exc: Exception) -> RagError:
        import openai

        if isinstance(exc, openai.APIConnectionError) and not isinstance(exc, openai.APITimeoutError):
            return RagError(
                f"The local model server for {self.model} at {self.base_url} is not answering "
                f"({exc.__class__.__name__}); it may have been stopped. Restart newsrag."
            )
        if isinstance(exc, openai.APIStatusError):
            return RagError(f"The local model refused the request ({exc.status_code}): {exc}")
        return super()._error(exc)


# --- benchmark -----------------------------------------------------------------------------

_BENCH_SYSTEM = (
    "You answer questions about news articles using only the numbered evidence sentences given. "
    'Reply with a JSON object: "answer" is one or two plain sentences that answer the question, '
    'and "citations" lists the numbers of the evidence sentences that support the answer. '
    'If the evidence does not contain the answer, set "answer" to "The articles don\'t say." '
    'and "citations" to an empty list. Never use outside knowledge.'
)
_BENCH_EVIDENCE = [
    "The city council of Harlow Bay voted 7 to 2 on Tuesday to approve a new desalination plant "
    "on the northern shore, ending a three-year dispute over the town's water supply.",
    "The plant, budgeted at 184 million dollars, is expected to produce 40 million litres of "
    "drinking water a day once it opens in the spring of 2027.",
    "Mayor Elena Ruiz said the project would end the summer water restrictions that residents "
    "have lived with since the drought of 2019.",
    "Two councillors who voted against the plan argued that the brine discharged by the plant "
    "could harm the oyster beds that support about 300 local jobs.",
    "The contractor, Meridian Water Works, has agreed to monitor salinity near the outfall every "
    "week and to publish the readings online.",
    "Construction is due to begin in March, and the council said that water bills would rise by "
    "an average of 6 percent to pay for the plant.",
]
_BENCH_QUESTION = "How much will the desalination plant cost, and when is it expected to open?"
BENCH_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "citations": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["answer", "citations"],
    "additionalProperties": False,
}


def bench_messages() -> list[dict]:
    evidence = "\n".join(f"[{i}] {s}" for i, s in enumerate(_BENCH_EVIDENCE, start=1))
    return chat(_BENCH_SYSTEM, f"Evidence:\n{evidence}\n\nQuestion: {_BENCH_QUESTION}")


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def _rss_split() -> str:
    """Anonymous vs file-backed RSS (Linux): mmap'd model pages are file-backed and reclaimable."""
    try:
        fields = dict(line.split(":", 1) for line in open("/proc/self/status") if line.startswith("Rss"))
    except OSError:
        return ""
    mb = {k: int(v.split()[0]) / 1e3 for k, v in fields.items()}
    return f" (anonymous {mb.get('RssAnon', 0):.0f} MB, file-backed {mb.get('RssFile', 0):.0f} MB)"


def bench_once(backend: LocalBackend, max_tokens: int = 160) -> dict:
    """One cold (no prompt cache) streamed JSON answer: latency, token counts, validity."""
    import time

    from llama_index.core.llms import ChatMessage

    kwargs = backend._schema_kwargs(BENCH_SCHEMA)
    extra_body = {**kwargs.pop("extra_body", {}), "cache_prompt": False}
    msgs = [ChatMessage(**m) for m in bench_messages()]
    # CPU time of the whole process (all llama.cpp threads): unlike wall time it hardly changes
    # when other processes compete for the cores, so it estimates an idle machine's latency.
    c0 = time.process_time()
    t0 = time.perf_counter()
    ttft = None
    cpu_first = None
    text = ""
    timings: dict = {}
    usage: dict = {}
    for chunk in backend.llm.stream_chat(
        msgs, max_tokens=max_tokens, extra_body=extra_body, stream_options={"include_usage": True}, **kwargs
    ):
        if chunk.delta:
            if ttft is None:
                ttft, cpu_first = time.perf_counter() - t0, time.process_time() - c0
            text += chunk.delta
        extra = getattr(chunk.raw, "model_extra", None) or {}
        timings = extra.get("timings") or timings
        if getattr(chunk.raw, "usage", None):
            usage = chunk.raw.usage.model_dump()
    total = time.perf_counter() - t0
    cpu_total = time.process_time() - c0
    try:
        obj = json.loads(text)
        valid = isinstance(obj.get("answer"), str) and all(isinstance(c, int) for c in obj["citations"])
    except (ValueError, KeyError, TypeError, AttributeError):
        valid = False
    out_tokens = timings.get("predicted_n", usage.get("completion_tokens", 0))
    return {
        "ttft_s": ttft or total,
        "total_s": total,
        "cpu_first_s": cpu_first or cpu_total,
        "cpu_total_s": cpu_total,
        "prompt_tokens": timings.get("prompt_n", usage.get("prompt_tokens", 0)),
        "output_tokens": out_tokens,
        "decode_tok_s": timings.get("predicted_per_second", 0.0),
        "prefill_tok_s": timings.get("prompt_per_second", 0.0),
        "valid_json": valid,
        "text": text,
    }


def main(argv: list[str] | None = None) -> int:
    import argparse
    import statistics

    from rag.settings import Settings

    ap = argparse.ArgumentParser(
        prog="python -m rag.answer.backends.local", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--model", default=None, help="registered model name or GGUF path (default: RAG_LOCAL_MODEL)"
    )
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument(
        "--response-format", action="store_true", help="use response_format, not the compact grammar"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    update: dict[str, Any] = {"llm_parallel": 1}
    if args.model:
        update["local_model"] = args.model
    if args.threads:
        update["llm_threads"] = args.threads
    settings = Settings().model_copy(update=update)
    import llama_index.llms.openai_like  # noqa: F401 - so the RSS delta below is the model's alone

    rss0 = _rss_mb()
    try:
        backend = LocalBackend(settings, compact_json=not args.response_format)
    except RagError as exc:
        print(f"error: {exc}")
        return 1
    rss_loaded = _rss_mb()
    runs = [bench_once(backend, args.max_tokens) for _ in range(args.repeat)]
    rss_after = _rss_mb()
    for i, r in enumerate(runs, 1):
        print(
            f"run {i}: ttft {r['ttft_s']:.2f}s total {r['total_s']:.2f}s prompt {r['prompt_tokens']} tok "
            f"output {r['output_tokens']} tok decode {r['decode_tok_s']:.1f} tok/s "
            f"prefill {r['prefill_tok_s']:.0f} tok/s valid={r['valid_json']} "
            f"(CPU {r['cpu_first_s']:.1f}s to first token, {r['cpu_total_s']:.1f}s total)"
        )
    med = {
        k: statistics.median(r[k] for r in runs)
        for k in ("ttft_s", "total_s", "decode_tok_s", "prefill_tok_s", "cpu_first_s", "cpu_total_s")
    }
    print(
        f"model {backend.model} ({backend.model_path.name}), threads {backend.server.config.threads}, "
        f"{'grammar' if backend.compact_json else 'response_format'}"
    )
    print(
        f"median: ttft {med['ttft_s']:.2f}s total {med['total_s']:.2f}s decode {med['decode_tok_s']:.1f} tok/s "
        f"prefill {med['prefill_tok_s']:.0f} tok/s; valid JSON {sum(r['valid_json'] for r in runs)}/{len(runs)}"
    )
    print(
        f"RSS: {rss0:.0f} MB before the model (Python + llama-index), {rss_loaded:.0f} MB loaded, "
        f"{rss_after:.0f} MB after the runs{_rss_split()}"
    )
    threads = backend.server.config.threads
    print(
        f"CPU time (median): {med['cpu_first_s']:.1f}s to first token, {med['cpu_total_s']:.1f}s total; "
        f"on {threads} idle cores that is about {med['cpu_first_s'] / threads:.1f}s / "
        f"{med['cpu_total_s'] / threads:.1f}s wall"
    )
    print(f"last answer: {runs[-1]['text']}")
    backend.close()
    stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
