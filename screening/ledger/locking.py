"""One run at a time per ledger, and per work directory.

The nightly run and an analyst's manual run must not merge into the same ledger at once, nor
write the same warehouse (two runs on one ``--work`` without a ledger, or with two ledgers,
would otherwise race on its DuckDB file). An exclusive, non-blocking flock on a file beside
the ledger, and on one in the work directory, makes the second run refuse with a clear
message; the operating system releases the lock when a run ends or is killed, so a crashed
run never leaves a stale lock behind.
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
def _flock(lock_path: Path, what: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fh = lock_path.open("a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "another run"
            raise RunLocked(
                f"another screening run is using {what} ({holder}); try again when it has finished"
            ) from exc
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the lock


@contextmanager
def run_lock(ledger_path: Path | None) -> Iterator[None]:
    if ledger_path is None:  # a run without a ledger shares no ledger
        yield
        return
    with _flock(Path(ledger_path).with_suffix(".lock"), Path(ledger_path)):
        yield


@contextmanager
def work_lock(work_dir: Path) -> Iterator[None]:
    """The warehouse in ``work_dir`` is written by one run at a time."""
    from screening.store import catalog

    with _flock(catalog.work_lock(work_dir), Path(work_dir)):
        yield
