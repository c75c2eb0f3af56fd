"""The ledger: merges, lifecycle, feedback — on small lead frames whose story is known."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from screening.ledger.ledger import Ledger, LedgerError
from screening.settings import load_config

CFG = load_config()["ledger"]
T0 = dt.datetime(2021, 9, 1, 2, 0)


def _leads(*rows: tuple[str, float, str], moved: dict[str, str] | None = None) -> pl.DataFrame:
    """(site_id, score, reasons) rows; positions 1 km apart so that nothing matches by
    distance unless ``moved`` maps a new id onto an old site's position."""
    out = []
    for i, (sid, score, reasons) in enumerate(rows):
        anchor = (moved or {}).get(sid, sid)
        k = int(anchor.strip("S")) if anchor.strip("S").isdigit() else i
        out.append(
            {
                "site_id": sid,
                "rank": i + 1,
                "score": score,
                "reasons": reasons,
                "evidence": "证据",
                "category": "no_licence",
                "lon": 117.0 + k * 0.01,
                "lat": 33.6,
                "township": "桃园镇",
                "oversight_unit": "区应急管理局",
                "address": f"桃园镇某路{k}号",
                "names": None,
                "legal_reps": None,
            }
        )
    return pl.DataFrame(out)


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.duckdb") as lg:
        yield lg


def _merge(lg: Ledger, run: str, leads: pl.DataFrame, day: int = 0):
    return lg.merge_run(
        run, leads, {"as_of": dt.date(2021, 8, 31)}, CFG, at=T0 + dt.timedelta(days=day)
    )


def test_new_repeated_escalated(ledger):
    r1 = _merge(ledger, "R1", _leads(("S1", 5.0, "NIGHT_LOAD"), ("S2", 3.0, "PUBLIC_TIP")))
    assert r1.counts["new"] == 2
    r2 = _merge(
        ledger,
        "R2",
        _leads(
            ("S1", 5.2, "NIGHT_LOAD"),
            ("S2", 3.0, "PUBLIC_TIP;POWER_JUMP"),
            ("S3", 2.0, "HAZMAT_VISITS"),
        ),
        day=1,
    )
    kinds = dict(r2.leads.select("site_id", "merge").iter_rows())
    assert kinds == {"S1": "repeated", "S2": "escalated", "S3": "new"}
    assert "新理由POWER_JUMP" in r2.leads.filter(pl.col("site_id") == "S2")["note"].item()
    assert ledger.status().height == 3


def test_merging_the_same_run_twice_changes_nothing(ledger):
    leads = _leads(("S1", 5.0, "NIGHT_LOAD"))
    _merge(ledger, "R1", leads)
    before = (ledger.status(), ledger.history(), ledger.runs())
    again = _merge(ledger, "R1", leads, day=3)
    assert again.already_merged
    after = (ledger.status(), ledger.history(), ledger.runs())
    assert all(a.equals(b) for a, b in zip(before, after, strict=True))


def test_lifecycle_is_enforced_and_every_step_kept(ledger):
    _merge(ledger, "R1", _leads(("S1", 5.0, "NIGHT_LOAD")))
    with pytest.raises(LedgerError, match="cannot go from lead to closed"):
        ledger.transition("S1", "closed", "张三")
    with pytest.raises(LedgerError, match="unknown site"):
        ledger.transition("S9", "assigned", "张三")
    for status in ("assigned", "inspected", "confirmed", "measures_taken", "closed"):
        ledger.transition("S1", status, "张三", note=status, at=T0)
    h = ledger.history("S1")
    assert h["to_status"].to_list() == [
        "lead",
        "assigned",
        "inspected",
        "confirmed",
        "measures_taken",
        "closed",
        "watched",
    ]
    assert h["seq"].to_list() == list(range(1, 8))
    assert ledger.status()["status"].item() == "watched"


def test_cleared_site_stays_silent_until_something_new(ledger):
    _merge(ledger, "R1", _leads(("S1", 4.0, "NIGHT_LOAD;PUBLIC_TIP")))
    ledger.transition("S1", "cleared", "李四", note="面包房夜间生产")
    r2 = _merge(ledger, "R2", _leads(("S1", 4.5, "NIGHT_LOAD")), day=1)
    assert r2.leads["merge"].item() == "suppressed"
    assert ledger.status()["status"].item() == "cleared"
    r3 = _merge(ledger, "R3", _leads(("S1", 4.5, "NIGHT_LOAD;HAZMAT_NIGHT_STOPS")), day=2)
    assert r3.leads["merge"].item() == "escalated"
    assert "新理由HAZMAT_NIGHT_STOPS" in r3.leads["note"].item()
    assert ledger.status()["status"].item() == "lead"


def test_closed_site_with_renewed_activity_is_a_recurrence(ledger):
    _merge(ledger, "R1", _leads(("S1", 8.0, "POWER_JUMP")))
    for status in ("assigned", "inspected", "confirmed", "closed"):
        ledger.transition("S1", status, "王五", at=T0)
    assert ledger.watched()["site_id"].to_list() == ["S1"]
    r2 = _merge(ledger, "R2", _leads(("S1", 3.0, "NIGHT_LOAD")), day=30)
    assert r2.leads["merge"].item() == "recurrence"
    assert ledger.status()["status"].item() == "lead"
    assert "死灰复燃" in ledger.history("S1")["note"].to_list()[-1]


def test_a_site_whose_anchor_changed_keeps_its_ledger_id(ledger):
    _merge(ledger, "R1", _leads(("S5", 5.0, "NIGHT_LOAD")))
    r2 = _merge(ledger, "R2", _leads(("SNEW", 5.0, "NIGHT_LOAD"), moved={"SNEW": "S5"}), day=1)
    row = r2.leads.row(0, named=True)
    assert (row["site_id"], row["run_site_id"], row["merge"]) == ("S5", "SNEW", "repeated")


def test_two_new_sites_near_one_ledger_site_merge_as_two(ledger):
    """Tonight two sites, neither known by id, lie within match_m of one ledger site (two
    plots side by side): the nearer takes its id, the other stays a site of its own. Before,
    both took it and the merge failed on the duplicate key."""
    _merge(ledger, "R1", _leads(("S5", 5.0, "NIGHT_LOAD")))
    pair = _leads(
        ("SA", 5.0, "NIGHT_LOAD"), ("SB", 4.0, "NIGHT_LOAD"), moved={"SA": "S5", "SB": "S5"}
    )
    pair = pair.with_columns(pl.Series("lon", [117.05 + 30 / 93_000, 117.05 + 10 / 93_000]))
    r2 = _merge(ledger, "R2", pair, day=1)
    got = dict(r2.leads.select("run_site_id", "site_id").iter_rows())
    assert got == {"SA": "SA", "SB": "S5"}
