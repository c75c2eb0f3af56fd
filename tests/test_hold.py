"""Hysteresis (scoring/hold.py) on small frames: last night's lead keeps a bounded share of
its score over a quiet night, under its old id or a new one at the same place, for
``ledger.hold_nights`` nights at most, and never when the team has cleared it."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from screening.scoring import hold
from screening.scoring.rules import REASONS_SCHEMA
from screening.settings import load_config

CFG = {**load_config()["ledger"], "hold_nights": 2, "hold_factor": 0.9, "hold_max_bonus": 1.5}


def _ledger(nights: list[list[tuple[str, float, str]]]) -> dict[str, pl.DataFrame]:
    """A ledger's tables after ``nights`` runs, each a list of (site, score, reasons)."""
    runs = pl.DataFrame(
        {
            "run_id": [f"r{i}" for i in range(len(nights))],
            "seq": list(range(1, len(nights) + 1)),
            "as_of": [dt.date(2021, 8, 1) + dt.timedelta(days=i) for i in range(len(nights))],
        }
    )
    leads = pl.DataFrame(
        [
            {
                "run_id": f"r{i}",
                "site_id": site,
                "run_site_id": f"run-{site}",
                "rank": k + 1,
                "score": score,
                "reasons": reasons,
                "merge": "repeated",
            }
            for i, night in enumerate(nights)
            for k, (site, score, reasons) in enumerate(night)
        ]
    )
    names = sorted({s for night in nights for s, _, _ in night})
    sites = pl.DataFrame(
        {
            "site_id": names,
            "lon": [117.0 + 0.01 * i for i in range(len(names))],
            "lat": [33.6] * len(names),
        }
    )
    status = sites.select("site_id", pl.lit("lead").alias("status"))
    return {"run_leads": leads, "runs": runs, "sites": sites, "status": status}


def _tonight(rows: list[tuple[str, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["site_id", "score", "lon"], orient="row").with_columns(
        lat=pl.lit(33.6)
    )


NO_REASONS = pl.DataFrame(schema=REASONS_SCHEMA)


def test_previous_counts_the_nights_held() -> None:
    t = _ledger(
        [
            [("A", 4.0, "POWER_JUMP"), ("B", 3.0, "NIGHT_LOAD")],
            [("A", 3.6, "POWER_JUMP;HELD"), ("B", 3.0, "NIGHT_LOAD")],
        ]
    )
    got = hold.previous(t["run_leads"], t["runs"], t["sites"], t["status"])
    assert dict(zip(got["site_id"], got["held_nights"], strict=True)) == {"A": 1, "B": 0}
    assert got.filter(site_id="A")["last_score"].item() == 3.6
    assert got["last_as_of"].to_list() == [dt.date(2021, 8, 2)] * 2


def test_a_cleared_or_suppressed_lead_is_not_held() -> None:
    t = _ledger([[("A", 4.0, "POWER_JUMP"), ("B", 3.0, "NIGHT_LOAD")]])
    status = t["status"].with_columns(
        pl.when(pl.col("site_id") == "A")
        .then(pl.lit("cleared"))
        .otherwise("status")
        .alias("status")
    )
    leads = t["run_leads"].with_columns(
        pl.when(pl.col("site_id") == "B")
        .then(pl.lit("suppressed"))
        .otherwise("merge")
        .alias("merge")
    )
    assert hold.previous(leads, t["runs"], t["sites"], status).height == 0


def test_a_quiet_night_keeps_a_bounded_share_of_the_score() -> None:
    t = _ledger([[("A", 4.0, "POWER_JUMP"), ("B", 2.0, "NIGHT_LOAD"), ("C", 6.0, "TIP")]])
    held = hold.previous(t["run_leads"], t["runs"], t["sites"], t["status"])
    # A quiet under its old id, B under a new id 30 m away, C strong on its own
    tonight = _tonight(
        [("run-A", 0.5, 117.0), ("new-B", 1.0, 117.01 + 0.0003), ("run-C", 6.5, 117.02)]
    )
    scored, reasons = hold.apply(tonight, NO_REASONS, held, CFG)
    score = dict(zip(scored["site_id"], scored["score"], strict=True))
    assert score["run-A"] == pytest.approx(2.0)  # 0.5 + hold_max_bonus, below 0.9 x 4.0
    assert score["new-B"] == pytest.approx(1.8)  # 0.9 x 2.0
    assert score["run-C"] == 6.5  # its own score is higher: untouched
    assert sorted(reasons["site_id"]) == ["new-B", "run-A"]
    assert set(reasons["code"]) == {hold.HOLD_CODE}
    said = reasons.filter(site_id="run-A")["evidence"].item()
    assert said.startswith("8月1日列入线索清单（第1名，评分4.0），今晚评分0.5")
    assert "已保留1晚，最多2晚" in said


def test_a_hold_runs_out_after_hold_nights() -> None:
    t = _ledger(
        [
            [("A", 4.0, "POWER_JUMP")],
            [("A", 3.6, "HELD")],
            [("A", 3.24, "HELD")],
        ]
    )
    held = hold.previous(t["run_leads"], t["runs"], t["sites"], t["status"])
    assert held["held_nights"].to_list() == [2]
    scored, reasons = hold.apply(_tonight([("run-A", 0.5, 117.0)]), NO_REASONS, held, CFG)
    assert scored["score"].to_list() == [0.5] and reasons.height == 0


def test_far_away_or_without_a_ledger_nothing_is_held() -> None:
    t = _ledger([[("A", 4.0, "POWER_JUMP")]])
    held = hold.previous(t["run_leads"], t["runs"], t["sites"], t["status"])
    far = _tonight([("other", 0.5, 117.0 + 0.001)])  # about 90 m: another place
    assert hold.apply(far, NO_REASONS, held, CFG)[0]["score"].to_list() == [0.5]
    assert hold.apply(far, NO_REASONS, None, CFG)[0]["score"].to_list() == [0.5]
    off = {**CFG, "hold_nights": 0}
    assert hold.apply(_tonight([("run-A", 0.5, 117.0)]), NO_REASONS, held, off)[0][
        "score"
    ].to_list() == [0.5]


def test_the_hold_follows_the_records_not_a_neighbour() -> None:
    """A lead re-anchored 300 m off keeps its hold by the meter it still holds; a
    neighbour 20 m away with a meter of its own does not take it."""
    t = _ledger([[("A", 4.0, "POWER_JUMP")], [("A", 4.0, "POWER_JUMP")]])
    records = pl.DataFrame({"site_id": ["A"], "record": ["account_ids:m1"]})
    held = hold.previous(t["run_leads"], t["runs"], t["sites"], t["status"], records)
    assert held["records"].to_list() == [["account_ids:m1"]]
    tonight = _tonight([("moved", 0.5, 117.0 + 0.0033), ("nextdoor", 0.5, 117.0002)])
    tonight = tonight.with_columns(
        pl.Series("account_ids", ["m1;m3", "m5"]),
    )
    scored, reasons = hold.apply(tonight, NO_REASONS, held, CFG)
    assert dict(zip(scored["site_id"], scored["score"], strict=True)) == {
        "moved": pytest.approx(2.0),
        "nextdoor": 0.5,
    }
    assert reasons["site_id"].to_list() == ["moved"]
