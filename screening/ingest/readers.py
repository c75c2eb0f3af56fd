"""Finding a bundle's files and reading each into a frame: the only place that knows about
file formats and text encodings.

CSV text may be UTF-8 (with or without BOM) or GB18030/GBK. polars reads only UTF-8 lazily,
so other encodings and gzip are transcoded once, streaming, into a staging folder, in the
same pass that tells the encoding (which reads the whole file: a sample can miss the one GBK
character on line 90,000). Bulk CSV is then streamed into Parquet and read in batches.
CSV cells are read as text: the ingest parses them itself so that a bad value becomes a
reported problem instead of a failed file. Parquet keeps its types, and the parsers accept
both.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from screening.ingest.headers import score
from screening.schema import SOURCES, TOWNSHIPS_FILE, Source

FORMATS = (".csv.gz", ".csv", ".parquet", ".xlsx", ".xls")
CHUNK = 1 << 23  # 8 MB of bytes decoded at a time


class ReadError(Exception):
    """A whole file could not be read; the message says why."""


@dataclass
class RawTable:
    """One sheet or file of a source, with its original headers and a 1-based _row."""

    source: str
    file: str  # path relative to the bundle, with "#sheet" for spreadsheets
    frame: pl.DataFrame
    format: str
    encoding: str | None = None


@dataclass
class BundleFiles:
    by_source: dict[str, list[Path]]
    townships: Path | None
    ignored: list[Path]


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    return next((f for f in FORMATS if name.endswith(f)), None)


def _stem(path: Path) -> str:
    fmt = file_format(path)
    return path.name[: -len(fmt)] if fmt else path.name


def discover(bundle: Path) -> BundleFiles:
    """Files of each source: <source>.<format> and every readable file under <source>/.

    Names match case-insensitively. Anything else in the bundle is listed as ignored, so a
    misnamed file shows up in the report rather than vanishing."""
    by_source: dict[str, list[Path]] = {name: [] for name in SOURCES}
    ignored: list[Path] = []
    townships: Path | None = None
    for entry in sorted(bundle.iterdir()):
        key = _stem(entry).lower() if entry.is_file() else entry.name.lower()
        if entry.is_file() and entry.name.lower() == TOWNSHIPS_FILE:
            townships = entry
        elif entry.is_file() and entry.name.lower() == "manifest.toml":
            continue
        elif key in by_source and entry.is_dir():
            for sub in sorted(p for p in entry.rglob("*") if p.is_file()):
                (by_source[key] if file_format(sub) else ignored).append(sub)
        elif key in by_source and file_format(entry):
            by_source[key].append(entry)
        else:
            ignored.append(entry)
    return BundleFiles(by_source, townships, ignored)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _open(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _decodes_as(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        with _open(path) as fh:
            for block in iter(lambda: fh.read(CHUNK), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    except (OSError, EOFError) as exc:
        raise ReadError(f"cannot read: {exc}") from exc
    return True


def as_utf8(path: Path, staging: Path) -> tuple[Path, str]:
    """The file's text as a plain UTF-8 file that polars can scan, and its encoding, in as
    few passes over the file as possible: a plain UTF-8 file is only checked (one pass) and
    used as it is; anything else is decoded and written out in the same pass, as UTF-8 first
    and, when that fails, as GB18030 (the detection reads the whole file: a sample can miss
    the one GBK character on line 90,000)."""
    gz = path.name.lower().endswith(".gz")
    if not gz and _decodes_as(path, "utf-8"):
        return path, "utf-8"
    for encoding in ("utf-8", "gb18030") if gz else ("gb18030",):
        try:
            return _transcode(path, encoding, staging), encoding
        except UnicodeDecodeError:
            continue
    raise ReadError("text is neither UTF-8 nor GB18030/GBK")


def _transcode(path: Path, encoding: str, staging: Path) -> Path:
    staging.mkdir(parents=True, exist_ok=True)
    out = staging / (hashlib.sha1(str(path).encode()).hexdigest()[:12] + ".csv")
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        with _open(path) as src, out.open("w", encoding="utf-8", newline="") as dst:
            for block in iter(lambda: src.read(CHUNK), b""):
                dst.write(decoder.decode(block))
            dst.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        out.unlink(missing_ok=True)
        raise
    except (OSError, EOFError) as exc:
        out.unlink(missing_ok=True)
        raise ReadError(f"cannot read: {exc}") from exc
    return out


def _sniff_separator(path: Path) -> str:
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
    counts = {sep: first.count(sep) for sep in (",", "\t", ";", "|")}
    return max(counts, key=lambda s: counts[s]) if any(counts.values()) else ","


def _read_csv(path: Path, staging: Path) -> tuple[pl.DataFrame, str]:
    text_path, encoding = as_utf8(path, staging)
    try:
        frame = pl.read_csv(
            text_path,
            separator=_sniff_separator(text_path),
            infer_schema=False,
            encoding="utf8",
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise ReadError(f"not a readable CSV table: {str(exc).splitlines()[0]}") from exc
    return frame, encoding


def _header_row(rows: pl.DataFrame, source: Source, renames: dict[str, str] | None) -> int:
    """Index of the header row: the first of the top ten rows naming most known columns
    (government spreadsheets often put a title line or two above the header)."""
    best, best_score = 0, -1
    for i, row in enumerate(rows.head(10).iter_rows()):
        s = score(list(row), source, renames)
        if s > best_score:
            best, best_score = i, s
    return best


def _read_excel(
    path: Path,
    source: Source,
    renames: dict[str, str] | None,
) -> Iterator[tuple[str, pl.DataFrame]]:
    try:
        sheets = pl.read_excel(
            path, sheet_id=0, has_header=False, infer_schema_length=0, engine="calamine"
        )
    except Exception as exc:  # calamine raises its own types for corrupt workbooks
        raise ReadError(f"not a readable workbook: {str(exc).splitlines()[0]}") from exc
    for name, sheet in sheets.items():
        if sheet.height == 0:
            continue
        h = _header_row(sheet, source, renames)
        header = [str(v) if v is not None else f"column_{j}" for j, v in enumerate(sheet.row(h))]
        body = sheet.slice(h + 1)
        body.columns = _unique(header)
        yield name, body


def _unique(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h}.{seen[h]}")
    return out


def _readings_per_row(names: list[str]) -> int:
    """How many readings one row holds: a wide-hourly row 24, a wide 96-point row 96. A batch
    is sized in readings, since a wide row becomes that many rows once staged (5 M wide rows
    are 120 M readings: a medium county's CSV readings peaked at 22 GB that way)."""
    low = {str(n).strip().lower() for n in names}
    if {"p01", "p96"} & low:
        return 96
    if {"h00", "h23"} & low:
        return 24
    return 1


def _parquet_batches(
    path: Path, rel: str, source: Source, fmt: str, encoding: str | None, batch_rows: int
) -> Iterator[list[RawTable]]:
    """A Parquet file as tables of about ``batch_rows`` readings each, rows numbered on."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        rows = max(1, batch_rows // _readings_per_row(pf.schema_arrow.names))
        done = 0
        pending: list[pa.RecordBatch] = []
        held = 0
        for batch in pf.iter_batches(batch_size=rows):
            pending.append(batch)
            held += batch.num_rows
            if held >= rows:
                table = RawTable(source.name, rel, _arrow(pending), fmt, encoding)
                yield [_numbered(table, done)]
                done += held
                pending, held = [], 0
        if pending or done == 0:
            table = RawTable(source.name, rel, _arrow(pending, pf.schema_arrow), fmt, encoding)
            yield [_numbered(table, done)]
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ReadError(f"not a readable Parquet file: {str(exc).splitlines()[0]}") from exc


def _csv_as_parquet(path: Path, staging: Path) -> tuple[Path, str]:
    """A CSV file (any encoding, gzipped or not) as a Parquet file of text columns in the
    staging folder, written by polars' streaming engine: memory holds a chunk, never the
    file, and the cells are parsed exactly as ``read_csv`` would (the same reader)."""
    staging.mkdir(parents=True, exist_ok=True)
    text_path, encoding = as_utf8(path, staging)
    out = staging / (hashlib.sha1(str(path).encode()).hexdigest()[:12] + ".parquet")
    try:
        pl.scan_csv(
            text_path, separator=_sniff_separator(text_path), infer_schema=False
        ).sink_parquet(out)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise ReadError(f"not a readable CSV table: {str(exc).splitlines()[0]}") from exc
    finally:
        if text_path != path:
            text_path.unlink(missing_ok=True)
    return out, encoding


def read_file_batches(
    path: Path,
    bundle: Path,
    source: Source,
    staging: Path,
    renames: dict[str, str] | None = None,
    batch_rows: int = 0,
    max_workbook_mb: float | None = None,
) -> Iterator[list[RawTable]]:
    """A file's tables in batches of about ``batch_rows`` readings (rows of a wide layout
    count as the readings they hold), rows numbered on from batch to batch. A city's readings
    arrive as files of 10^8 rows: staging one needs several times its size in memory, staging
    it a batch at a time needs a batch's worth. Parquet is read batch by batch; CSV (plain or
    gzip, UTF-8 or GB18030) is first streamed into a staged Parquet file and read the same
    way; a workbook is read whole (the ingest refuses big ones).

    A ReadError may come at any batch (a file truncated half-way); the caller must then drop
    what it kept of the earlier batches, since a file is read whole or not at all."""
    fmt = file_format(path)
    if fmt not in (".parquet", ".csv", ".csv.gz") or batch_rows <= 0:
        yield read_file(path, bundle, source, staging, renames, max_workbook_mb)
        return
    rel = path.relative_to(bundle).as_posix()
    if fmt == ".parquet":
        yield from _parquet_batches(path, rel, source, fmt, None, batch_rows)
        return
    staging.mkdir(parents=True, exist_ok=True)
    staged, encoding = _csv_as_parquet(path, staging)
    try:
        yield from _parquet_batches(staged, rel, source, fmt, encoding, batch_rows)
    finally:
        staged.unlink(missing_ok=True)


def _arrow(batches: list, schema: Any = None) -> pl.DataFrame:  # type: ignore[type-arg]
    import pyarrow as pa

    return pl.from_arrow(pa.Table.from_batches(batches, schema=schema))  # type: ignore[return-value]


def _numbered(t: RawTable, before: int = 0) -> RawTable:
    """1-based _row (continuing after ``before`` rows of earlier batches) and _file."""
    t.frame = t.frame.with_row_index("_row", offset=before + 1).with_columns(
        pl.col("_row").cast(pl.Int64), pl.lit(t.file).alias("_file")
    )
    return t


def read_file(
    path: Path,
    bundle: Path,
    source: Source,
    staging: Path,
    renames: dict[str, str] | None = None,
    max_workbook_mb: float | None = None,
) -> list[RawTable]:
    """Every table in one file (a workbook may hold several sheets), rows numbered from 1.
    A workbook is read whole, so one above ``max_workbook_mb`` is refused (nobody sends 10^7
    readings as xlsx; a workbook that big would take the machine's memory)."""
    rel = path.relative_to(bundle).as_posix()
    fmt = file_format(path)
    if fmt in (".xlsx", ".xls") and max_workbook_mb is not None:
        mb = path.stat().st_size / 2**20
        if mb > max_workbook_mb:
            raise ReadError(
                f"workbook of {mb:.0f} MB is above ingest.max_workbook_mb ({max_workbook_mb:g} "
                "MB): send it as CSV"
            )
    tables: list[RawTable] = []
    if fmt in (".csv", ".csv.gz"):
        frame, encoding = _read_csv(path, staging)
        tables.append(RawTable(source.name, rel, frame, fmt, encoding))
    elif fmt == ".parquet":
        try:
            frame = pl.read_parquet(path)
        except Exception as exc:  # arrow/polars raise several types for corrupt files
            raise ReadError(f"not a readable Parquet file: {str(exc).splitlines()[0]}") from exc
        tables.append(RawTable(source.name, rel, frame, fmt))
    elif fmt in (".xlsx", ".xls"):
        sheets = list(_read_excel(path, source, renames))
        for name, frame in sheets:
            label = rel if len(sheets) == 1 else f"{rel}#{name}"
            tables.append(RawTable(source.name, label, frame, fmt))
    else:
        raise ReadError(f"unsupported file type (expected one of {', '.join(FORMATS)})")
    return [_numbered(t) for t in tables]
