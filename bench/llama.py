"""``python -m bench llama``: llama.cpp's own runtime parameters as prefill/decode levers for the local model.

Issue #17 asks for the default model's first token in 2 s; the first token is the prefill of the prompt's
new tokens. This checks whether llama.cpp's parameters (micro-batch size, flash attention, the CPU's repacked
weight layout) change the prefill speed on this CPU. Each variant starts the product's own llama.cpp server
(the local backend's set-up and thread count) with its parameters on top; every variant answers the same
synthetic prompts (about 340 tokens, prompt cache off), in interleaved rounds (variant A, B, C, then A, B, C
...), so the machine's noise falls on all alike. Figures are medians over rounds and prompts; ratios are against the first variant.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import urllib.request
from typing import Any

from bench.common import cpu_info, emit, table

# llama.cpp CommonParams per variant, set on top of the product's own server set-up (``ServerConfig.params``)
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


def _measure(path, config, prompts: list[str]) -> list[dict[str, float]]:
    """The product's own llama.cpp server (``local._start``) with the variant's parameters set on top."""
    from rag.answer.backends.local import _start

    server = _start(path, config)
    rows = []
    try:
        for i, text in enumerate(prompts):
            body = json.dumps({"messages": [{"role": "user", "content": text}], "max_tokens": 24, "temperature": 0,
                               "cache_prompt": False}).encode()
            req = urllib.request.Request(server.base_url + "/v1/chat/completions", body,
                                         {"Content-Type": "application/json",
                                          "Authorization": f"Bearer {server.api_key}"})
            with urllib.request.urlopen(req, timeout=600) as resp:  # noqa: S310 - our own loopback server
                t = json.load(resp).get("timings", {})
            if i:  # the first request warms the server
                rows.append({"prompt_tokens": float(t["prompt_n"]), "prompt_ms": float(t["prompt_ms"]),
                             "decode_ms_per_token": float(t["predicted_per_token_ms"])})
    finally:
        server.stop()
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rag.answer.backends.local import ServerConfig, available_cores
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
            config = ServerConfig(ctx_per_slot=settings.llm_ctx, parallel=max(1, settings.llm_parallel),
                                  threads=threads, params=tuple(VARIANTS[n].items()))
            rows[n] += _measure(path, config, prompts)
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
