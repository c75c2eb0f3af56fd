"""Everything a run's export writes, per oversight unit and for the county, from the run's
leads and the ledger's record.

Per unit: the work list of its leads (线索核查表_<unit>.xlsx, to fill and send back), annex 2
and annex 4 of its recorded findings, and its map (地图_<unit>.html / .geojson). For the
county: annex 3 (counts only). Outcomes count by their recorded date up to ``month_end``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from screening.export import forms
from screening.export.mapping import ACTIONS, write_maps
from screening.export.worklist import work_list
from screening.ledger.outcomes import recorded


@dataclass(frozen=True)
class LedgerView:
    """What the export reads from the ledger: every status change, the sites, and each
    site's latest lead (for the category of a finding the team gave no kind)."""

    history: pl.DataFrame
    sites: pl.DataFrame
    latest_leads: pl.DataFrame


def export_all(
    leads: pl.DataFrame,
    ledger: LedgerView,
    out_dir: Path,
    month_end: dt.date,
    filled: dt.date,
    townships: pl.DataFrame | None = None,
    names_zh: Mapping[str, str] | None = None,
    tiles: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write the forms and maps (see module doc); returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = dict(names_zh or {})
    facts = recorded(ledger.history, month_end)
    confirmed = forms.found(facts, ledger.sites)
    by_unit = leads.with_columns(pl.col("oversight_unit").fill_null(forms.UNASSIGNED))
    units = list(
        dict.fromkeys(
            [*by_unit.sort("rank")["oversight_unit"].to_list(), *confirmed["oversight_unit"]]
        )
    )
    written: list[Path] = []
    for unit in units:
        safe = forms.safe_name(str(unit))
        mine = by_unit.filter(pl.col("oversight_unit") == unit)
        found_here = confirmed.filter(pl.col("oversight_unit") == unit)
        written.append(
            work_list(out_dir / f"线索核查表_{safe}.xlsx", mine, str(unit), filled, names, ACTIONS)
        )
        written.append(
            forms.annex2(out_dir / f"附件2_清单台账_{safe}.xlsx", found_here, str(unit), filled)
        )
        written.append(
            forms.annex4(
                out_dir / f"附件4_自备撬装加油站_{safe}.xlsx", found_here, str(unit), filled
            )
        )
        if townships is not None and mine.height:
            own = townships.filter(pl.col("oversight_unit").fill_null(forms.UNASSIGNED) == unit)
            written += write_maps(
                mine,
                own if own.height else townships,
                out_dir,
                f"地图_{safe}",
                f"{unit} 非法违法“小化工”线索",
                names,
                tiles,
            )
    totals, notes = forms.annex3_totals(facts, ledger.latest_leads)
    written.append(
        forms.annex3(
            out_dir / f"附件3_排查整治情况汇总表_{month_end:%Y%m}.xlsx",
            totals,
            notes,
            "全县（区）",
            filled,
        )
    )
    return written
