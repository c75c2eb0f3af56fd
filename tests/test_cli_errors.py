"""Mistakes a new user makes at the command line: each is one line on stderr and exit 2,
and a command that only reads never leaves a ledger behind."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl
import pytest
from typer.testing import CliRunner

from screening import __version__
from screening.cli import app

from .conftest import REPO, SAMPLE


def _fails(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: "), result.output
    return result.output


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"screening {__version__}\n"


def test_export_before_any_run_is_one_line_and_makes_no_ledger(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = _fails("export", "--run", "runs/none", "--out", "forms")
    assert "no lead list" in out and "screening run" in out
    assert not (tmp_path / "ledger").exists() and not (tmp_path / "forms").exists()


@pytest.mark.parametrize(
    "args",
    [("ledger", "status"), ("ledger", "history", "S1"), ("ledger", "report")],
)
def test_read_only_ledger_commands_never_create_a_ledger(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    out = _fails(*args)
    assert "no ledger at ledger/ledger.duckdb" in out
    assert list(tmp_path.iterdir()) == []


def test_ledger_set_and_import_need_an_existing_ledger(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _fails("ledger", "set", "S1", "assigned", "--actor", "x")
    (tmp_path / "sheet.xlsx").write_text("not a workbook", encoding="utf-8")
    _fails("ledger", "import", "sheet.xlsx", "--actor", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.xlsx"]


def test_evaluate_with_its_files_swapped(tmp_path):
    leads = tmp_path / "leads.csv"
    pl.DataFrame({"rank": [1], "site_id": ["S1"], "lon": [117.0], "lat": [33.6]}).write_csv(leads)
    truth = REPO / "data" / "sample_truth.csv"
    assert "swapped" in _fails("evaluate", "--truth", str(leads), "--leads", str(truth))
    assert "not a lead list" in _fails("evaluate", "--truth", str(truth), "--leads", str(truth))
    assert "cannot read" in _fails(
        "evaluate", "--truth", str(tmp_path / "no.csv"), "--leads", str(leads)
    )


@pytest.fixture(scope="module")
def small_ledger(tmp_path_factory):
    from .conftest import make_bundle

    tmp = tmp_path_factory.mktemp("cli")
    bundle = make_bundle(tmp / "b")
    ledger = tmp / "l.duckdb"
    result = CliRunner().invoke(
        app,
        ["run", "--input", str(bundle), "--out", str(tmp / "run"), "--ledger", str(ledger)],
    )
    assert result.exit_code == 0, result.output
    return tmp, ledger, result.output


def test_the_merge_is_worded_for_people(small_ledger):
    _, ledger, output = small_ledger
    assert "already_merged" not in output and "ledger: " in output
    from screening.ledger.ledger import Ledger

    with Ledger(ledger, read_only=True) as lg:
        ids = lg.status()["site_id"].to_list()
    if ids:
        bad_key = _fails("ledger", "set", ids[0], "assigned", "--actor", "x", "--field", "fine=10",
                         "--ledger", str(ledger))  # fmt: skip
        assert "unknown --field fine" in bad_key and "fine_wan" in bad_key
        bad_value = _fails("ledger", "set", ids[0], "assigned", "--actor", "x", "--field",
                           "fine_wan=五万", "--ledger", str(ledger))  # fmt: skip
        assert "五万" in bad_value
        _fails("ledger", "set", ids[0], "assigned", "--actor", "x", "--at", "yesterday",
               "--ledger", str(ledger))  # fmt: skip


def test_the_field_keys_annex3_counts_are_documented():
    result = CliRunner().invoke(app, ["ledger", "set", "--help"], terminal_width=200)
    for key in ("group", "staff", "category", "suspend", "dismantle", "confiscated_wan",
                "fine_wan", "judicial"):  # fmt: skip
        assert key in result.output


def test_an_unreachable_prefect_server_is_one_line(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PREFECT_API_URL": "http://127.0.0.1:9/api",  # nothing listens there
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "screening", "nightly", "--input", str(SAMPLE),
         "--runs", str(tmp_path / "runs"), "--work", str(tmp_path / "work"),
         "--ledger", str(tmp_path / "l.duckdb")],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "127.0.0.1:9" in errors[0]
    assert "Traceback" not in done.stderr
