"""Outcomes as labels: hit rates by rank band and rule, and bounded weight multipliers."""

from __future__ import annotations

import datetime as dt

import polars as pl

from screening.ledger.ledger import Ledger
from screening.scoring.learning import hit_rates, labels, multipliers
from screening.settings import load_config

CFG = load_config()
T0 = dt.datetime(2021, 9, 1)


def _lead(i: int, reasons: str) -> dict:
    return {
        "site_id": f"S{i}",
        "rank": i,
        "score": 10.0 - i / 10,
        "reasons": reasons,
        "evidence": "x",
        "category": "no_licence",
        "lon": 117 + i * 0.01,
        "lat": 33.6,
        "township": "t",
        "oversight_unit": "u",
        "address": f"a{i}",
        "names": None,
        "legal_reps": None,
    }


def test_labels_hit_rates_and_multipliers(tmp_path):
    leads = pl.DataFrame(
        [_lead(i, "NIGHT_LOAD;PUBLIC_TIP" if i % 2 else "PUBLIC_TIP") for i in range(1, 21)]
    )
    with Ledger(tmp_path / "l.duckdb") as lg:
        lg.merge_run("R1", leads, {}, CFG["ledger"], at=T0)
        for i in range(1, 21):
            lg.transition(f"S{i}", "assigned", "t", at=T0 + dt.timedelta(days=1))
            lg.transition(f"S{i}", "inspected", "t", at=T0 + dt.timedelta(days=2))
            # night-load sites are confirmed, tip-only sites cleared
            lg.transition(
                f"S{i}", "confirmed" if i % 2 else "cleared", "t", at=T0 + dt.timedelta(days=2)
            )
        lab = labels(lg.history(), lg.run_leads(), lg.runs())
    assert lab.height == 20 and lab["label"].sum() == 10
    by_band, by_rule = hit_rates(lab)
    assert by_band["rank_band"].to_list() == ["1-10", "11-50"]
    rates = dict(by_rule.select("rule", "hit_rate").iter_rows())
    assert rates == {"NIGHT_LOAD": 1.0, "PUBLIC_TIP": 0.5}
    m = multipliers(lab, CFG["learning"])
    assert 1.5 < m["NIGHT_LOAD"] <= CFG["learning"]["max_multiplier"]
    assert m["PUBLIC_TIP"] == 1.0


def test_too_few_labels_change_nothing():
    lab = pl.DataFrame(
        {
            "site_id": ["a", "b"],
            "label": [1, 0],
            "rank": [1, 2],
            "reasons": ["NIGHT_LOAD", "NIGHT_LOAD"],
        }
    )
    assert multipliers(lab, CFG["learning"]) == {}
