"""The `screening` command. Each sub-command is one call into the library; this module only
parses arguments and prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from screening.config import ConfigError
from screening.ingest import IngestError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Screening for hidden illegal chemical workshops (非法违法小化工).",
)

REPO = Path(__file__).resolve().parent.parent
SAMPLE_BUNDLE = REPO / "data" / "sample"


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _table(frame: pl.DataFrame) -> str:
    with pl.Config(
        tbl_rows=200,
        tbl_cols=30,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        fmt_str_lengths=120,
        tbl_width_chars=200,
    ):
        return str(frame)


@app.command()
def ingest(
    input: Annotated[Path, typer.Option("--input", "-i", help="bundle folder")] = SAMPLE_BUNDLE,
    out: Annotated[Path, typer.Option("--out", "-o", help="work directory (warehouse)")] = Path(
        "work/sample"
    ),
    config: Annotated[
        Path | None, typer.Option(help="settings file (see screening/config.toml)")
    ] = None,
    show_problems: Annotated[int, typer.Option(help="problem rows to print")] = 20,
) -> None:
    """Read a bundle into typed canonical tables, quarantining bad rows with their reasons."""
    from screening.pipeline import ingest_bundle

    try:
        report = ingest_bundle(input, out, config)
    except (IngestError, ConfigError) as exc:
        _fail(str(exc))
    typer.echo(
        f"ingested {input} -> {out / 'warehouse.duckdb'} in {report.seconds:.1f} s; "
        f"region {report.manifest.region}, as_of {report.as_of}, "
        f"coordinates {report.manifest.crs} -> wgs84"
    )
    typer.echo(_table(report.summary))
    if report.absent:
        typer.echo(
            "absent (optional) sources: "
            + ", ".join(report.absent)
            + " - rules that need them stay silent"
        )
    for note in report.notes:
        typer.echo(f"note: {note}")
    q = report.problems
    if q.height:
        counts = q.group_by("source", "severity").len().sort("source", "severity")
        typer.echo("problems by source:")
        typer.echo(_table(counts))
        typer.echo(f"first {min(show_problems, q.height)} problems (all in table ingest_problems):")
        typer.echo(
            _table(
                q.head(show_problems).select("source", "file", "row", "field", "severity", "reason")
            )
        )


@app.command()
def sample(
    out: Annotated[Path, typer.Option("--out", "-o", help="bundle folder to write")],
    seed: Annotated[int, typer.Option(help="random seed; same seed, same bytes")] = 0,
    size: Annotated[str, typer.Option(help="tiny | small | medium | large")] = "small",
    plain: Annotated[bool, typer.Option("--plain", help="clean canonical files, no mess")] = False,
    truth: Annotated[Path | None, typer.Option(help="truth CSV (default: <out>_truth.csv)")] = None,
) -> None:
    """Generate a synthetic county bundle with planted workshops and honest look-alikes."""
    from screening.sample import generate

    try:
        summary = generate(out, seed=seed, size=size, messy=not plain, truth=truth)
    except ValueError as exc:
        _fail(str(exc))
    for key, value in summary.items():
        typer.echo(f"{key}: {value}")


def main() -> None:  # pragma: no cover - console entry for `python -m screening`
    app(sys.argv[1:])


@app.command()
def sites(
    work: Annotated[Path, typer.Option("--work", "-w", help="work directory of an ingest")] = Path(
        "work/sample"
    ),
    config: Annotated[Path | None, typer.Option(help="settings file")] = None,
) -> None:
    """Compute signals and tie every record to a site (after `screening ingest`)."""
    from screening.pipeline import build_sites

    try:
        report = build_sites(work, config)
    except (IngestError, ConfigError) as exc:
        _fail(str(exc))
    typer.echo(
        f"sites as of {report.as_of}: " + ", ".join(f"{v:,} {k}" for k, v in report.counts.items())
    )
    for stage, seconds in report.seconds.items():
        typer.echo(f"  {stage}: {seconds:.2f} s")
