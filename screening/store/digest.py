"""Digests for memos keyed by their inputs: the code that makes a result is an input too,
so that a changed rule or check never reuses what the old code made."""

from __future__ import annotations

import hashlib
import inspect
from typing import Any


def code_digest(*objects: Any) -> bytes | None:
    """The sha256 of the source text of ``objects`` (functions, classes or modules), or
    None where it cannot be read (a frozen install, no .py files): then the caller caches
    nothing rather than keying on a version it cannot see."""
    try:
        text = "".join(inspect.getsource(o) for o in objects)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(text.encode()).digest()
