"""The nightly flow: a real run under Prefect's test harness, idempotent reruns, one run at
a time, a killed run leaving the ledger as it was, and the schedule's timezone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from screening.cli import app
from screening.ledger import Ledger
from screening.locking import run_lock

from .conftest import REPO, SAMPLE


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
