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
from screening.ledger.changes import CHANGES_SCHEMA, counted
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


def test_the_second_night_says_what_rose_and_fell(nights):
    """changes.csv, the ledger's lead_changes and the summary agree; a lead the team cleared
    and that was left out says so; the same night again gives the same changes."""
    tmp, first, second, *_ = nights
    changes = pl.read_csv(tmp / "run-tue" / "changes.csv", infer_schema_length=0)
    assert list(changes.columns) == list(CHANGES_SCHEMA)
    with Ledger(tmp / "ledger.duckdb") as lg:
        kept = lg.changes(second["run_id"][0])
        assert lg.changes(first["run_id"][0]).height == 0  # the first night explains nothing
    assert (
        kept.height == changes.height and kept["site_id"].to_list() == changes["site_id"].to_list()
    )
    assert set(kept["change"]) <= {"entered", "rose", "fell", "left"}
    ranked = pl.concat([first.select("site_id"), second.select("site_id")]).unique()
    assert kept["site_id"].is_in(ranked["site_id"].implode()).all()
    summary = (tmp / "run-tue" / "run_summary.md").read_text(encoding="utf-8")
    n = counted(kept)
    assert "## Changes since the last run" in summary
    assert (
        f"{n['entered']} entered, {n['rose']} rose, {n['fell']} fell, {n['left']} left" in summary
    )
    # every change is explained by its ranks
    for r in kept.iter_rows(named=True):
        assert r["why"]
        if r["change"] == "entered":
            assert r["rank_now"] is not None
        if r["change"] == "left":
            assert r["rank_before"] is not None
    cleared = nights[4]
    if cleared not in second["site_id"].to_list():  # left out: cleared with nothing new
        row = kept.filter(site_id=cleared).row(0, named=True)
        assert row["change"] == "left" and row["why"].startswith("cleared by a team")
