"""The word lists of the lexical rules, kept as data (``rag/data/words.toml``) and read once, on first use.

A list is edited there, not in code; the modules that use one bind it at import as before (same type:
frozenset, set, tuple or dict), so nothing downstream changes.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from importlib import resources
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@lru_cache(maxsize=1)
def _lists() -> dict[str, dict[str, Any]]:
    text = resources.files("rag").joinpath("data/words.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def words(section: str, name: str) -> Any:
    """The list (or table) ``name`` of ``section`` in ``words.toml``, as parsed (list or dict)."""
    return _lists()[section][name]
