"""One run at a time per ledger.

The nightly run and an analyst's manual run must not merge into the same ledger at once. An
exclusive, non-blocking flock on a file beside the ledger makes the second one refuse with a
clear message; the operating system releases the lock when a run ends or is killed, so a
crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunLocked(RuntimeError):
    pass


@contextmanager
def run_lock(ledger_path: Path | None) -> Iterator[None]:
    if ledger_path is None:  # a run without a ledger shares nothing
        yield
        return
    lock_path = Path(ledger_path).with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fh = lock_path.open("a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "another run"
            raise RunLocked(
                f"another screening run is using {ledger_path} ({holder}); "
                "try again when it has finished"
            ) from exc
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the lock
