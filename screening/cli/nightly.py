"""`screening nightly` and `screening serve`: the Prefect flow once, or on a schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from screening.cli.main import FORCE_AS_OF, LEDGER_OPT, _fail, _io_errors, _one_line, app
from screening.ingest import IngestError
from screening.schema import TIMEZONE
from screening.settings import ConfigError
from screening.store import catalog

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
