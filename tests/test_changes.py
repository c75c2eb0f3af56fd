"""What rose and fell since the last run (ledger/changes.py) on small lead lists: entries,
exits, moves of at least ``changes_places`` within the top, the reasons that appeared and
disappeared, the hold, cleared sites; kept in the ledger and counted in the summary."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from screening.ledger.changes import CHANGES_SCHEMA, counted, lead_changes
from screening.ledger.ledger import Ledger
from screening.pipeline.report import change_lines

CFG = {"changes_top": 4, "changes_places": 2}


def _list(rows: list[tuple[str, float, str]]) -> pl.DataFrame:
    """A lead list, best first: (site, score, reasons)."""
    return pl.DataFrame(rows, schema=["site_id", "score", "reasons"], orient="row").with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("rank")
    )


BEFORE = _list(
    [
        ("A", 9.0, "POWER_JUMP;NIGHT_LOAD"),
        ("B", 8.0, "NIGHT_LOAD"),
        ("C", 7.0, "OUTSIDE_TRUCKS"),
        ("D", 6.0, "NO_REGISTRATION"),
        ("E", 5.0, "ANOMALY"),
        ("F", 4.0, "ANOMALY"),
    ]
)


def test_entered_left_rose_and_fell_with_their_reasons() -> None:
    now = _list(
        [
            ("D", 9.5, "NO_REGISTRATION;POWER_JUMP"),  # 4 -> 1: rose
            ("A", 8.5, "POWER_JUMP;NIGHT_LOAD"),  # 1 -> 2: one place, not reported
            ("N", 8.0, "FUEL_DELIVERIES"),  # new on the list
            ("B", 7.2, "NIGHT_LOAD;HELD"),  # 2 -> 4: fell, held up
            ("C", 3.0, ""),  # 3 -> 5: left the top
            ("E", 2.0, "ANOMALY"),
        ]
    )
    got = lead_changes(now, BEFORE, CFG, "R1", pl.Series(["F"]))
    assert got.schema == CHANGES_SCHEMA
    by = {r["site_id"]: r for r in got.iter_rows(named=True)}
    assert [(r["change"], r["site_id"]) for r in got.iter_rows(named=True)] == [
        ("entered", "N"),
        ("rose", "D"),
        ("fell", "B"),
        ("left", "C"),
    ]
    assert by["D"]["reasons_added"] == "POWER_JUMP" and by["D"]["reasons_dropped"] == ""
    assert "new reasons POWER_JUMP" in by["D"]["why"] and "score 6.0 → 9.5" in by["D"]["why"]
    assert by["N"]["rank_before"] is None
    assert by["N"]["why"] == "new on the list; reasons FUEL_DELIVERIES"
    # the hold is not a reason: it is said as the hold
    assert by["B"]["held"] and by["B"]["reasons_added"] == ""
    assert "held by hysteresis" in by["B"]["why"]
    assert by["C"]["reasons_dropped"] == "OUTSIDE_TRUCKS" and "rank 3 → 5" in by["C"]["why"]
    assert counted(got) == {"entered": 1, "rose": 1, "fell": 1, "left": 1}


def test_a_lead_no_longer_listed_says_whether_a_team_cleared_it() -> None:
    now = _list([("A", 9.0, "POWER_JUMP;NIGHT_LOAD"), ("C", 7.0, "OUTSIDE_TRUCKS")])
    got = lead_changes(now, BEFORE.head(4), CFG, "R1", pl.Series(["B"]))
    why = dict(zip(got["site_id"], got["why"], strict=True))
    assert set(got.filter(change="left")["site_id"]) == {"B", "D"}
    assert why["B"].startswith("cleared by a team")
    assert why["D"].startswith("no longer listed")
    assert got.filter(change="left")["rank_now"].is_null().all()


def test_the_first_run_and_an_unchanged_list_report_nothing() -> None:
    assert lead_changes(BEFORE, BEFORE.head(0), CFG, "R0").height == 0
    assert lead_changes(BEFORE, BEFORE, CFG, "R1").height == 0
    lines = change_lines(pl.DataFrame(schema=CHANGES_SCHEMA))
    assert "0 entered, 0 rose, 0 fell, 0 left" in "\n".join(lines)
    assert change_lines(None) == []


def test_the_ledger_keeps_each_runs_changes(tmp_path: Path) -> None:
    now = _list(
        [("N", 9.0, "FUEL_DELIVERIES"), *BEFORE.select("site_id", "score", "reasons").rows()]
    )
    got = lead_changes(now, BEFORE, CFG, "R1")
    with Ledger(tmp_path / "ledger.duckdb") as lg:
        lg.con.execute("INSERT INTO runs (run_id, seq) VALUES ('R1', 1)")
        lg.store_changes(got)
        lg.store_changes(got)  # the same run again changes nothing
        back = lg.changes("R1")
        assert lg.changes("R9").height == 0
    assert back.equals(got)
    text = "\n".join(change_lines(back))
    assert "## Changes since the last run" in text and "| entered | N | – → 1 |" in text
