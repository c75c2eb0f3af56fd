"""Two nights on the sample county with a ledger between them: a cleared site stays silent
unless something new appears, a closed site with renewed activity comes back as a recurrence,
and no site is listed twice."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest
from typer.testing import CliRunner

from screening.cli import app
from screening.ledger.ledger import Ledger

from .conftest import SAMPLE


def _night(tmp_path, as_of: str, name: str):
    bundle = tmp_path / f"bundle-{name}"
    if not bundle.exists():
        shutil.copytree(SAMPLE, bundle)
        manifest = (bundle / "manifest.toml").read_text(encoding="utf-8")
        lines = [ln for ln in manifest.splitlines() if not ln.startswith("as_of")]
        (bundle / "manifest.toml").write_text(
            "\n".join([f'as_of = "{as_of}"', *lines]) + "\n", encoding="utf-8"
        )
    out = tmp_path / f"run-{name}"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--input",
            str(bundle),
            "--out",
            str(out),
            "--ledger",
            str(tmp_path / "ledger.duckdb"),
        ],
    )
    assert result.exit_code == 0, result.output
    return pl.read_parquet(out / "leads.parquet"), result.output


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nights")
    first, _ = _night(tmp, "2021-08-30", "mon")
    cleared, closed = first["site_id"][2], first["site_id"][0]
    monday = dt.datetime(2021, 8, 30, 15, 0)  # the teams act on Monday's list that afternoon
    with Ledger(tmp / "ledger.duckdb") as lg:
        lg.transition(
            cleared, "cleared", "桃园镇排查组", note="现场核查：食品加工，属正常", at=monday
        )
        for status in ("assigned", "inspected", "confirmed", "measures_taken", "closed"):
            lg.transition(closed, status, "区应急管理局", note=status, at=monday)
    second, output = _night(tmp, "2021-08-31", "tue")
    again, again_output = _night(tmp, "2021-08-31", "tue")
    return tmp, first, second, again, cleared, closed, output, again_output


def test_no_site_is_listed_twice(nights):
    _, first, second, *_ = nights
    assert first["site_id"].is_unique().all() and second["site_id"].is_unique().all()
    assert second["rank"].to_list() == list(range(1, second.height + 1))


def test_cleared_site_is_silent_unless_something_new(nights):
    _, _, second, _, cleared, *_ = nights
    row = second.filter(pl.col("site_id") == cleared)
    if row.height:  # it may come back, but only escalated with the new reasons named
        assert row["merge"].item() == "escalated" and "新理由" in row["ledger_note"].item()


def test_closed_site_with_renewed_activity_is_a_recurrence(nights):
    tmp, _, second, _, _, closed, *_ = nights
    row = second.filter(pl.col("site_id") == closed).row(0, named=True)
    assert row["merge"] == "recurrence" and "CASE_REVIVED" in row["reasons"]
    assert row["category"] == "recurrence"
    with Ledger(tmp / "ledger.duckdb") as lg:
        assert lg.status().filter(pl.col("site_id") == closed)["status"].item() == "lead"


def test_the_same_night_twice_changes_nothing(nights):
    tmp, _, second, again, *_, again_output = nights
    assert "this run was merged before" in again_output
    assert second.drop("run_id").equals(again.drop("run_id"))
    with Ledger(tmp / "ledger.duckdb") as lg:
        assert lg.runs().height == 2
