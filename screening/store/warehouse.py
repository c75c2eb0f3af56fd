"""The working store: one embedded DuckDB file plus Parquet for bulk series.

The only module that opens the database or writes Parquet (the signal code takes and
returns frames), so that moving the store elsewhere touches one file. Bulk sources
(readings, tracks) live as Parquet beside the database and appear in it as views; views are
re-created on every open, so a work directory can be moved or copied whole.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from screening.store import catalog

PROBE_BYTES = 64 * 1024  # a lead list's worth: a disk that cannot take this is full


class StoreError(RuntimeError):
    """A folder or database the run needs cannot be written or opened (one line)."""


def os_reason(exc: OSError) -> str:
    """An OSError as an operator reads it: what and where, no traceback."""
    what = {
        errno.ENOSPC: "no space left on the disk",
        errno.EDQUOT: "disk quota exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the disk is read-only",
        errno.ENAMETOOLONG: "file name too long",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return f"{what}: {exc.filename}" if exc.filename else what


def ensure_writable(*folders: Path | None) -> None:
    """Each folder exists (or can be made) and takes a small file: a read-only folder, a
    full disk or a name too long for the file system stops the run before any work, not
    half-way through or after the ledger has recorded it."""
    for folder in folders:
        if folder is None:
            continue
        folder = Path(folder)
        probe = folder / f".write-test-{os.getpid()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with probe.open("wb") as fh:
                fh.write(b"\0" * PROBE_BYTES)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise StoreError(f"cannot write to {folder}: {os_reason(exc)}") from exc
        finally:
            probe.unlink(missing_ok=True)


def replace_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """``write`` the file beside its place and rename it there: a reader (Excel, the next
    night, an inspector's sync) never sees half a file, and a failed write leaves the old one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def warehouse_dir(run_dir: Path) -> Path:
    """The work directory holding the warehouse behind a run folder's lead list: the folder
    itself (``screening run``) or the one its pointer names (a nightly run; that warehouse
    holds the latest night, so an older night's records may have moved on)."""
    run_dir = Path(run_dir)
    pointer = catalog.pointer(run_dir)
    if catalog.warehouse_db(run_dir).exists() or not pointer.exists():
        return run_dir
    return Path(json.loads(pointer.read_text(encoding="utf-8"))["work_dir"])


def scan_bulk(work_dir: Path, name: str) -> pl.LazyFrame:
    """A bulk series straight from its Parquet parts, without opening the database: what a
    worker process of a Dask cluster reads (several may read at once; a DuckDB file takes
    one writer or many readers, never both)."""
    return pl.scan_parquet(str(catalog.bulk_dir(work_dir, name) / "*.parquet"))


def write_parquet(
    frame: pl.DataFrame,
    path: Path,
    row_group_rows: int = 1_000_000,
    metadata: dict[str, str] | None = None,
) -> Path:
    """The one way this project writes Parquet: zstd, row groups of ``row_group_rows`` with
    statistics (scans stream, and range filters skip row groups; bulk parts, sorted by key,
    take ``ingest.bulk_row_group_rows``), written beside and renamed into place so that a
    killed run never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.write_parquet(
        tmp,
        compression="zstd",
        row_group_size=row_group_rows,
        statistics=True,
        metadata=metadata,
    )
    tmp.replace(path)
    return path


# the key-value entry of a part's meter-days file naming how many readings it sums
PART_ROWS = "screening.part_rows"


def write_days(days: pl.DataFrame, part: Path, part_rows: int, row_group_rows: int) -> Path:
    """A part's meter-days, beside it (``catalog.days_of``), marked with the part's row
    count. In the part's order (by meter: a key range skips row groups; see
    power.meter_days)."""
    return write_parquet(
        days,
        catalog.days_of(part),
        row_group_rows,
        {PART_ROWS: str(part_rows)},
    )


def days_for(part: Path) -> Path | None:
    """A part's meter-days file, if it has one that sums as many readings as the part holds
    (a part an older version re-wrote in place has a stale one: not read)."""
    import pyarrow.parquet as pq

    days = catalog.days_of(part)
    if not days.exists():
        return None
    rows = (pq.read_metadata(days).metadata or {}).get(PART_ROWS.encode())
    return days if rows is not None and int(rows) == pq.read_metadata(part).num_rows else None


def stored_days(work_dir: Path, name: str) -> tuple[list[Path], list[Path]]:
    """(meter-days files, parts without them) of a stored series: a warehouse written
    before ingest kept meter-days has its parts' days computed from the readings instead,
    until the next ingest adds them (increment.stage_increment)."""
    have: list[Path] = []
    lack: list[Path] = []
    for part in sorted(catalog.bulk_dir(work_dir, name).glob("*.parquet")):
        days = days_for(part)
        if days is None:
            lack.append(part)
        else:
            have.append(days)
    return have, lack


def parquet_memo(
    folder: Path, name: str
) -> Callable[[str, Callable[[], pl.DataFrame]], pl.DataFrame]:
    """A one-entry cache of a frame keyed by a digest of its inputs, kept as
    ``folder/<name>-<key>.parquet``: memo(key, compute) reads the file when the key is the
    last one stored, else computes, stores (replacing the older entry) and returns."""

    def memo(key: str, compute: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        path = Path(folder) / f"{name}-{key}.parquet"
        if path.exists():
            return pl.read_parquet(path)
        frame = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob(f"{name}-*.parquet"):
            old.unlink()
        write_parquet(frame, path)
        return frame

    return memo


def lock_reason(exc: Exception) -> str:
    """DuckDB's message, first line: another program holding the file, or the disk."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "lock" in text.lower():
        found = re.search(r"PID (\d+)", text)
        pid = found.group(1) if found else "?"
        return f"it is open in another program (PID {pid}); close it and run again"
    return text


def part_of(path: Path) -> str:
    """The input file a stored Parquet file belongs to (its content hash, or "all")."""
    return Path(path).stem.split("-")[0]


class Warehouse:
    def __init__(self, work_dir: Path, read_only: bool = False) -> None:
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.path = catalog.warehouse_db(self.work_dir)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            raise StoreError(f"cannot open {self.path}: {lock_reason(exc)}") from exc
        if not read_only:
            self._bulk_views()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def bulk_dir(self, name: str) -> Path:
        """A bulk series is a folder of Parquet parts: one per input file when ingesting
        incrementally (named by the file's content hash), a single "all" part otherwise."""
        return catalog.bulk_dir(self.work_dir, name)

    def parts(self, name: str) -> list[Path]:
        return sorted(self.bulk_dir(name).glob("*.parquet"))

    def scan_bulk(self, name: str) -> pl.LazyFrame:
        return scan_bulk(self.work_dir, name)

    def _bulk_views(self) -> None:
        folder = catalog.bulk_dir(self.work_dir)
        if not folder.exists():
            return
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if any(sub.glob("*.parquet")):
                self._view(sub.name, sub)

    def write_table(self, name: str, frame: pl.DataFrame) -> None:
        self.con.register("_incoming", frame.to_arrow())
        try:
            self._drop(name)
            self.con.execute(f"CREATE TABLE {name} AS SELECT * FROM _incoming")
        finally:
            self.con.unregister("_incoming")

    def store_parts(self, name: str, new: list[tuple[str, Path]], keep: set[str]) -> None:
        """Move freshly staged Parquet files into the series (a rename: they are staged in
        the work directory) and drop every stored file whose part is not in ``keep`` (its
        input file left the bundle, or a full re-ingest replaced it). A part is one input
        file: ``<part>.parquet``, or ``<part>-NNNN.parquet`` when it was staged in batches.
        Each file's meter-days (readings only, ``catalog.days_of``) come and go with it."""
        folder = self.bulk_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        fresh = {part for part, _ in new}
        for old in self.parts(name):
            if part_of(old) not in keep or part_of(old) in fresh:
                old.unlink()
                catalog.days_of(old).unlink(missing_ok=True)
        for _, staged in new:
            if catalog.days_of(staged).exists():
                catalog.days_of(folder / staged.name).parent.mkdir(exist_ok=True)
                catalog.days_of(staged).replace(catalog.days_of(folder / staged.name))
            staged.replace(folder / staged.name)
        # days whose part is gone (an older version dropped the part, or a run was killed
        # between the two moves) are never read (stored_days), and removed here
        for days in (folder / catalog.DAYS_DIR).glob("*.parquet"):
            if not (folder / days.name).exists():
                days.unlink()
        self._drop(name)
        if self.parts(name):
            self._view(name, folder)

    def store_absent(self, name: str, empty: pl.DataFrame) -> None:
        """An absent optional series: its stored parts dropped and one empty part written in
        their place, with the series' columns, so that every scan of it works and finds no
        rows (a county whose transport office sends no tracks still ranks by what it has).
        The part belongs to no input file, so the next bundle that holds the series drops it."""
        self.store_parts(name, [], set())
        write_parquet(empty, self.bulk_dir(name) / "absent.parquet")
        self._view(name, self.bulk_dir(name))

    def _drop(self, name: str) -> None:
        """Drop a table or view of that name, whichever it is (DuckDB's DROP VIEW IF EXISTS
        fails on a table)."""
        rows = self.con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()  # fetchall: duckdb 2 keeps a half-read result open and blocks the next call
        if rows:
            self.con.execute(f"DROP {'VIEW' if rows[0][0] == 'VIEW' else 'TABLE'} {name}")

    def _view(self, name: str, folder: Path) -> None:
        # DDL cannot take parameters: the path is quoted by hand
        quoted = (str(folder.resolve()) + "/*.parquet").replace("'", "''")
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{quoted}')")

    def read(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        # duckdb 2 has no .pl() on results; a relation's Arrow table avoids an extra copy
        rel = self.con.sql(sql, params=params) if params else self.con.sql(sql)
        return pl.from_arrow(rel.to_arrow_table())  # type: ignore[return-value]

    def rejected_per_key(self, source: str, key: str, alias: str) -> pl.DataFrame:
        """Rows the ingest rejected per key of a source (a meter's refused readings): the
        problems table keeps each rejected row as JSON, so that it can be counted here
        without the stages knowing how problems are stored."""
        return self.read(
            f"SELECT json_extract_string(record, '$.{key}') AS {key}, "
            f"CAST(count(*) AS BIGINT) AS {alias} FROM ingest_problems "
            "WHERE source = ? AND severity = 'rejected' AND record IS NOT NULL GROUP BY 1",
            [source],
        )

    def table(self, name: str) -> pl.DataFrame:
        return self.read(f"SELECT * FROM {name}")

    def register(self, name: str) -> pl.DataFrame:
        """A register in file and row order: the order the stages see must be the data's,
        never a scan's (a table of several row groups may be read by several threads)."""
        return self.read(f"SELECT * FROM {name} ORDER BY source_file, source_row")

    def has(self, name: str) -> bool:
        return bool(
            self.con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
            ).fetchall()[0][0]
        )

    def set_meta(self, values: dict[str, Any]) -> None:
        self.con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        for key, value in values.items():
            self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, json.dumps(value)])

    def meta(self) -> dict[str, Any]:
        if not self.has("meta"):
            return {}
        return {
            k: json.loads(v) for k, v in self.con.execute("SELECT key, value FROM meta").fetchall()
        }
