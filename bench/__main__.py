"""``python -m bench NAME ...`` (or ``newsrag bench NAME ...``): benchmarks that print ratios measured
in one run and write their JSON to ``bench/results/NAME.json``.

    python -m bench ingest --articles 200 [--seed 0] [--batch-size 32] [--repeat 3] [--variant N:VAR=V] [--json]
    python -m bench retrieve --chunks 1000,10000,100000 [--queries 200] [--server] [--name FILE] [--json]
    python -m bench embeddings [--json]            # OpenVINO vs PyTorch: speed, determinism, hit@5
    python -m bench startup [--json]
    python -m bench answer [--backends extractive,local] [--json]
    python -m bench concurrency [--backends extractive,local] [--threads 8] [--json]
    python -m bench concurrency --processes 1,2,4 [--questions 24] [--json]   # N app processes, one chroma run
    python -m bench llama [--variants default,ubatch128,...] [--rounds 2] [--json]   # llama.cpp parameters
    python -m bench smaller-model [--json]         # paraphrase-MiniLM-L3-v2 (PyPI) vs ours: encode time, hit@5
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

_BENCHES = {
    "ingest": "bench.ingest",
    "retrieve": "bench.retrieve",
    "embeddings": "bench.embeddings",
    "startup": "bench.startup",
    "answer": "bench.answer",
    "concurrency": "bench.concurrency",
    "llama": "bench.llama",
    "smaller-model": "bench.smaller_model",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="bench", metavar="NAME")
    sub.required = True
    for name, module in _BENCHES.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=(mod.__doc__ or "").strip().split("\n")[0])
        p.add_argument("--json", action="store_true", help="print the result as one JSON object")
        p.add_argument("--out", type=Path, default=None, help="results directory (default bench/results)")
        mod.add_args(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rag.logging_setup import configure, set_offline_env

    set_offline_env()
    args = build_parser().parse_args(argv)
    configure(0)
    return importlib.import_module(_BENCHES[args.bench]).main(args)


if __name__ == "__main__":
    sys.exit(main())
