"""The problems table: one row per rejected row or warning, with file, row, field and reason,
so that an agency can repair and re-send exactly what was refused. Every stage of the
ingest reports through these helpers, so the table has one shape everywhere."""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from screening.schema import Source

PROBLEM_SCHEMA = {
    "source": pl.String,
    "file": pl.String,
    "row": pl.Int64,
    "field": pl.String,
    "severity": pl.String,  # rejected | warning
    "reason": pl.String,
    "value": pl.String,
    "record": pl.String,  # the row as read, JSON, so that it can be repaired and re-sent
}


def empty_problems() -> pl.DataFrame:
    return pl.DataFrame(schema=PROBLEM_SCHEMA)


def rows_to_problems(
    df: pl.DataFrame,
    source: str,
    field_expr: pl.Expr,
    reason: pl.Expr,
    value: pl.Expr,
    severity: str = "rejected",
) -> pl.DataFrame:
    cols = [c for c in df.columns if not c.startswith("_")]
    return df.select(
        pl.lit(source).alias("source"),
        pl.col("_file").alias("file"),
        pl.col("_row").alias("row"),
        field_expr.alias("field"),
        pl.lit(severity).alias("severity"),
        reason.alias("reason"),
        value.cast(pl.String).alias("value"),
        pl.struct([pl.col(c).cast(pl.String) for c in cols]).struct.json_encode().alias("record"),
    )


def file_problem(source: str, file: str, reason: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source": [source],
            "file": [file],
            "row": [None],
            "field": [None],
            "severity": ["rejected"],
            "reason": [f"whole file not read: {reason}"],
            "value": [None],
            "record": [None],
        },
        schema=PROBLEM_SCHEMA,
    )


class IngestError(Exception):
    """The bundle as a whole cannot be used (a required source missing or unreadable)."""


class Check(NamedTuple):
    """A row check: ``when`` is cheap and evaluated on every row; ``problem`` builds the
    report (a struct, or null) and is evaluated only on rows some check flagged, which keeps
    millions of clean readings from paying for string formatting."""

    when: pl.Expr
    problem: pl.Expr


def problem(
    when: pl.Expr,
    field_name: str | pl.Expr,
    severity: str,
    reason: pl.Expr | str,
    value: pl.Expr | None = None,
    also: pl.Expr | None = None,
) -> Check:
    fld = pl.lit(field_name) if isinstance(field_name, str) else field_name
    rsn = pl.lit(reason) if isinstance(reason, str) else reason
    val = value.cast(pl.String) if value is not None else pl.lit(None, dtype=pl.String)
    precise = when if also is None else when & also
    return Check(
        when.fill_null(False),
        pl.when(precise).then(
            pl.struct(field=fld, severity=pl.lit(severity), reason=rsn, value=val)
        ),
    )


def quote(e: pl.Expr) -> pl.Expr:
    return pl.lit("'") + e.cast(pl.String).str.slice(0, 60) + pl.lit("'")


def key_conflicts(
    df: pl.DataFrame,
    source: Source,
    key: list[str],
    keep_first: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows sharing a key after exact duplicates collapsed: content differs. Registers keep
    the first row and quarantine the rest; readings quarantine all (which value is right is
    unknowable, and a wrong one would be a false jump)."""
    first = (
        df.group_by(key, maintain_order=True)
        .agg(
            pl.col("_file").first().alias("_first_file"),
            pl.col("_row").first().alias("_first_row"),
            pl.len().alias("_n"),
        )
        .filter(pl.col("_n") > 1)
    )
    if first.height == 0:
        return df, empty_problems()
    marked = df.with_row_index("_i").join(first, on=key, how="left", nulls_equal=False)
    is_first = (pl.col("_file") == pl.col("_first_file")) & (pl.col("_row") == pl.col("_first_row"))
    clash = pl.col("_n").is_not_null() & (~is_first if keep_first else pl.lit(True))
    bad = marked.filter(clash)
    key_text = pl.concat_str(
        [
            pl.col(k).dt.to_string("%Y-%m-%d %H:%M:%S")
            if df.schema[k] == pl.Datetime("us")
            else pl.col(k).cast(pl.String)
            for k in key
        ],
        separator=" ",
    )
    if keep_first:
        reason = pl.format(
            "duplicate {} {} with different content; first at {} row {} kept",
            pl.lit("/".join(key)),
            key_text,
            pl.col("_first_file"),
            pl.col("_first_row"),
        )
    else:
        reason = pl.format("{} readings for {} disagree; all excluded", pl.col("_n"), key_text)
    field_expr = pl.col("_part").replace("", key[-1]) if "_part" in df.columns else pl.lit(key[-1])
    problems = rows_to_problems(bad, source.name, field_expr, reason, key_text)
    kept = marked.filter(~clash).drop("_i", "_first_file", "_first_row", "_n")
    return kept, problems
