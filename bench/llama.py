"""``python -m bench llama``: llama.cpp's own runtime parameters as prefill/decode levers for the local model.

Issue #17 asks for the default model's first token in 2 s; the first token is the prefill of the prompt's
new tokens. This checks whether llama.cpp's parameters (micro-batch size, flash attention, the CPU's repacked
weight layout) change the prefill speed on this CPU, with the product's thread count. Each variant starts its
own llama.cpp server on the same GGUF; every variant answers the same synthetic prompts (about 340 tokens,
prompt cache off), in interleaved rounds (variant A, B, C, then A, B, C ...), so the machine's noise falls on
all alike. Figures are medians over rounds and prompts; ratios are against the first variant.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import urllib.request
from typing import Any

from bench.common import cpu_info, emit, table

# CommonParams attributes per variant (``a__b`` sets ``params.a.b``)
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},  # what the product starts: llama.cpp's defaults (ubatch 512, flash attention auto, repack on)
    "ubatch128": {"n_ubatch": 128},
    "ubatch1024": {"n_ubatch": 1024},
    "flash-on": {"flash_attn_type": 1},
    "flash-off": {"flash_attn_type": 0},
    "no-repack": {"no_extra_bufts": True},
}

_WORDS = ("the report said that the committee had approved a plan to rebuild the bridge after floods damaged its "
          "northern span in march and officials expected work to finish within two years at a cost").split()


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="GGUF name or path (default: the configured local model)")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds over the variants")
    p.add_argument("--prompts", type=int, default=4, help="prompts per variant and round (after one warm-up)")
    p.add_argument("--words", type=int, default=300, help="words per prompt (about 1.1 tokens each)")


def _prompt(seed: int, words: int) -> str:
    r = random.Random(seed)
    return f"{seed} " + " ".join(r.choice(_WORDS) for _ in range(words)) + "\nSummarise this in one sentence."


def _measure(path, threads: int, overrides: dict[str, Any], prompts: list[str]) -> list[dict[str, float]]:
    import xllamacpp

    from rag.logging_setup import set_openmp_passive

    set_openmp_passive()
    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.hostnames = ["127.0.0.1"]
    p.port = 0
    p.ui = False
    p.n_parallel = 1
    p.n_ctx = 4096
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.verbosity = 1
    for key, value in overrides.items():
        obj, *rest = [p, *key.split("__")]
        *attrs, last = rest
        for a in attrs:
            obj = getattr(obj, a)
        setattr(obj, last, value)
    server = xllamacpp.Server(p)
    base = str(server.listening_address).rstrip("/")
    rows = []
    try:
        for i, text in enumerate(prompts):
            body = json.dumps({"messages": [{"role": "user", "content": text}], "max_tokens": 24, "temperature": 0,
                               "cache_prompt": False}).encode()
            req = urllib.request.Request(base + "/v1/chat/completions", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=600) as resp:  # noqa: S310 - our own loopback server
                t = json.load(resp).get("timings", {})
            if i:  # the first request warms the server
                rows.append({"prompt_tokens": float(t["prompt_n"]), "prompt_ms": float(t["prompt_ms"]),
                             "decode_ms_per_token": float(t["predicted_per_token_ms"])})
    finally:
        del server
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rag.answer.backends.local import available_cores
    from rag.models import resolve_model
    from rag.settings import Settings

    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}: use {', '.join(VARIANTS)}")
    settings = Settings()
    path = resolve_model(args.model or settings.local_model, settings)
    threads = settings.llm_threads or available_cores()
    rows: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for r in range(args.rounds):
        for n in names:
            prompts = [_prompt(1000 * r + i, args.words) for i in range(args.prompts + 1)]
            rows[n] += _measure(path, threads, VARIANTS[n], prompts)
    out = []
    for n in names:
        ms_tok = statistics.median(x["prompt_ms"] / x["prompt_tokens"] for x in rows[n])
        out.append({"variant": n, "params": VARIANTS[n], "prompts": len(rows[n]),
                    "prompt_tokens": statistics.median(x["prompt_tokens"] for x in rows[n]),
                    "prefill_ms_per_token": round(ms_tok, 2),
                    "prefill_ms_per_token_runs": [round(x["prompt_ms"] / x["prompt_tokens"], 2) for x in rows[n]],
                    "decode_ms_per_token": round(statistics.median(x["decode_ms_per_token"] for x in rows[n]), 2)})
    for o in out:
        o["prefill_speed_vs_first"] = round(out[0]["prefill_ms_per_token"] / o["prefill_ms_per_token"], 3)
        o["decode_speed_vs_first"] = round(out[0]["decode_ms_per_token"] / o["decode_ms_per_token"], 3)
    return {"model": path.name, "threads": threads, "cpu": cpu_info(), "rounds": args.rounds,
            "statistic": "medians over interleaved rounds and prompts; speed ratios vs the first variant",
            "variants": out}


def report(res: dict[str, Any]) -> str:
    cols = ["variant", "prompts", "prompt_tokens", "prefill_ms_per_token", "prefill_speed_vs_first",
            "decode_ms_per_token", "decode_speed_vs_first"]
    return f"llama.cpp parameters, {res['model']}, {res['threads']} threads\n" + table(res["variants"], cols)


def main(args: argparse.Namespace) -> int:
    res = run(args)
    emit("llama", res, report(res), args.json, getattr(args, "out", None))
    return 0
