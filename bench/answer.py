"""``python -m bench answer``: per backend, time to first token, total, prompt size, chain overhead.

On the eval corpus (``eval/corpus``) and its first answerable questions, for each backend
(extractive always; ``local`` when its GGUF model is installed):

* ``ttft_ms`` (first streamed token; extractive answers arrive whole) and ``total_ms``;
* ``raw_model_ms``: the bare backend call on the chain's *final* answer prompt, cold (llama.cpp's
  prompt cache off: the full prefill, as a plain "retrieve and stuff" app would pay it), and
  ``raw_model_cached_ms`` the same call with the prefix cache the chain's calls left behind;
* ``llm_ms``: the time the chain spent inside model calls (the answerability call and the answer);
  ``chain_overhead_ms`` = ``total_ms - llm_ms``: retrieval, evidence selection, the answerability
  heuristics, verification and glue; ``overhead_ms`` = ``total_ms - raw_model_ms`` compares the whole
  chain with one bare cold call on its final prompt;
* ``prompt_tokens`` of our evidence prompt vs ``stuffed_prompt_tokens`` of the usual alternative,
  the top-k chunks pasted whole (same system prompt and instructions), counted with the LLM's own
  tokenizer and chat template when a local model is installed, else with the embedding tokenizer.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import emit, percentile, table
from bench.evalset import backends, build_index, correct, load_questions


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backends", default=None, help="comma-separated (default: extractive, + local if installed)")
    p.add_argument("--questions", type=int, default=8)
    p.add_argument("--index", type=Path, default=None, help="reuse/keep the eval index here")
    p.add_argument("--name", default=None, help="results file name (default answer, or answer-levers)")
    p.add_argument("--levers", default=None,
                   help="local model only: compare latency levers side by side, e.g. "
                        "'instructions-after-question,base,spec-ngram,model=NAME+draft=NAME' ('+' combines)")


class TokenCounter:
    """Chat-templated token counts from the llama.cpp server, else WordPiece counts of the text."""

    def __init__(self, backend=None, embedder=None):
        self.backend = backend
        self.embedder = embedder
        self.kind = "llm chat template" if backend is not None else "embedding WordPiece"

    def __call__(self, messages: list[dict]) -> int:
        if self.backend is not None:
            import httpx

            base = self.backend.server.base_url
            hdr = {"Authorization": f"Bearer {self.backend.server.api_key}"}
            prompt = httpx.post(f"{base}/apply-template", json={"messages": messages}, headers=hdr,
                                timeout=30).json()["prompt"]
            return len(httpx.post(f"{base}/tokenize", json={"content": prompt}, headers=hdr,
                                  timeout=30).json()["tokens"])
        text = "\n".join(m["content"] for m in messages)
        return len(self.embedder.tokenizer(text, add_special_tokens=False)["input_ids"])


def stuffed_messages(passages, question: str, instructions_in_system: bool) -> list[dict]:
    """The common baseline: the top-k chunks pasted whole, with our system prompt and instructions (laid out
    as the chain lays out its own prompt)."""
    from rag.answer import prompts

    ours = prompts.answer_messages([], question, instructions_in_system=instructions_in_system)
    block = "<<<EVIDENCE\n" + "\n".join(f"[{i}] ({p.title[:80]}): {p.text}" for i, p in enumerate(passages, 1)) \
        + "\nEVIDENCE>>>"
    user = ours[1]["content"]
    return [ours[0], {"role": "user", "content": block + user[user.index("EVIDENCE>>>") + len("EVIDENCE>>>"):]}]


class LLMTimer:
    """Wraps a backend's calls to add up the time the chain spends inside the model."""

    def __init__(self, llm):
        self.ms = 0.0
        self.calls = 0
        for name in ("complete_json", "complete_text"):
            setattr(llm, name, self._timed(getattr(llm, name)))
        inner_stream = llm.stream_json

        def stream_json(*a, **kw):
            t0 = time.perf_counter()
            try:
                yield from inner_stream(*a, **kw)
            finally:
                self.ms += (time.perf_counter() - t0) * 1000
                self.calls += 1

        llm.stream_json = stream_json

    def _timed(self, fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.ms += (time.perf_counter() - t0) * 1000
                self.calls += 1
        return wrapper

    def take(self) -> tuple[float, int]:
        out = (self.ms, self.calls)
        self.ms, self.calls = 0.0, 0
        return out


def _raw_call(llm, messages: list[dict], schema: dict, max_tokens: int, cache: bool) -> float:
    """One bare backend call on ``messages`` (ms). ``cache=False`` asks llama.cpp not to reuse the prompt
    prefix the chain's own calls just left in the server's cache, so the call pays its full prefill."""
    kwargs = llm._schema_kwargs(schema)
    if not cache and getattr(llm, "server", None) is not None:  # the local llama.cpp server
        kwargs["extra_body"] = {**kwargs.get("extra_body", {}), "cache_prompt": False}
    t0 = time.perf_counter()
    llm._chat(messages, max_tokens, kwargs)
    return (time.perf_counter() - t0) * 1000


def _stream_timed(assistant, question: str, backend: str) -> tuple[Any, float, float]:
    t0 = time.perf_counter()
    ttft = None
    answer = None
    for ev in assistant.stream(question, backend=backend):
        if ttft is None:
            ttft = time.perf_counter() - t0
        if ev["type"] == "answer":
            answer = ev["answer"]
    total = time.perf_counter() - t0
    return answer, (ttft or total) * 1000, total * 1000


def run_backend(index_dir: Path, backend: str, n_questions: int) -> dict[str, Any]:
    from rag.answer import prompts
    from rag.api import Assistant
    from rag.settings import Settings

    assistant = Assistant(Settings(index_dir=index_dir, backend=backend))
    chain = assistant.chain(backend)
    questions = load_questions(n_questions)
    t0 = time.perf_counter()
    assistant.ask(questions[0].question)  # warm: model loads, server start, caches
    warm_s = time.perf_counter() - t0
    llm = chain.backend
    count = TokenCounter(llm if backend == "local" else None, assistant.index.embedder)
    timer = LLMTimer(llm) if llm is not None else None
    rows = []
    for q in questions:
        ans, ttft, total = _stream_timed(assistant, q.question, backend)
        llm_ms, llm_calls = timer.take() if timer else (0.0, 0)
        standalone, passages, items, refusal, *_ = chain.prepare(q.question)
        row: dict[str, Any] = {"id": q.id, "ttft_ms": ttft, "total_ms": total, "correct": correct(ans, q),
                               "refused": ans.refused, "retrieve_ms": ans.timings.retrieve_ms,
                               "generate_ms": ans.timings.generate_ms, "verify_ms": ans.timings.verify_ms,
                               "llm_ms": llm_ms, "llm_calls": llm_calls, "chain_overhead_ms": total - llm_ms}
        if items:
            if llm is not None:  # what the model reads: the best llm_evidence_k sentences
                items = items[:assistant.settings.llm_evidence_k]
            # the prompt the chain sent, in its layout: the raw calls below then meet the cache it left
            layout = assistant.settings.llm_instructions_in_system
            ours = prompts.answer_messages(items, standalone, instructions_in_system=layout)
            top = passages[:assistant.settings.top_k]
            row["prompt_tokens"] = count(ours)
            row["stuffed_prompt_tokens"] = count(stuffed_messages(top, standalone, layout))
            if llm is not None:
                schema = prompts.answer_schema(len(items))
                row["raw_model_ms"] = _raw_call(llm, ours, schema, assistant.settings.llm_max_tokens, cache=False)
                row["raw_model_cached_ms"] = _raw_call(llm, ours, schema, assistant.settings.llm_max_tokens,
                                                       cache=True)
                timer.take()  # the raw calls are not the chain's
            else:
                row["raw_model_ms"] = 0.0  # no model: everything is chain
            row["overhead_ms"] = total - row["raw_model_ms"]
        rows.append(row)
    assistant.close()

    def med(key: str) -> float | None:
        vals = [r[key] for r in rows if key in r]
        return round(statistics.median(vals), 1) if vals else None

    ours_tok = med("prompt_tokens")
    stuffed_tok = med("stuffed_prompt_tokens")
    return {
        "backend": backend,
        "model": assistant.settings.local_model if backend == "local" else None,
        "questions": len(rows),
        "correct": sum(r["correct"] for r in rows),
        "warm_up_s": round(warm_s, 2),
        "ttft_p50_ms": med("ttft_ms"),
        "ttft_p95_ms": round(percentile([r["ttft_ms"] for r in rows], 95), 1),
        "total_p50_ms": med("total_ms"),
        "total_p95_ms": round(percentile([r["total_ms"] for r in rows], 95), 1),
        "llm_p50_ms": med("llm_ms"),
        "llm_calls_p50": med("llm_calls"),
        "chain_overhead_p50_ms": med("chain_overhead_ms"),
        "raw_model_p50_ms": med("raw_model_ms"),
        "raw_model_cached_p50_ms": med("raw_model_cached_ms"),
        "overhead_p50_ms": med("overhead_ms"),
        "retrieve_p50_ms": med("retrieve_ms"),
        "verify_p50_ms": med("verify_ms"),
        "prompt_tokens_p50": ours_tok,
        "stuffed_prompt_tokens_p50": stuffed_tok,
        "prompt_vs_stuffed": round(ours_tok / stuffed_tok, 3) if stuffed_tok else None,
        "token_counter": count.kind,
        "items": rows,
    }


# A lever is a set of Settings overrides; the first lever listed is the reference of the ratios.
LEVERS: dict[str, dict[str, Any]] = {
    "base": {},  # the shipped settings
    "instructions-after-question": {"llm_instructions_in_system": False},
    "instructions-in-system": {"llm_instructions_in_system": True},
    "evidence-k3": {"llm_evidence_k": 3},
    "spec-ngram": {"llm_speculative": "ngram"},
}


def lever_overrides(spec: str) -> dict[str, Any]:
    """``a+b`` combines levers; ``model=NAME_OR_PATH`` runs another GGUF."""
    out: dict[str, Any] = {}
    for part in spec.split("+"):
        if part.startswith("model="):
            out["local_model"] = part.split("=", 1)[1]
        elif part.startswith("draft="):
            out.update(llm_speculative="draft", llm_draft_model=part.split("=", 1)[1])
        elif part in LEVERS:
            out.update(LEVERS[part])
        else:
            raise SystemExit(f"unknown lever {part!r}: use {', '.join(LEVERS)} or model=/draft=NAME_OR_PATH")
    return out


def run_levers(index_dir: Path, specs: list[str], n_questions: int) -> dict[str, Any]:
    """Every lever answers the same questions, interleaved question by question (the machine's noise falls
    on all alike); the local backend, one Assistant and one llama.cpp server per lever.

    Levers that run the same model file get it through a hard link each: the backend shares one server per
    file, and a shared server's prompt cache would hand one lever the evidence prefix another lever just
    processed for the same question (measured: a 0.2x "first token" that is only the cache)."""
    import os
    import shutil

    from rag.api import Assistant
    from rag.models import resolve_model
    from rag.settings import Settings

    questions = load_questions(n_questions)
    settings = {s: Settings(index_dir=index_dir, backend="local", **lever_overrides(s)) for s in specs}
    links = Path(Settings().resolved_model_dir) / ".bench-levers"
    used: set[Path] = set()
    for i, (spec, st) in enumerate(settings.items()):
        path = resolve_model(st.local_model, st).resolve()
        if path in used:
            links.mkdir(parents=True, exist_ok=True)
            link = links / f"lever{i}-{path.name}"
            link.unlink(missing_ok=True)
            try:
                os.link(path, link)
            except OSError:  # another file system: a copy
                shutil.copyfile(path, link)
            settings[spec] = st.model_copy(update={"local_model": str(link)})
        used.add(path)
    assistants = {s: Assistant(st) for s, st in settings.items()}
    for a in assistants.values():
        a.ask(questions[0].question)  # warm: model load, server start, the system prompt cached
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in specs}
    for i, q in enumerate(questions):
        order = specs[i % len(specs):] + specs[:i % len(specs)]  # rotate who goes first
        for s in order:
            ans, ttft, total = _stream_timed(assistants[s], q.question, "local")
            rows[s].append({"id": q.id, "ttft_ms": ttft, "total_ms": total, "correct": correct(ans, q),
                            "refused": ans.refused, "origin": ans.origin})
    for a in assistants.values():
        a.close()
    shutil.rmtree(links, ignore_errors=True)
    medians = {s: (statistics.median(x["ttft_ms"] for x in r), statistics.median(x["total_ms"] for x in r))
               for s, r in rows.items()}
    base_ttft, base_total = medians[specs[0]]
    out = []
    for s in specs:
        r = rows[s]
        ttft, total = medians[s]
        out.append({"lever": s, "overrides": lever_overrides(s), "questions": len(r),
                    "correct": sum(x["correct"] for x in r), "refused": sum(x["refused"] for x in r),
                    "ttft_p50_ms": round(ttft, 1), "total_p50_ms": round(total, 1),
                    "ttft_vs_first": round(ttft / base_ttft, 3), "total_vs_first": round(total / base_total, 3),
                    "items": r})
    return {"levers": out}


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="newsrag-bench-answer-") as tmp:
        index_dir = build_index(Path(args.index) if args.index else Path(tmp) / "index")
        if args.levers:
            return run_levers(index_dir, [s.strip() for s in args.levers.split(",") if s.strip()], args.questions)
        return {"results": [run_backend(index_dir, b, args.questions) for b in backends(args.backends)]}


def report(res: dict[str, Any]) -> str:
    if "levers" in res:
        cols = ["lever", "questions", "correct", "refused", "ttft_p50_ms", "total_p50_ms", "ttft_vs_first",
                "total_vs_first"]
        return ("answer levers (local model, interleaved; ratios vs the first lever; 'correct' = a gold "
                "answer in the text, a latency check, not the eval)\n" + table(res["levers"], cols))
    cols = ["backend", "questions", "correct", "ttft_p50_ms", "total_p50_ms", "total_p95_ms", "llm_p50_ms",
            "llm_calls_p50", "chain_overhead_p50_ms", "raw_model_p50_ms", "raw_model_cached_p50_ms", "overhead_p50_ms", "retrieve_p50_ms", "verify_p50_ms", "prompt_tokens_p50", "stuffed_prompt_tokens_p50"]
    counters = {r["backend"]: r["token_counter"] for r in res["results"]}
    return ("answer: eval corpus, first answerable questions; tokens counted with: "
            + ", ".join(f"{b}={c}" for b, c in counters.items()) + "\n" + table(res["results"], cols))


def main(args: argparse.Namespace) -> int:
    res = run(args)
    emit(args.name or ("answer-levers" if args.levers else "answer"), res, report(res), args.json, getattr(args, "out", None))
    return 0
