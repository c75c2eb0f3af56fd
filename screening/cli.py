"""The `screening` command. Each sub-command is one call into the library; this module only
parses arguments and prints."""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer

from screening.ingest import IngestError
from screening.ledger.outcomes import FIELDS
from screening.schema import TIMEZONE
from screening.settings import ConfigError, Settings, load_settings, prefect_environment
from screening.store import catalog
from screening.store.warehouse import StoreError, lock_reason, os_reason

if TYPE_CHECKING:
    from screening.pipeline import RunReport

# every command the product starts: Prefect quiet, with a home in the project
prefect_environment()

if TYPE_CHECKING:
    from screening.ledger.ledger import Ledger

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Screening for hidden illegal chemical workshops (非法违法小化工).",
)

REPO = Path(__file__).resolve().parent.parent
SAMPLE_BUNDLE = REPO / "data" / "sample"


def _version(value: bool) -> None:
    if value:
        from screening import __version__

        typer.echo(f"screening {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Screening for hidden illegal chemical workshops (非法违法小化工)."""


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _one_line(exc: BaseException) -> str:
    """What stopped a command, as an operator reads it: a full or read-only disk, a name too
    long, a database another program holds, in one line without a traceback."""
    import duckdb

    if isinstance(exc, OSError):
        return os_reason(exc)
    if isinstance(exc, duckdb.Error):  # the ledger's file held by another program, a full disk
        return f"database: {lock_reason(exc)}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _io_errors() -> tuple[type[BaseException], ...]:
    import duckdb

    return (StoreError, OSError, duckdb.Error)


FORCE_AS_OF = typer.Option(
    "--force-as-of",
    help="screen the manifest's as_of even when it lies after the data's end or ahead of "
    "today (refused otherwise)",
)


def _settings(config: Path | None) -> Settings:
    """The command's settings, loaded once here and passed down; a bad file is one line."""
    try:
        return load_settings(config)
    except ConfigError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


# a step that runs longer than this is announced on a plain (non-terminal) stderr, and its
# time is logged when it ends: a city run is not minutes of silence, a quick one stays quiet
PLAIN_AFTER_S = 5.0


class _PlainProgress:
    """Log lines for steps that take long, for a stderr that is not a terminal (cron, the
    nightly's log): announced once a step has run PLAIN_AFTER_S, timed when it ends."""

    def __init__(self) -> None:
        self.step: str | None = None
        self.started = 0.0
        self.said = False
        self.timer: threading.Timer | None = None

    def _say(self, text: str) -> None:
        typer.echo(f"{dt.datetime.now():%H:%M:%S} {text}", err=True)

    def _announce(self, label: str) -> None:
        self.said = True
        self._say(f"{label} …")

    def _end(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.step is not None and self.said:
            self._say(f"{self.step}: {time.perf_counter() - self.started:.1f} s")

    def __call__(self, name: str, i: int, n: int, k: int, m: int) -> None:
        if name != self.step:
            self._end()
            self.step, self.started, self.said = name, time.perf_counter(), False
        elif self.timer is not None:
            self.timer.cancel()
        label = f"step {i}/{n}: {name}" + (f" (part {k}/{m})" if m > 1 else "")
        self.timer = threading.Timer(PLAIN_AFTER_S, self._announce, (label,))
        self.timer.daemon = True
        self.timer.start()

    def close(self, ok: bool) -> None:
        if ok:
            self._end()
        elif self.timer is not None:
            self.timer.cancel()


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int, int, int], None]]:
    """What a long run is doing: a progress bar on a terminal; otherwise a log line for each
    step that takes long (stderr, so that the output stays the result)."""
    if sys.stderr.isatty():
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            transient=True,
        )
        task = bar.add_task("screening", total=None)

        def show(name: str, i: int, n: int, k: int, m: int) -> None:
            part = f" ({k}/{m})" if m > 1 else ""
            bar.update(task, description=f"{name}{part}", completed=i - 1, total=n)

        with bar:
            yield show
        return
    plain = _PlainProgress()
    try:
        yield plain
    except BaseException:
        plain.close(ok=False)
        raise
    plain.close(ok=True)


def _top_leads(leads: pl.DataFrame, top: int) -> str:
    """The head of a lead list as inspectors read it."""
    return _table(
        leads.head(top).select("rank", "score", "category_zh", "township", "address", "reasons")
    )


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
    force_as_of: Annotated[bool, FORCE_AS_OF] = False,
) -> None:
    """Read a bundle into typed canonical tables, quarantining bad rows with their reasons.
    A bundle unfit to screen is stored all the same (its problems can be seen) and the
    command then exits 2 with the reason."""
    from screening.ingest import ingest_bundle
    from screening.ledger.locking import RunLocked, work_lock

    settings = _settings(config)
    try:
        with work_lock(out):
            report = ingest_bundle(input, out, settings, force_as_of=force_as_of)
    except (IngestError, RunLocked) as exc:
        _fail(str(exc))
    except _io_errors() as exc:
        _fail(_one_line(exc))
    typer.echo(
        f"ingested {input} -> {catalog.warehouse_db(out)} in {report.seconds:.1f} s; "
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
    for r in report.unread.iter_rows(named=True):
        typer.echo(f"warning: {r['file']} not read: {r['error']}")
    for src, why in report.lost.items():
        typer.echo(f"warning: {src} lost, nothing usable: {why}")
    if report.blocking:
        _fail(report.blocking[0])


@app.command()
def sample(
    out: Annotated[Path, typer.Option("--out", "-o", help="bundle folder to write")],
    seed: Annotated[int, typer.Option(help="random seed; same seed, same bytes")] = 0,
    size: Annotated[str, typer.Option(help="tiny | small | medium | large | city")] = "small",
    plain: Annotated[bool, typer.Option("--plain", help="clean canonical files, no mess")] = False,
    truth: Annotated[Path | None, typer.Option(help="truth CSV (default: <out>_truth.csv)")] = None,
    style: Annotated[
        str,
        typer.Option(help="world style: default | plain-north | dense-south | sparse-mountain"),
    ] = "default",
) -> None:
    """Generate a synthetic county bundle with planted workshops and honest look-alikes."""
    from screening.sample import generate

    try:
        summary = generate(out, seed=seed, size=size, messy=not plain, truth=truth, style=style)
    except ValueError as exc:
        _fail(str(exc))
    for key, value in summary.items():
        typer.echo(f"{key}: {value}")


@app.command()
def run(
    input: Annotated[Path, typer.Option("--input", "-i", help="bundle folder")] = SAMPLE_BUNDLE,
    out: Annotated[Path, typer.Option("--out", "-o", help="run directory")] = Path("runs/sample"),
    config: Annotated[
        Path | None, typer.Option(help="settings file (see screening/config.toml)")
    ] = None,
    top: Annotated[int, typer.Option(help="leads to print")] = 15,
    ledger: Annotated[Path | None, typer.Option(help="ledger file: merge this run into it")] = None,
    work: Annotated[
        Path | None,
        typer.Option(help="keep the warehouse here across runs; read only new files"),
    ] = None,
    force_as_of: Annotated[bool, FORCE_AS_OF] = False,
) -> None:
    """Screen a bundle: ingest, signals, sites, scoring; writes RUN_DIR/leads.csv and
    leads.parquet (best first) and run_summary.md."""
    from screening.ledger.ledger import LedgerError
    from screening.ledger.locking import RunLocked
    from screening.ledger.merge import describe_merge
    from screening.pipeline import run_screening
    from screening.scoring.rules import RuleError

    settings = _settings(config)
    try:
        with _progress() as progress:
            report = run_screening(
                input, out, settings, ledger, work, progress=progress, force_as_of=force_as_of
            )
    except (IngestError, RuleError, LedgerError, RunLocked) as exc:
        _fail(str(exc))
    except _io_errors() as exc:
        _fail(_one_line(exc))
    ing = report.ingest
    quarantined = int(ing.summary["quarantined"].sum())
    typer.echo(
        f"screened {input} as of {ing.as_of}: {int(ing.summary['rows_read'].sum()):,} rows "
        f"read, {quarantined:,} quarantined, {report.sites.counts['sites']:,} sites, "
        f"{report.leads.height} leads in {report.seconds:.1f} s"
    )
    for line in _problem_lines(report):
        typer.echo(line)
    if report.merge:
        typer.echo(describe_merge(report.merge))
    typer.echo(_top_leads(report.leads, top))
    typer.echo(
        f"-> {catalog.leads_csv(out)}, {catalog.leads_parquet(out)}, {catalog.run_summary(out)}"
    )


def _problem_lines(report: RunReport) -> list[str]:
    """What went wrong in the bundle, for the terminal: files not read, sources lost or
    absent and the rules they silence, records after as_of, the ingest's notes."""
    ing = report.ingest
    out = [f"warning: {r['file']} not read: {r['error']}" for r in ing.unread.iter_rows(named=True)]
    for src, rules in report.silent_rules.items():
        if src in ing.lost:
            out.append(f"warning: {src} lost ({ing.lost[src]}), rules silent: {', '.join(rules)}")
        else:
            out.append(f"note: {src} absent, rules silent: {', '.join(rules)}")
    hidden = report.sites.after_as_of
    if hidden:
        out.append(
            f"note: dated after {ing.as_of}, not screened: "
            + ", ".join(f"{n:,} {src}" for src, n in hidden.items())
        )
    shown = 20
    out += [f"note: {n}" for n in ing.notes[:shown]]
    if len(ing.notes) > shown:
        out.append(f"note: {len(ing.notes) - shown} more in run_summary.md")
    return out


@app.command()
def evaluate(
    truth: Annotated[Path, typer.Option(help="truth CSV written by `screening sample`")],
    leads: Annotated[Path, typer.Option(help="leads.parquet or leads.csv of a run")],
) -> None:
    """Recall and precision of a lead list against a generated county's ground truth."""
    from screening.evaluation.metrics import evaluate as run_evaluation
    from screening.evaluation.truth import read_truth

    def read(path: Path) -> pl.DataFrame:
        try:
            if path.suffix == ".parquet":
                return pl.read_parquet(path)
            return pl.read_csv(path, infer_schema=False)
        except (OSError, pl.exceptions.PolarsError) as exc:
            _fail(f"cannot read {path}: {str(exc).splitlines()[0]}")
            raise  # unreachable: _fail exits

    lead_raw, truth_raw = read(leads), read(truth)
    if "truth_id" in lead_raw.columns and "truth_id" not in truth_raw.columns:
        _fail(f"--truth and --leads are swapped: {leads} is a truth file, {truth} a lead list")
    for path, frame, need, what in (
        (truth, truth_raw, ("truth_id", "role", "lon", "lat", "jump_date"), "truth file"),
        (leads, lead_raw, ("rank", "site_id", "lon", "lat"), "lead list"),
    ):
        missing = [c for c in need if c not in frame.columns]
        if missing:
            _fail(f"{path} is not a {what}: no column {', '.join(missing)}")
    lead_list = (
        lead_raw if leads.suffix == ".parquet" else pl.read_csv(leads, infer_schema_length=10000)
    )
    truth_table = read_truth(truth)
    result = run_evaluation(truth_table, lead_list)
    for key, value in result.items():
        if isinstance(value, float):
            typer.echo(f"{key}: {value:.3f}")
        elif isinstance(value, dict):
            typer.echo(f"{key}: " + ", ".join(f"{k} {v:.2f}" for k, v in value.items()))
        elif isinstance(value, list):
            typer.echo(f"{key}: {'; '.join(value) if value else '-'}")
        else:
            typer.echo(f"{key}: {value}")


ledger_app = typer.Typer(no_args_is_help=True, help="The ledger: lead lifecycle and outcomes.")
app.add_typer(ledger_app, name="ledger")
LEDGER_OPT = typer.Option("--ledger", "-l", help="ledger file")


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


FIELD_HELP = "a recorded fact, KEY=VALUE, repeatable; keys: " + "; ".join(
    f"{f.key} ({f.help})" for f in FIELDS
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


@app.command()
def export(
    run_dir: Annotated[Path, typer.Option("--run", help="run directory (its leads)")] = Path(
        "runs/sample"
    ),
    ledger: Annotated[Path, LEDGER_OPT] = catalog.DEFAULT_LEDGER,
    out: Annotated[Path, typer.Option(help="folder for the forms")] = Path("exports"),
    month_end: Annotated[
        str | None,
        typer.Option(help="forms cumulative to this date (default: end of last month)"),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="settings file (rule names, [map])")] = None,
) -> None:
    """Write, per oversight unit, the team's work list (线索核查表, to fill and send back),
    annex 2 清单台账 and annex 4 of its recorded findings and its map; annex 3 for the
    county. The ledger is only read."""
    from screening.pipeline import export_run
    from screening.pipeline.run import ExportError

    settings = _settings(config)
    try:
        end = dt.date.fromisoformat(month_end) if month_end else None
    except ValueError:
        _fail(f"--month-end {month_end!r} is not a date (YYYY-MM-DD)")
    try:
        report = export_run(run_dir, ledger, out, end, settings=settings)
    except ExportError as exc:
        _fail(str(exc))
    for note in report.notes:
        typer.echo(f"note: {note}")
    for path in report.files:
        typer.echo(str(path))


@app.command()
def rescore(
    run_dir: Annotated[Path, typer.Option("--run", help="run directory to re-score")] = Path(
        "runs/sample"
    ),
    config: Annotated[
        Path | None, typer.Option(help="settings file with the changed rules")
    ] = None,
    out: Annotated[Path, typer.Option(help="folder for the new lead list")] = Path("runs/rescored"),
    top: Annotated[int, typer.Option(help="leads to print")] = 15,
) -> None:
    """Re-score a run's sites after a rule change, signals unchanged (seconds, not a rerun).
    The run's warehouse is only read and its ledger is not touched: the new list goes to
    OUT/leads.csv and leads.parquet, with how it differs from the run's."""
    from screening.pipeline import rescore_run
    from screening.pipeline.run import NoSites
    from screening.scoring.rules import RuleError

    settings = _settings(config)
    try:
        report = rescore_run(run_dir, settings, out)
    except (NoSites, RuleError) as exc:
        _fail(str(exc))
    leads = report.leads
    typer.echo(f"re-scored {report.sites:,} sites: {leads.height} leads in {report.seconds:.1f} s")
    if report.in_both is not None:
        typer.echo(
            f"against {run_dir}: {report.in_both} in both, {report.new} new, "
            f"{report.dropped} no longer listed"
        )
    typer.echo(_top_leads(leads, top))
    typer.echo(f"-> {catalog.leads_csv(out)}, {catalog.leads_parquet(out)}")


DASK_OPT = typer.Option(
    help='Dask scheduler address for the heavy stages ("tcp://host:8786"), "local" for a '
    "cluster on this machine; default: scale.dask_address in the config, else no Dask"
)


@app.command()
def nightly(
    input: Annotated[Path, typer.Option("--input", "-i", help="bundle folder")],
    runs: Annotated[
        Path, typer.Option(help="folder for the nightly run folders")
    ] = catalog.DEFAULT_RUNS,
    work: Annotated[
        Path, typer.Option(help="warehouse kept from night to night")
    ] = catalog.DEFAULT_WORK,
    ledger: Annotated[Path, LEDGER_OPT] = catalog.DEFAULT_LEDGER,
    exports: Annotated[Path | None, typer.Option(help="folder for forms and maps")] = None,
    night: Annotated[str | None, typer.Option(help="run folder name (default: today)")] = None,
    dask: Annotated[str | None, DASK_OPT] = None,
    config: Annotated[Path | None, typer.Option(help="settings file")] = None,
    force_as_of: Annotated[bool, FORCE_AS_OF] = False,
) -> None:
    """Run the nightly Prefect flow once, now (no server needed: Prefect starts a temporary
    one; with PREFECT_API_URL set the run shows in that server's UI)."""
    from flows.nightly import configured
    from screening.ledger.locking import RunLocked
    from screening.ledger.merge import describe_merge

    flow = configured(dask, str(config) if config else None)
    try:
        out = flow(
            bundle=str(input),
            run_root=str(runs),
            work_dir=str(work),
            ledger=str(ledger),
            config=str(config) if config else None,
            export_dir=str(exports) if exports else None,
            night=night,
            force_as_of=force_as_of,
        )
    except (IngestError, ConfigError, RunLocked) as exc:
        _fail(str(exc))
    except _io_errors() as exc:
        _fail(_one_line(exc))
    except Exception as exc:  # the Prefect server: its client raises many kinds
        reason = _server_failure(exc)
        if reason is None:
            raise
        _fail(reason)
    merged = describe_merge(out["ledger"])  # type: ignore[arg-type]
    typer.echo(
        f"{out['leads']} leads -> {out['run_dir']}; {merged}; "
        f"{out['files_reused']} input files unchanged since the last night"
    )


def _server_failure(exc: BaseException) -> str | None:
    """One line for a Prefect API server that could not be started or reached (a temporary
    one timing out on a busy machine, a PREFECT_API_URL nobody answers), None for anything
    else. Looks through the exception's causes: Prefect wraps the connection error."""
    import os

    seen: BaseException | None = exc
    while seen is not None:
        text = f"{type(seen).__module__}.{type(seen).__name__}: {seen}"
        server = "Prefect API" in text or "ephemeral" in text.lower()
        connect = any(w in text for w in ("ConnectError", "ConnectTimeout", "Connection refused"))
        if server or (connect and ("httpx" in text or "prefect" in text)):
            url = os.environ.get("PREFECT_API_URL")
            first = str(seen).splitlines()[0] if str(seen) else type(seen).__name__
            if url:
                return (
                    f"could not reach the Prefect server at {url} ({first}): start it "
                    "(`prefect server start`) or unset PREFECT_API_URL for a temporary one"
                )
            return (
                f"Prefect's temporary server did not start ({first}): on a busy machine "
                "raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or run a server "
                "(`prefect server start`) and set PREFECT_API_URL (see README)"
            )
        seen = seen.__cause__ or seen.__context__
    return None


@app.command()
def serve(
    input: Annotated[
        Path, typer.Option("--input", "-i", help="bundle folder the agencies fill every night")
    ],
    runs: Annotated[
        Path, typer.Option(help="folder for the nightly run folders")
    ] = catalog.DEFAULT_RUNS,
    work: Annotated[
        Path, typer.Option(help="warehouse kept from night to night")
    ] = catalog.DEFAULT_WORK,
    ledger: Annotated[Path, LEDGER_OPT] = catalog.DEFAULT_LEDGER,
    exports: Annotated[Path | None, typer.Option(help="folder for forms and maps")] = None,
    cron: Annotated[str, typer.Option(help="when to run")] = "0 2 * * *",
    timezone: Annotated[str, typer.Option(help="timezone of the cron")] = TIMEZONE,
    dask: Annotated[str | None, DASK_OPT] = None,
    config: Annotated[Path | None, typer.Option(help="settings file")] = None,
) -> None:
    """Run the nightly flow on a schedule (needs a Prefect server: `prefect server start`,
    and PREFECT_API_URL pointing at it; see README)."""
    from prefect import serve as prefect_serve

    from flows.nightly import deployment

    dep = deployment(
        str(input.resolve()),
        cron=cron,
        timezone=timezone,
        dask=dask,
        run_root=str(runs.resolve()),
        work_dir=str(work.resolve()),
        ledger=str(ledger.resolve()),
        export_dir=str(exports.resolve()) if exports else None,
        config=str(config.resolve()) if config else None,
    )
    typer.echo(f"serving nightly-screening: '{cron}' {timezone}")
    prefect_serve(dep)


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
    from screening.ledger.locking import RunLocked, work_lock
    from screening.pipeline import build_sites

    settings = _settings(config)
    try:
        with work_lock(work):
            report = build_sites(work, settings)
    except (IngestError, RunLocked) as exc:
        _fail(str(exc))
    except _io_errors() as exc:
        _fail(_one_line(exc))
    typer.echo(
        f"sites as of {report.as_of}: " + ", ".join(f"{v:,} {k}" for k, v in report.counts.items())
    )
    for stage, seconds in report.seconds.items():
        typer.echo(f"  {stage}: {seconds:.2f} s")
