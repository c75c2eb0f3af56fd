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
from screening.settings import ConfigError, Settings, load_settings, prefect_environment
from screening.store import catalog
from screening.store.warehouse import StoreError, lock_reason, os_reason

if TYPE_CHECKING:
    from screening.pipeline import RunReport

# every command the product starts: Prefect quiet, with a home in the project
prefect_environment()

if TYPE_CHECKING:
    pass

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Screening for hidden illegal chemical workshops (非法违法小化工).",
)

REPO = Path(__file__).resolve().parents[2]
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
    track_days: Annotated[
        int | None,
        typer.Option(help="days of GPS tracks to keep (a history to replay; default: the size's)"),
    ] = None,
) -> None:
    """Generate a synthetic county bundle with planted workshops and honest look-alikes."""
    from screening.sample import generate

    try:
        summary = generate(
            out,
            seed=seed,
            size=size,
            messy=not plain,
            truth=truth,
            style=style,
            track_days=track_days,
        )
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


LEDGER_OPT = typer.Option("--ledger", "-l", help="ledger file")


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
