"""The nightly flow: a real run under Prefect's test harness, idempotent reruns, one run at
a time, a killed run leaving the ledger as it was, the schedule's timezone, an incremental
night equal to a full rebuild, and the flow on a local Dask cluster."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import polars as pl
import pytest
from typer.testing import CliRunner

from screening import explore
from screening.cli import app
from screening.ledger.ledger import Ledger
from screening.ledger.locking import run_lock

from .conftest import REPO, SAMPLE, put_back, split_last_day

# what a lead list says about each site, whatever run and ledger it came from
SAME = ["run_site_id", "rank", "score", "category", "reasons", "evidence"]


def _leads(path):
    leads = pl.read_parquet(path)
    if "run_site_id" not in leads.columns:
        leads = leads.rename({"site_id": "run_site_id"})
    return leads.select(SAME).sort("rank")


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """The sample screened once without Prefect, in one partition: the reference."""
    from screening.pipeline import run_screening

    out = tmp_path_factory.mktemp("plain") / "run"
    run_screening(SAMPLE, out)
    return _leads(out / "leads.parquet")


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_nightly_flow_runs_and_the_same_night_twice_changes_nothing(harness, tmp_path):
    from flows.nightly import nightly

    args = {
        "bundle": str(SAMPLE),
        "run_root": str(tmp_path / "runs"),
        "work_dir": str(tmp_path / "work"),
        "ledger": str(tmp_path / "ledger.duckdb"),
        "export_dir": str(tmp_path / "forms"),
        "night": "2021-08-31",
    }
    first = nightly(**args)
    assert first["leads"] > 20 and first["ledger"]["new"] == first["leads"]
    assert (tmp_path / "runs" / "2021-08-31" / "leads.csv").exists()
    assert first["files"] > 5
    with Ledger(tmp_path / "ledger.duckdb") as lg:
        before = (lg.runs(), lg.history(), lg.status())
    second = nightly(**args)
    assert second["ledger"] == {"already_merged": 1}
    # 4 reading files, 3 days of tracks and the 7 registers' files, not re-read
    assert second["files_reused"] == 14
    with Ledger(tmp_path / "ledger.duckdb") as lg:
        after = (lg.runs(), lg.history(), lg.status())
    assert all(a.equals(b) for a, b in zip(before, after, strict=True))


def test_a_second_run_refuses_while_one_is_running(tmp_path):
    ledger = tmp_path / "ledger.duckdb"
    with run_lock(ledger):
        result = CliRunner().invoke(
            app,
            [
                "run",
                "--input",
                str(SAMPLE),
                "--out",
                str(tmp_path / "run"),
                "--ledger",
                str(ledger),
            ],
        )
    assert result.exit_code == 2
    assert "another screening run is using" in result.output
    assert not (tmp_path / "run" / "leads.csv").exists()


def test_a_killed_run_leaves_the_ledger_as_it_was(tmp_path):
    ledger = tmp_path / "ledger.duckdb"
    ok = CliRunner().invoke(
        app, ["run", "--input", str(SAMPLE), "--out", str(tmp_path / "r1"), "--ledger", str(ledger)]
    )
    assert ok.exit_code == 0, ok.output
    with Ledger(ledger) as lg:
        before = (lg.runs(), lg.history())
    # a second night (another screening date), killed once its ingest is written
    bundle = tmp_path / "bundle"
    subprocess.run(["cp", "-r", str(SAMPLE), str(bundle)], check=True)
    manifest = bundle / "manifest.toml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace(
            'as_of = "2021-08-31"', 'as_of = "2021-08-30"'
        ),
        encoding="utf-8",
    )
    out = tmp_path / "r2"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "screening",
            "run",
            "--input",
            str(bundle),
            "--out",
            str(out),
            "--ledger",
            str(ledger),
        ],
        cwd=REPO,
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not (out / "warehouse.duckdb").exists():  # written when the ingest is done
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "leads.csv").exists()
    with Ledger(ledger) as lg:
        after = (lg.runs(), lg.history())
    assert all(a.equals(b) for a, b in zip(before, after, strict=True))
    # the lock died with the process: the next run goes through
    again = CliRunner().invoke(
        app, ["run", "--input", str(bundle), "--out", str(out), "--ledger", str(ledger)]
    )
    assert again.exit_code == 0, again.output


def test_the_schedule_is_two_in_the_morning_in_china():
    from flows.nightly import deployment

    dep = deployment("/data/bundle")
    schedule = dep.schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("0 2 * * *", "Asia/Shanghai")
    assert dep.parameters == {"bundle": "/data/bundle"}


def test_an_incremental_night_reads_only_new_files_and_equals_a_full_rebuild(
    harness, plain_run, tmp_path
):
    from flows.nightly import nightly

    bundle = tmp_path / "bundle"
    shutil.copytree(SAMPLE, bundle)
    split_last_day(bundle, tmp_path / "held")
    args = {
        "bundle": str(bundle),
        "run_root": str(tmp_path / "runs"),
        "work_dir": str(tmp_path / "work"),
        "ledger": str(tmp_path / "ledger.duckdb"),
    }
    first = nightly(night="2021-08-30", **args)
    assert first["files_reused"] == 0
    # the full rebuild to compare with starts from the same ledger: last night's leads hold
    # their place for a night (scoring/hold.py), in a rebuild as in an increment
    shutil.copy(tmp_path / "ledger.duckdb", tmp_path / "ledger_rebuild.duckdb")
    # the next night's files arrive
    put_back(tmp_path / "held", bundle)
    second = nightly(night="2021-08-31", n_partitions=3, **args)
    # 2 days of tracks, 4 reading files and the 7 registers' files as they were
    assert second["files_reused"] == 13
    assert second["ledger"]["repeated"] > 0
    summary = (tmp_path / "runs" / "2021-08-31" / "run_summary.md").read_text(encoding="utf-8")
    assert "| vehicle_tracks | 3 | 2 |" in summary
    tonight = _leads(tmp_path / "runs" / "2021-08-31" / "leads.parquet")
    nightly(
        bundle=str(bundle),
        run_root=str(tmp_path / "rebuild"),
        work_dir=str(tmp_path / "work_rebuild"),
        ledger=str(tmp_path / "ledger_rebuild.duckdb"),
        night="2021-08-31",
    )
    assert tonight.equals(_leads(tmp_path / "rebuild" / "2021-08-31" / "leads.parquet"))
    # an analyst opening the night's folder finds the records behind its leads
    lead = explore.lead(tmp_path / "runs" / "2021-08-31", rank=1)
    assert explore.site_records(tmp_path / "runs" / "2021-08-31", lead["run_site_id"]).height
    assert explore.site(tmp_path / "runs" / "2021-08-31", lead["run_site_id"])["site_id"]


def test_the_flow_on_a_local_dask_cluster_gives_the_plain_run_s_leads(harness, plain_run, tmp_path):
    from flows.nightly import configured

    flow = configured("local")
    assert type(flow.task_runner).__name__ == "DaskTaskRunner"
    out = flow(
        bundle=str(SAMPLE),
        run_root=str(tmp_path / "runs"),
        work_dir=str(tmp_path / "work"),
        ledger=str(tmp_path / "ledger.duckdb"),
        night="2021-08-31",
        n_partitions=4,
    )
    assert out["leads"] == plain_run.height
    assert _leads(tmp_path / "runs" / "2021-08-31" / "leads.parquet").equals(plain_run)


def test_a_run_killed_in_a_kept_warehouse_heals_on_the_next_run(plain_run, tmp_path):
    work, out = tmp_path / "work", tmp_path / "run"
    cmd = [sys.executable, "-m", "screening", "run", "--input", str(SAMPLE), "--out", str(out)]
    proc = subprocess.Popen(
        [*cmd, "--work", str(work)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not list((work / "bulk").glob("*/*.parquet")):  # killed while the ingest writes
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    again = CliRunner().invoke(
        app, ["run", "--input", str(SAMPLE), "--out", str(out), "--work", str(work)]
    )
    assert again.exit_code == 0, again.output
    assert _leads(out / "leads.parquet").equals(plain_run)


def test_screening_nightly_refuses_while_a_run_holds_the_ledger(harness, tmp_path):
    ledger = tmp_path / "ledger.duckdb"
    args = ["nightly", "--input", str(SAMPLE), "--ledger", str(ledger)]
    args += ["--runs", str(tmp_path / "runs"), "--work", str(tmp_path / "work")]
    with run_lock(ledger):
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "another screening run is using" in result.output
    assert not (tmp_path / "work").exists()
