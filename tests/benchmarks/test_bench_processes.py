"""``bench concurrency --processes``: N app processes against one Chroma server (never timing thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

TIER = "integration"


def _bench_processes(tmp_path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench", "concurrency", *args, "--json", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert json.loads((tmp_path / "concurrency-processes.json").read_text()) == out  # printed == saved
    return out


@pytest.mark.unit
def test_concurrency_processes_parsing_and_rows():
    """``--processes`` parsing, and the rows' arithmetic: throughput, speed-up, identity with the embedded store."""
    from bench.concurrency import parse_processes, process_rows

    assert parse_processes("1,2,4") == [1, 2, 4]
    for bad in ("0", "1,-2", ""):
        with pytest.raises(ValueError):
            parse_processes(bad)
    ref = [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]

    def out(texts):
        return {"start": 0.0, "end": 1.0, "open_s": 1.0, "server_mode": True,
                "answers": [{"id": i, "text": t, "correct": t == "A"} for i, t in zip("ab", texts, strict=True)]}

    rows = process_rows([1, 2], ref, {1: {"wall_s": 2.0, "outs": [out("AB")]},
                                      2: {"wall_s": 2.0, "outs": [out("AB"), out("AX")]}})
    assert [r["processes"] for r in rows] == [1, 2]
    assert rows[0]["q_per_s"] == 1.0 and rows[1]["q_per_s"] == 2.0 and rows[1]["speedup_vs_1"] == 2.0
    assert rows[0]["same_as_embedded"] == 2 and rows[1]["same_as_embedded"] == 3
    assert rows[1]["differing"] == ["b"] and rows[1]["correct"] == 2 and rows[1]["server_mode"]


@pytest.mark.slow
def test_concurrency_bench_processes_against_a_chroma_server(tmp_path):
    """Two real app processes in server mode against a real `chroma run`: same answers as the embedded store."""
    res = _bench_processes(tmp_path, "--processes", "1,2", "--questions", "2")
    assert [r["processes"] for r in res["results"]] == [1, 2]
    for row in res["results"]:
        assert row["server_mode"] and row["answers"] == 2 * row["processes"]
        assert row["same_as_embedded"] == row["answers"], row["differing"]
        assert row["q_per_s"] > 0
