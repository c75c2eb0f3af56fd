"""What the bench scripts measure with, in one place: a process's peak resident memory and the
limit, a plain DuckDB scan of the input files (Parquet, or CSV text in UTF-8).

bench/ is a folder of scripts: each puts this folder on ``sys.path`` (Python does so for the
script being run) and imports ``measure``.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import duckdb


def peak_gb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss
    over fork and exec, so a child started by a parent that generated the county (4 GB)
    would report the parent's peak as its own."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def reset_peak() -> bool:
    """Start this process's VmHWM again from its present resident memory (Linux: ``5`` into
    ``/proc/self/clear_refs``), so that a later stage's peak is its own and not an earlier
    stage's. False where that is not possible: the peak then stays the process's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def parquet_scan(files: str, key: str, value: str) -> tuple[float, int]:
    """The limit: one DuckDB pass over Parquet files (a glob) that reads every row's key, time
    and value and aggregates per key (count, sum, first and last time). Every aggregate is
    used by the outer query: DuckDB drops an unused one, and with it the column's read.
    Returns the seconds and the rows read."""
    con = duckdb.connect()
    t0 = time.perf_counter()
    rows = con.execute(
        f"SELECT CAST(sum(n) AS BIGINT), sum(v), min(t0), max(t1) FROM (SELECT {key}, "
        f"count(*) AS n, sum({value}) AS v, min(ts) AS t0, max(ts) AS t1 "
        f"FROM read_parquet('{files}') GROUP BY {key})"
    ).fetchall()[0][0]
    return time.perf_counter() - t0, int(rows or 0)


def csv_scan(files: list[Path]) -> float:
    """One DuckDB pass over readings sent as CSV text (UTF-8: DuckDB cannot read GB18030):
    every row read, aggregated per meter; a wide file's date column is used too."""
    con = duckdb.connect()
    t0 = time.perf_counter()
    for f in files:
        con.execute(
            f"SELECT \"户号\", count(*), sum(length(\"日期\" || '')) FROM read_csv('{f}', "
            "all_varchar=true) GROUP BY 1"
            if "wide" in f.name
            else f"SELECT \"户号\", count(*) FROM read_csv('{f}', all_varchar=true) GROUP BY 1"
        ).fetchall()
    return time.perf_counter() - t0
