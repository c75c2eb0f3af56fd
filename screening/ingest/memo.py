"""A register (business registry, power accounts, permits, vehicles, idle premises, cases,
tips) as the last ingest staged it, kept for the next: on a city's night 18 of the ingest's
28 s went to reading and staging again registers whose files had not changed.

An entry is reused only when everything that shapes the staged result is the same, so that
the warehouse and the leads are exactly what staging afresh gives:

- each file's path in the bundle and content hash, in the order they are read;
- what of the manifest staging reads: the source's header renames, timezone, CRS and
  day/month order (not region or as_of, which staging never sees);
- the whole ``[ingest]`` settings section, the code that reads and stages (a digest of its
  source, ``store.digest``) and the versions of the libraries that parse the files.

``today`` is an input too: a date after it is refused or dropped, and the problem names the
day. An entry staged on day T0 holds for a later day T1 exactly when it had no such problem:
then no value lay after T0, so none lies after T1 either, and every check comes out the
same. One with a date after its T0 (the problem's text names T0; a value between T0 and T1
would now pass) is staged again, and so is any entry for a day before T0 (a value between
the two days would now be refused).

A ``cache/registers/<source>-<key>/`` folder holds the frame and the problems as Parquet
and ``entry.json`` with the rest (stats, notes, per-file counts, the ingest_files rows) and
the sha256 of each Parquet file. It is written under a temporary name and renamed into
place, one entry per source; a missing, partial or corrupt entry is simply not found, and
the register is staged as if there were none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from screening import coords, schema
from screening.ingest import (
    blocks,
    columns,
    geo,
    headers,
    parse,
    problems,
    readers,
    series,
    staging,
    text,
    uscc,
)
from screening.ingest.manifest import Manifest
from screening.ingest.staging import FUTURE_REASON, Staged
from screening.store.digest import code_digest
from screening.store.warehouse import write_parquet

ENTRY = "entry.json"
FRAME = "frame.parquet"
PROBLEMS = "problems.parquet"
# the libraries that turn a file's bytes into values (a new version may read one otherwise)
LIBRARIES = ("polars", "pyarrow", "fastexcel")


def staging_code(*caller: Any) -> bytes | None:
    """A digest of the code that reads and stages a register (``caller``: the function
    that drives it, and this module, whose entries it reads), or None where the source
    cannot be read: then nothing is kept (store.digest)."""
    modules = (staging, readers, headers, text, blocks, columns, parse, problems, geo, uscc)
    return code_digest(*caller, sys.modules[__name__], *modules, series, schema, coords)


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for lib in LIBRARIES:
        try:
            found[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            found[lib] = None
    return found


def _plain(value: Any) -> Any:
    """Settings (frozen sections, tuples) as plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def register_key(
    name: str,
    files: Sequence[tuple[str, str]],
    manifest: Manifest,
    config: Mapping[str, Any],
    code: bytes,
) -> str:
    """The digest of everything one register's staged result depends on but ``today``:
    ``files`` as (path relative to the bundle, sha256) in reading order, the manifest fields
    staging reads, the ingest settings and ``code`` (a digest of the staging code)."""
    renames = manifest.columns.get(name)
    spec = {
        "source": name,
        "files": [list(f) for f in files],
        # a list of pairs: the renames' order is kept as written
        "columns": list(renames.items()) if renames is not None else None,
        "timezone": manifest.timezone,
        "crs": manifest.crs,
        "date_order": manifest.date_order,
        "config": json.dumps(_plain(config), sort_keys=True, default=repr),
        "libraries": _versions(),
    }
    digest = hashlib.sha256(json.dumps(spec, ensure_ascii=False, default=repr).encode())
    digest.update(code)
    return digest.hexdigest()[:32]


def _entry_dir(folder: Path, name: str, key: str) -> Path:
    return Path(folder) / f"{name}-{key}"


def _body_digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _parquet(path: Path, sha: str) -> pl.DataFrame:
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha:
        raise ValueError(f"{path}: content changed since it was written")
    return pl.read_parquet(io.BytesIO(data))


def load_register(
    folder: Path, name: str, key: str, today: dt.date
) -> tuple[Staged, list[dict[str, Any]]] | None:
    """The register kept under ``key`` as (staged, ingest_files rows), or None when there is
    none, it cannot be read whole, or ``today`` would stage it otherwise (module doc). Its
    stats say the files were not read again (``files_reused``) and how long this took."""
    started = time.perf_counter()
    entry = _entry_dir(folder, name, key)
    try:
        kept = json.loads((entry / ENTRY).read_text(encoding="utf-8"))
        body = kept["body"]
        if kept["sha256"] != _body_digest(body) or body["key"] != key:
            return None
        staged_on = dt.date.fromisoformat(body["today"])
        if today < staged_on or (today > staged_on and body["future_dated"]):
            return None
        frame = _parquet(entry / FRAME, body["frame_sha256"])
        problems = _parquet(entry / PROBLEMS, body["problems_sha256"])
        stats: dict[str, Any] = dict(body["stats"])
        notes = [str(n) for n in body["notes"]]
        per_file = [dict(f) for f in body["files"]]
        rows = [dict(r) for r in body["rows"]]
    except Exception:  # missing, cut short or garbled in any way: staged afresh instead
        return None
    seconds = time.perf_counter() - started
    stats.update(seconds=round(seconds, 3), rows_per_s=0, files_reused=len(rows))
    return Staged(name, frame, problems, stats, notes, per_file), rows


def store_register(
    folder: Path,
    name: str,
    key: str,
    today: dt.date,
    staged: Staged,
    rows: list[dict[str, Any]],
) -> None:
    """Keep a freshly staged register under ``key`` for the next ingest, replacing the
    source's older entry. Written in a temporary folder renamed into place, so that a
    killed run leaves no partial entry; a disk that refuses it costs only the reuse."""
    folder = Path(folder)
    final = _entry_dir(folder, name, key)
    tmp = folder / f".{final.name}.tmp-{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        write_parquet(staged.frame, tmp / FRAME)
        write_parquet(staged.problems, tmp / PROBLEMS)
        future = staged.problems.filter(pl.col("reason").str.starts_with(FUTURE_REASON))
        body = {
            "key": key,
            "source": name,
            "today": today.isoformat(),
            "future_dated": future.height > 0,
            "frame_sha256": hashlib.sha256((tmp / FRAME).read_bytes()).hexdigest(),
            "problems_sha256": hashlib.sha256((tmp / PROBLEMS).read_bytes()).hexdigest(),
            "stats": staged.stats,
            "notes": staged.notes,
            "files": staged.files,
            "rows": rows,
        }
        text = json.dumps({"body": body, "sha256": _body_digest(body)}, ensure_ascii=False)
        (tmp / ENTRY).write_text(text, encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in folder.glob(f"{name}-*"):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    except OSError:
        pass  # a full or read-only disk: the warehouse write that follows says so
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
