"""A file's columns as the contract names them, judged on the header as written (a field
given twice is compared row by row, never silently renamed), the notes and problems a header
itself raises, and the per-file counts that make rows read = kept + quarantined + collapsed."""

from __future__ import annotations

from typing import Any

import polars as pl

from screening.ingest import parse
from screening.ingest.headers import positions
from screening.ingest.problems import empty_problems
from screening.ingest.readers import RawTable
from screening.schema import Column, Source

DUP = "_dup_"  # a second column giving the same canonical field: compared row by row


def canonical(
    table: RawTable, source: Source, renames: dict[str, str] | None, notes: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The table's columns under their canonical names, judged on the header as written.
    A field given by two columns (名称 twice, or 企业名称 beside 名称) keeps the first and
    the second beside it: rows where the two disagree are quarantined (which one is right
    cannot be known), and the header itself is reported. Returns (frame, header problems)."""
    columns = [c for c in table.frame.columns if c not in ("_row", "_file")]
    headers = table.headers
    canon = positions(headers, source, renames)
    unknown = [h for h, c in zip(headers, canon, strict=True) if c is None]
    if unknown:
        notes.append(f"{table.file}: columns not in the contract, ignored: {', '.join(unknown)}")
    first: dict[str, int] = {}
    twice: set[str] = set()
    select = [pl.col("_file"), pl.col("_row")]
    problems = []
    for i, (col, raw, c) in enumerate(zip(columns, headers, canon, strict=True)):
        if c is None:
            continue
        if c not in first:
            first[c] = i
            select.append(pl.col(col).alias(c))
            continue
        j = first[c]
        if c in twice:
            notes.append(f"{table.file}: {c} given a third time (column {i + 1}); ignored")
            continue
        twice.add(c)
        select.append(pl.col(col).alias(f"{DUP}{c}"))
        what = (
            f"header gives {c} twice (column {j + 1} {headers[j]!r} and column {i + 1} "
            f"{raw!r}); rows where the two disagree are quarantined"
        )
        notes.append(f"{table.file}: {what}")
        problems.append(header_problem(source.name, table.file, c, what))
    return table.frame.select(select), pl.concat([empty_problems(), *problems])


def header_problem(source: str, file: str, field_name: str, reason: str) -> pl.DataFrame:
    """A problem of a file's header, not of one row (row is empty)."""
    return pl.DataFrame(
        {
            "source": [source],
            "file": [file],
            "row": [None],
            "field": [field_name],
            "severity": ["warning"],
            "reason": [reason],
            "value": [None],
            "record": [None],
        },
        schema=empty_problems().schema,
    )


def date_order_notes(df: pl.DataFrame, source: Source, file: str, date_order: str) -> list[str]:
    """One line per date column whose year-last dates (1/2/2018) the file's own values cannot
    settle as day/month or month/day: those values are quarantined, not guessed, and the line
    says how to decide (parse.year_last_order)."""
    if date_order != "auto":
        return []
    notes = []
    # "date": the day of a wide reading row
    dated = [c.name for c in source.columns if c.kind in ("date", "datetime")] + ["date"]
    for col in dated:
        if df.schema.get(col) != pl.String:
            continue
        # a value opening with four ASCII digits (2021-05-04, as nearly all do) cannot have
        # the year last: only the others are read (the regexes cost 2 s a batch of 5 M)
        values = df[col]
        values = values.filter(~values.str.contains(r"^[0-9]{4}").fill_null(False))
        order, example = parse.year_last_order(values)
        if order in ("ambiguous", "mixed") and example is not None:
            what = (
                "no value shows a day above 12"
                if order == "ambiguous"
                else "values prove both day/month and month/day"
            )
            notes.append(
                f"{file}: {col} is written with the year last and {what} (e.g. "
                f"'{example}'): such dates are quarantined, not guessed; set date_order = "
                '"dmy" or "mdy" in manifest.toml'
            )
    return notes


def by_file(frame: pl.DataFrame) -> dict[str, int]:
    """Rows per input file (registers keep their file in _file to the end)."""
    if frame.height == 0:
        return {}
    counts = frame.group_by("_file").len()
    return dict(zip(counts["_file"].to_list(), counts["len"].to_list(), strict=True))


def less(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {f: n - after.get(f, 0) for f, n in before.items() if n - after.get(f, 0)}


def file_counts(
    files: list[str],
    read: dict[str, int],
    quarantined: list[dict[str, int]],
    collapsed: list[dict[str, int]],
    kept: dict[str, int],
) -> list[dict[str, Any]]:
    """One row per file: rows read, kept, quarantined and collapsed, each counted where it
    happened (so that read = kept + quarantined + collapsed is a check, not a definition)."""
    return [
        {
            "file": f,
            "rows_read": read.get(f, 0),
            "rows_kept": kept.get(f, 0),
            "quarantined": sum(q.get(f, 0) for q in quarantined),
            "duplicates_collapsed": sum(c.get(f, 0) for c in collapsed),
        }
        for f in files
    ]


def missing_column(source: str, file: str, col: Column, rows: int) -> pl.DataFrame:
    """A required field the header does not name: every row of the file lacks it."""
    accepted = "、".join((col.name, *col.aliases))
    return pl.DataFrame(
        {
            "source": [source],
            "file": [file],
            "row": [None],
            "field": [col.name],
            "severity": ["rejected"],
            "reason": [
                f"the header has no column for required {col.name} (accepted: {accepted}); "
                f"all {rows:,} rows rejected"
            ],
            "value": [None],
            "record": [None],
        },
        schema=empty_problems().schema,
    )
