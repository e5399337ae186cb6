"""Fault injection for crash-safety tests: ``RAG_CRASH_AT=point[:n]`` kills the process with SIGKILL
the n-th time (default 1st) execution passes ``crash_point(point)``. Inert when the variable is unset."""

from __future__ import annotations

import os
import signal
from collections import Counter

from rag.settings import crash_at

_SEEN: Counter = Counter()
POINTS = ("articles-written", "embed-batch", "chroma-upsert", "bm25-saved", "manifest-saved", "cleanup")


def crash_point(name: str) -> None:
    spec = crash_at()
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _SEEN[name] += 1
    if _SEEN[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
