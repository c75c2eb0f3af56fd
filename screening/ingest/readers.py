"""Finding a bundle's files and reading each into a frame: the only place that knows about
file formats and text encodings.

CSV text (text.py) may be UTF-8 (with or without BOM), GB18030/GBK or UTF-16; it is read
record by record, so a malformed row or a bad byte costs that row, named, and a title line
above the header is skipped. CSV cells are read as text: the ingest parses them itself so
that a bad value becomes a reported problem instead of a failed file. Parquet keeps its
types, and the parsers accept both. Every table keeps its header as written (a repeated
header is seen before any reader renames it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from screening.ingest.headers import canonical_name, map_headers, score
from screening.ingest.problems import PROBLEM_SCHEMA, empty_problems
from screening.ingest.text import TextError, csv_blocks, decode, unique_names
from screening.schema import SOURCES, TOWNSHIPS_FILE, Source

FORMATS = (".csv.gz", ".csv", ".parquet", ".xlsx", ".xls")
CHUNK = 1 << 20
BLOCK_MB = 8.0  # CSV text is read in blocks of this many MB (ingest.csv_block_mb)


class ReadError(Exception):
    """A whole file could not be read; the message says why."""


# Excel cuts a cell at this many characters: a value exactly this long was probably cut
EXCEL_CELL_LIMIT = 32_767


@dataclass
class RawTable:
    """One sheet or file of a source: its rows (columns named by position-unique headers,
    a 1-based _row), its header as written, and the rows the reader itself had to refuse
    (malformed records, bad bytes) or warn about."""

    source: str
    file: str  # path relative to the bundle, with "#sheet" for spreadsheets
    frame: pl.DataFrame
    format: str
    encoding: str | None = None
    header: list[str] | None = None  # as written, in column order (None: the frame's)
    problems: pl.DataFrame = field(default_factory=empty_problems)
    notes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> list[str]:
        columns = [c for c in self.frame.columns if c not in ("_row", "_file")]
        return self.header if self.header is not None else columns

    @property
    def refused(self) -> int:
        """Rows read but refused by the reader (each counts once, whatever its problems)."""
        bad = self.problems.filter((pl.col("severity") == "rejected") & pl.col("row").is_not_null())
        return bad.select("row").n_unique() if bad.height else 0


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
    root = bundle.resolve()
    for entry in sorted(bundle.iterdir()):
        if _outside(entry, root):
            ignored.append(entry)
            continue
        key = _stem(entry).lower() if entry.is_file() else entry.name.lower()
        if entry.is_file() and entry.name.lower() == TOWNSHIPS_FILE:
            townships = entry
        elif entry.is_file() and entry.name.lower() == "manifest.toml":
            continue
        elif key in by_source and entry.is_dir():
            for sub in sorted(_files_under(entry)):
                inside = file_format(sub) and not _outside(sub, root)
                (by_source[key] if inside else ignored).append(sub)
        elif key in by_source and file_format(entry):
            by_source[key].append(entry)
        else:
            ignored.append(entry)
    return BundleFiles(by_source, townships, ignored)


def _outside(path: Path, root: Path) -> bool:
    """A link that leads out of the bundle: an agency's folder is what it sent, and a link
    to /etc/passwd or to another county's data is not part of it."""
    if not path.is_symlink() and not any(p.is_symlink() for p in path.parents):
        return False
    try:
        return not path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a loop of links
        return True


def _files_under(folder: Path) -> Iterator[Path]:
    """Files under a source's folder, not following links to folders (a loop, or a way out
    of the bundle); links to files are returned and judged by the caller."""
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(top) / name
            if path.is_file() or path.is_symlink():
                yield path


def outside_note(path: Path, bundle: Path) -> str:
    return f"{path.relative_to(bundle)}: a link pointing outside the bundle, not read"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _csv_tables(
    path: Path, rel: str, source: Source, renames: dict[str, str] | None, block_mb: float
) -> Iterator[RawTable]:
    """A CSV file's rows, one table a block of about ``block_mb`` of text, rows numbered as
    in the file. The first table comes once the header is known: a header naming none of
    the source's columns is a ReadError before any row is staged."""
    try:
        decoded = decode(path)
        blocks = csv_blocks(
            decoded,
            rel,
            source.name,
            lambda cells: score(cells, source, renames),
            max(1, int(block_mb * 2**20)),
        )
        names: dict[str, str] | None = None
        for table in blocks:
            if names is None:
                if not map_headers(table.header, source, renames).mapping:
                    raise ReadError(_none_known(source, table.header))
                names = {h: canonical_name(h, source, renames) for h in set(table.header)}
            yield RawTable(
                source.name,
                rel,
                table.frame.with_columns(pl.lit(rel).alias("_file")),
                file_format(path) or ".csv",
                decoded.encoding,
                table.header,
                table.problems.with_columns(pl.col("field").replace(names)),
                table.notes,
            )
    except TextError as exc:
        raise ReadError(str(exc)) from exc
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise ReadError(f"not a readable CSV table: {str(exc).splitlines()[0]}") from exc
    except OSError as exc:
        raise ReadError(f"cannot read: {exc}") from exc


def _read_csv(
    path: Path, rel: str, source: Source, renames: dict[str, str] | None, block_mb: float
) -> RawTable:
    """A CSV file whole (a register's): its blocks put together."""
    parts = list(_csv_tables(path, rel, source, renames, block_mb))
    return dataclasses.replace(
        parts[0],
        frame=pl.concat([t.frame for t in parts], how="vertical_relaxed"),
        problems=pl.concat([t.problems for t in parts], how="vertical_relaxed"),
        notes=[n for t in parts for n in t.notes],
    )


def _none_known(source: Source, headers: list[str]) -> str:
    found = ", ".join(headers[:8]) if headers else "nothing"
    return f"the header names none of the columns of {source.name} (found: {found})"


def _header_row(rows: pl.DataFrame, source: Source, renames: dict[str, str] | None) -> int:
    """Index of the header row: the first of the top ten rows naming most known columns
    (government spreadsheets often put a title line or two above the header)."""
    best, best_score = 0, -1
    for i, row in enumerate(rows.head(10).iter_rows()):
        s = score(list(row), source, renames)
        if s > best_score:
            best, best_score = i, s
    return best


def _two_level(
    rows: pl.DataFrame, h: int, source: Source, renames: dict[str, str] | None
) -> tuple[list[object], int]:
    """The header row, merged with the row above or below it when that names columns this
    one leaves blank or unnamed (a two-level header: 位置 spanning 经度 | 纬度 beneath it,
    or 企业名称 merged down over both rows). Returns (header cells, index of the last
    header row)."""
    top = list(rows.row(h))
    best, best_score, last = top, score(top, source, renames), h
    for other in (h + 1, h - 1):
        if not 0 <= other < min(rows.height, 11):
            continue
        cells = list(rows.row(other))
        merged = [
            b if b is not None and (a is None or score([a], source, renames) == 0) else a
            for a, b in zip(top, cells, strict=True)
        ]
        s = score(merged, source, renames)
        if s > best_score:
            best, best_score, last = merged, s, max(h, other)
    return best, last


def _read_excel(
    path: Path,
    rel: str,
    source: Source,
    renames: dict[str, str] | None,
) -> Iterator[tuple[str, pl.DataFrame, list[str]]]:
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
        cells, last = _two_level(sheet, h, source, renames)
        header = [str(v).strip() if v is not None else f"column_{j}" for j, v in enumerate(cells)]
        body = sheet.slice(last + 1)
        body.columns = unique_names(header)
        yield name, body, header


def _cut_cells(t: RawTable, source: Source, renames: dict[str, str] | None) -> pl.DataFrame:
    """Warnings for text cells exactly at Excel's limit: the sender's Excel cut them there."""
    parts = []
    columns = [c for c in t.frame.columns if c not in ("_row", "_file")]
    for col, raw in zip(columns, t.headers, strict=False):
        if t.frame.schema[col] != pl.String:
            continue
        cut = t.frame.filter(pl.col(col).str.len_chars() == EXCEL_CELL_LIMIT)
        if cut.height:
            parts.append(
                cut.select(
                    pl.lit(t.source).alias("source"),
                    pl.lit(t.file).alias("file"),
                    pl.col("_row").alias("row"),
                    pl.lit(canonical_name(raw, source, renames)).alias("field"),
                    pl.lit("warning").alias("severity"),
                    pl.lit(
                        f"cell holds exactly {EXCEL_CELL_LIMIT:,} characters, Excel's limit: "
                        "the value was probably cut"
                    ).alias("reason"),
                    pl.col(col).str.slice(0, 60).alias("value"),
                    pl.lit(None, dtype=pl.String).alias("record"),
                )
            )
    return pl.concat(parts, how="vertical_relaxed").cast(PROBLEM_SCHEMA) if parts else t.problems  # type: ignore[arg-type]


def _knows_columns(t: RawTable, source: Source, renames: dict[str, str] | None) -> bool:
    return bool(map_headers(t.headers, source, renames).mapping)


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


def read_file_batches(
    path: Path,
    bundle: Path,
    source: Source,
    renames: dict[str, str] | None = None,
    batch_rows: int = 0,
    max_workbook_mb: float | None = None,
    csv_block_mb: float = BLOCK_MB,
) -> Iterator[list[RawTable]]:
    """A file's tables in batches of ``batch_rows`` readings (a wide row counts as the 24 or
    96 readings it holds), rows numbered on from batch to batch. A city's readings arrive as
    files of 10^8 rows: staging one needs several times its size in memory, staging it a
    batch at a time needs a batch's worth. Parquet is read batch by batch; CSV text a block
    of ``csv_block_mb`` at a time, record by record (so that a broken row costs only that
    row), its good rows gathered into batches; a workbook is read and staged whole (the
    ingest refuses big ones).

    A ReadError may come at any batch (a file truncated half-way); the caller must then drop
    what it kept of the earlier batches, since a file is read whole or not at all."""
    fmt = file_format(path)
    if fmt in (".csv", ".csv.gz") and batch_rows > 0:
        rel = path.relative_to(bundle).as_posix()
        yield from _csv_batches(_csv_tables(path, rel, source, renames, csv_block_mb), batch_rows)
        return
    if fmt != ".parquet" or batch_rows <= 0:
        yield read_file(path, bundle, source, renames, max_workbook_mb, csv_block_mb)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    rel = path.relative_to(bundle).as_posix()
    try:
        pf = pq.ParquetFile(path)
        if not map_headers(pf.schema_arrow.names, source, renames).mapping:
            raise ReadError(
                f"the header names none of the columns of {source.name} "
                f"(found: {', '.join(pf.schema_arrow.names[:8])})"
            )
        rows = max(1, batch_rows // _readings_per_row(pf.schema_arrow.names))
        if pf.metadata.num_rows <= rows:
            yield read_file(path, bundle, source, renames)
            return
        done = 0
        pending: list[pa.RecordBatch] = []
        held = 0
        for batch in pf.iter_batches(batch_size=rows):
            pending.append(batch)
            held += batch.num_rows
            if held >= rows:
                yield [_numbered(RawTable(source.name, rel, _arrow(pending), ".parquet"), done)]
                done += held
                pending, held = [], 0
        if pending:
            yield [_numbered(RawTable(source.name, rel, _arrow(pending), ".parquet"), done)]
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ReadError(f"not a readable Parquet file: {str(exc).splitlines()[0]}") from exc


def _csv_batches(tables: Iterator[RawTable], batch_rows: int) -> Iterator[list[RawTable]]:
    """A CSV file's blocks regrouped into batches of exactly ``batch_rows`` readings (the
    last one the rest); the reader's problems and notes go with the batch being filled when
    their block was read. Memory holds a batch and a block. At least one batch comes, so a
    file of only bad rows is still counted."""
    held: list[pl.DataFrame] = []
    count = 0
    problems: list[pl.DataFrame] = []
    notes: list[str] = []
    first: RawTable | None = None
    rows = 1
    sent = 0

    def batch(frame: pl.DataFrame) -> list[RawTable]:
        assert first is not None
        out = dataclasses.replace(
            first,
            frame=frame,
            problems=pl.concat(problems, how="vertical_relaxed") if problems else empty_problems(),
            notes=list(notes),
        )
        problems.clear()
        notes.clear()
        return [out]

    for table in tables:
        if first is None:
            first = table
            rows = max(1, batch_rows // _readings_per_row(table.headers))
        held.append(table.frame)
        count += table.frame.height
        problems.append(table.problems)
        notes.extend(table.notes)
        while count >= rows:
            frame = pl.concat(held, how="vertical_relaxed", rechunk=False)
            yield batch(frame.slice(0, rows))
            sent += 1
            rest = frame.slice(rows)
            held, count = [rest], rest.height
    if first is not None and (count or not sent or notes or any(p.height for p in problems)):
        yield batch(pl.concat(held, how="vertical_relaxed", rechunk=False))


def _arrow(batches: list) -> pl.DataFrame:  # type: ignore[type-arg]
    import pyarrow as pa

    return pl.from_arrow(pa.Table.from_batches(batches))  # type: ignore[return-value]


def _numbered(t: RawTable, before: int = 0) -> RawTable:
    """1-based _row (continuing after ``before`` rows of earlier batches) and _file; a CSV
    reader's own record numbers are kept (its refused rows are gaps)."""
    if "_row" not in t.frame.columns:
        t.frame = t.frame.with_row_index("_row", offset=before + 1)
    t.frame = t.frame.with_columns(pl.col("_row").cast(pl.Int64), pl.lit(t.file).alias("_file"))
    return t


def read_file(
    path: Path,
    bundle: Path,
    source: Source,
    renames: dict[str, str] | None = None,
    max_workbook_mb: float | None = None,
    csv_block_mb: float = BLOCK_MB,
) -> list[RawTable]:
    """Every table in one file (a workbook may hold several sheets), rows numbered from 1.
    A table whose header names none of the source's columns is not this source's table: a
    workbook's other sheets are skipped with a note, a file that holds no such table at all
    is a ReadError. A workbook is read whole, so one above ``max_workbook_mb`` is refused
    (nobody sends 10^7 readings as xlsx; a workbook that big would take the memory)."""
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
        tables.append(_read_csv(path, rel, source, renames, csv_block_mb))
    elif fmt == ".parquet":
        try:
            frame = pl.read_parquet(path)
        except Exception as exc:  # arrow/polars raise several types for corrupt files
            raise ReadError(f"not a readable Parquet file: {str(exc).splitlines()[0]}") from exc
        tables.append(RawTable(source.name, rel, frame, fmt))
    elif fmt in (".xlsx", ".xls"):
        sheets = list(_read_excel(path, rel, source, renames))
        for name, frame, header in sheets:
            label = rel if len(sheets) == 1 else f"{rel}#{name}"
            tables.append(RawTable(source.name, label, frame, fmt, header=header))
    else:
        raise ReadError(f"unsupported file type (expected one of {', '.join(FORMATS)})")
    tables = [_numbered(t) for t in tables]
    known = [t for t in tables if _knows_columns(t, source, renames)]
    if not known:
        found = ", ".join(tables[0].headers[:8]) if tables else "nothing"
        raise ReadError(f"the header names none of the columns of {source.name} (found: {found})")
    for t in tables:
        if not any(t is k for k in known):
            known[0].notes.append(f"{t.file}: no column of {source.name} in its header; skipped")
    if fmt in (".xlsx", ".xls"):
        for t in known:
            t.problems = _cut_cells(t, source, renames)
    return known
