"""`screening ledger …`: the lead lifecycle and the outcomes teams record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer

from screening.cli.main import LEDGER_OPT, _fail, _settings, _table, app
from screening.ledger.outcomes import FIELDS
from screening.store import catalog

if TYPE_CHECKING:
    from screening.ledger.ledger import Ledger


FIELD_HELP = "a recorded fact, KEY=VALUE, repeatable; keys: " + "; ".join(
    f"{f.key} ({f.help})" for f in FIELDS
)


ledger_app = typer.Typer(no_args_is_help=True, help="The ledger: lead lifecycle and outcomes.")
app.add_typer(ledger_app, name="ledger")


def _read_ledger(path: Path) -> Ledger:
    """A ledger opened for reading only; a missing file is one line, and no file is made."""
    from screening.ledger.ledger import Ledger, LedgerError

    if not path.is_file():
        _fail(f"no ledger at {path} (a run with --ledger creates it; --ledger names another)")
    try:
        return Ledger(path, read_only=True)
    except LedgerError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


def _show(frame: pl.DataFrame) -> str:
    """A table for people: empty cells, not ``null``."""
    return _table(frame.select(pl.all().cast(pl.String).fill_null("")))


@ledger_app.command("status")
def ledger_status(
    ledger: Annotated[Path, LEDGER_OPT] = catalog.DEFAULT_LEDGER,
    status: Annotated[str | None, typer.Option(help="only sites in this status")] = None,
    township: Annotated[str | None, typer.Option(help="only this township")] = None,
) -> None:
    """Every site in the ledger with its current status and recorded outcome, in the order
    of the lifecycle (what still needs a visit first), then by rank in the latest run."""
    from screening.ledger.ledger import STATUS_ZH, STATUSES
    from screening.ledger.outcomes import outcome_summary, recorded

    with _read_ledger(ledger) as lg:
        table = lg.status()
        ranks = lg.latest_leads().select("site_id", "rank")
        facts = recorded(lg.history()).select("site_id", outcome_summary().alias("outcome"))
    if status:
        if status not in STATUSES:
            _fail(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        table = table.filter(pl.col("status") == status)
    if township:
        table = table.filter(pl.col("township") == township)
    order = {s: i for i, s in enumerate(STATUSES)}
    table = (
        table.join(ranks, on="site_id", how="left")
        .join(facts, on="site_id", how="left")
        .with_columns(
            pl.col("status").replace_strict(order, default=len(order)).alias("_o"),
            pl.col("status").replace_strict(STATUS_ZH, default=None).alias("状态"),
        )
        .sort("_o", "rank", "site_id", nulls_last=True)
    )
    typer.echo(
        _show(
            table.select(
                "rank",
                "site_id",
                "状态",
                pl.col("status_since").dt.strftime("%Y-%m-%d %H:%M").alias("since"),
                "township",
                "address",
                "names",
                "outcome",
                "actor",
                "note",
            )
        )
    )


@ledger_app.command("history")
def ledger_history(
    site_id: Annotated[str, typer.Argument(help="site id")],
    ledger: Annotated[Path, LEDGER_OPT] = catalog.DEFAULT_LEDGER,
) -> None:
    """Every status change of one site, in the order it happened (recorded dates)."""
    from screening.ledger.ledger import STATUS_ZH

    with _read_ledger(ledger) as lg:
        steps = lg.history(site_id)
    if steps.height == 0:
        _fail(f"no site {site_id} in {ledger}")
    zh = lambda c: pl.col(c).replace_strict(STATUS_ZH, default=None)  # noqa: E731
    typer.echo(
        _show(
            steps.select(
                pl.col("changed_at").dt.strftime("%Y-%m-%d %H:%M").alias("when"),
                zh("from_status").alias("from"),
                zh("to_status").alias("to"),
                "actor",
                "note",
                pl.when(pl.col("fields").is_in(["{}", ""]))
                .then(None)
                .otherwise("fields")
                .alias("recorded"),
                "run_id",
            )
        )
    )


@ledger_app.command("set")
def ledger_set(
    site_id: Annotated[str, typer.Argument(help="site id")],
    status: Annotated[
        str,
        typer.Argument(
            help="new status: assigned, inspected, confirmed, cleared, measures_taken, closed, lead"
        ),
    ],
    actor: Annotated[str, typer.Option(help="who records this")],
    note: Annotated[str, typer.Option(help="what happened")] = "",
    field: Annotated[list[str] | None, typer.Option(help=FIELD_HELP)] = None,
    at: Annotated[
        str | None, typer.Option(help="when it happened, YYYY-MM-DD[ HH:MM] (default: now)")
    ] = None,
    ledger: Annotated[Path, LEDGER_OPT] = catalog.DEFAULT_LEDGER,
    config: Annotated[Path | None, typer.Option(help="settings file (its date bounds)")] = None,
) -> None:
    """Move one site to a new status (checked against the lifecycle; kept as history).
    Facts given with --field are checked as a returned work list's cells are, and fill the
    forms: annex 3 counts group, staff, category, suspend, dismantle, confiscated_wan,
    fine_wan and judicial; annex 2 and 4 show what was recorded."""
    from screening.ledger.ledger import Ledger, LedgerError
    from screening.ledger.outcomes import check_set_fields

    cfg = _settings(config).ingest
    pairs = [f.split("=", 1) for f in (field or [])]
    if any(len(p) != 2 or not p[0] for p in pairs):
        _fail("--field takes KEY=VALUE")
    try:
        when = dt.datetime.fromisoformat(at) if at else None
    except ValueError:
        _fail(f"--at {at!r} is not a date (YYYY-MM-DD or 'YYYY-MM-DD HH:MM')")
    if not ledger.is_file():
        _fail(f"no ledger at {ledger} (a run with --ledger creates it)")
    try:
        fields = check_set_fields(dict(pairs), (cfg.min_year, cfg.max_year))
        with Ledger(ledger) as lg:
            before = lg.transition(site_id, status, actor, note, at=when, fields=fields)
    except LedgerError as exc:
        _fail(str(exc))
    typer.echo(f"{site_id}: {before} -> {status}")


@ledger_app.command("import")
def ledger_import(
    sheet: Annotated[Path, typer.Argument(help="a team's returned 线索核查表 (.xlsx)")],
    actor: Annotated[str, typer.Option(help="who sent it (team or unit)")],
    ledger: Annotated[Path, LEDGER_OPT] = catalog.DEFAULT_LEDGER,
    config: Annotated[Path | None, typer.Option(help="settings file")] = None,
) -> None:
    """Import a team's returned work list: good rows become lifecycle steps, bad rows are
    listed with their row number and reason."""
    from screening.ledger.ledger import LedgerError
    from screening.ledger.outcomes import import_sheet

    if not sheet.is_file():
        _fail(f"no file {sheet}")
    try:
        report = import_sheet(ledger, sheet, actor, _settings(config))
    except LedgerError as exc:
        _fail(str(exc))
    typer.echo(f"{report.applied.height} rows applied, {report.rejected.height} rejected")
    if report.applied.height:
        typer.echo(_show(report.applied))
    if report.rejected.height:
        typer.echo(_show(report.rejected))


@ledger_app.command("report")
def ledger_report(
    ledger: Annotated[Path, LEDGER_OPT] = catalog.DEFAULT_LEDGER,
    config: Annotated[Path | None, typer.Option(help="settings file (its [learning])")] = None,
) -> None:
    """How right past leads were: hit rate by rank band and by rule, and the rule weight
    multipliers the next run will use. Outcomes count by their recorded date."""
    from screening.scoring import learning

    settings = _settings(config)
    with _read_ledger(ledger) as lg:
        labelled = learning.labels(lg.history(), lg.run_leads(), lg.runs())
    if labelled.height == 0:
        typer.echo("no confirmed or cleared sites yet")
        return
    by_band, by_rule = learning.hit_rates(labelled)
    rate = labelled.select(pl.col("label").cast(pl.Float64).mean()).item()
    typer.echo(f"{labelled.height} labelled sites, hit rate {rate:.0%}")
    typer.echo(_table(by_band))
    typer.echo(_table(by_rule))
    weights = learning.multipliers(labelled, settings.learning)
    typer.echo(
        "weights for the next run: "
        + (
            ", ".join(f"{k} ×{v:.2f}" for k, v in sorted(weights.items()))
            or "unchanged (too few labels)"
        )
    )
