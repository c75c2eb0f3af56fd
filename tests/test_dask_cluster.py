"""The nightly flow on a real Dask cluster, started as a deployment starts one: a `dask
scheduler` process and two `dask worker` processes on loopback (separate processes, the work
directory as their shared path), and `screening nightly --dask tcp://…` as its own process.
These are the README's multi-machine steps, on one machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from .conftest import REPO, SAMPLE

SAME = ["run_site_id", "rank", "score", "category", "reasons", "evidence"]
DASK = shutil.which("dask")


def _scheduler_opts(scheduler_file: Path) -> list[str]:
    return ["--scheduler-file", str(scheduler_file), "--no-dashboard"]


def _worker_opts(folder: Path) -> list[str]:
    return ["--no-dashboard", "--local-directory", str(folder)]


def _leads(path: Path) -> pl.DataFrame:
    leads = pl.read_parquet(path)
    if "run_site_id" not in leads.columns:
        leads = leads.rename({"site_id": "run_site_id"})
    return leads.select(SAME).sort("rank")


def _wait_for(path: Path, procs: list[subprocess.Popen[bytes]], seconds: float) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        for p in procs:
            assert p.poll() is None, f"{p.args} exited with {p.returncode}"
        assert time.time() < deadline, f"{path} did not appear in {seconds} s"
        time.sleep(0.2)


def _workers(scheduler_file: Path, n: int) -> int:
    from distributed import Client

    with Client(scheduler_file=str(scheduler_file), timeout=30) as client:
        return len(client.scheduler_info()["workers"])


@pytest.mark.skipif(DASK is None, reason="the dask command comes with prefect-dask")
def test_the_nightly_flow_on_a_scheduler_and_two_workers_gives_the_plain_run(tmp_path):
    from screening.pipeline import run_screening

    plain = tmp_path / "plain"
    run_screening(SAMPLE, plain)

    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    sched_file = tmp_path / "scheduler.json"
    procs: list[subprocess.Popen[bytes]] = []
    log = (tmp_path / "cluster.log").open("wb")
    try:
        procs.append(
            subprocess.Popen(
                [
                    DASK,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    *_scheduler_opts(sched_file),
                ],
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=log,
            )
        )
        _wait_for(sched_file, procs, 120)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [DASK, "worker", address, "--nthreads", "1", *_worker_opts(tmp_path / f"w{i}")],
                    cwd=tmp_path,
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            )
        deadline = time.time() + 120
        while _workers(sched_file, 2) < 2:
            assert time.time() < deadline, "the two workers did not join"
            time.sleep(0.5)
        night = subprocess.run(
            [
                *(sys.executable, "-m", "screening", "nightly", "--input", str(SAMPLE)),
                *("--runs", str(tmp_path / "runs"), "--work", str(tmp_path / "work")),
                *("--ledger", str(tmp_path / "ledger.duckdb"), "--night", "2021-08-31"),
                *("--dask", address),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert night.returncode == 0, night.stdout[-3000:] + night.stderr[-3000:]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
    tonight = _leads(tmp_path / "runs" / "2021-08-31" / "leads.parquet")
    assert tonight.equals(_leads(plain / "leads.parquet"))
