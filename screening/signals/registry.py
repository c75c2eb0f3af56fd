"""Registry and permit signals: what the paperwork says a place is allowed to do.

The campaign's cues: a "科技/生物/新材料" name with a chemistry scope outside the chemical
industry codes; a chemical firm without a valid permit, or whose permit has expired or covers
another kind of activity; a registration that is no longer active while its meter runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import polars as pl

ACTIVE = ("存续", "在业")
ENDED = ("注销", "吊销", "迁出")


def _any_word(col: str, words: list[str]) -> pl.Expr:
    return pl.col(col).fill_null("").str.contains("|".join(words))


# the date that brings each register's record into existence: before it, the record was not
# there to be seen (a registration established, an account opened, a tip received, a case
# closed, a permit issued, premises listed as idle)
DATED = {
    "registrations": "established",
    "power_accounts": "opened",
    "tips": "received",
    "sanctioned_sites": "closed_on",
    "permits": "valid_from",
    "idle_properties": "since",
}


def visible_at(
    tables: Mapping[str, pl.DataFrame], as_of: dt.date
) -> tuple[dict[str, pl.DataFrame], dict[str, int]]:
    """The registers as they stood on ``as_of``: records dated after it are left out (they
    stay in the warehouse for a later screening). Screened on 2021-07-06, a registration
    established on 2021-08-02 is not "new", it does not exist yet; nor does a tip received
    later. Undated records are kept. Returns (tables, records left out per register)."""
    out, hidden = {}, {}
    for name, frame in tables.items():
        col = DATED.get(name)
        if col is None or col not in frame.columns:
            out[name] = frame
            continue
        later = pl.col(col).is_not_null() & (pl.col(col) > as_of)
        out[name] = frame.filter(~later)
        if n := frame.height - out[name].height:
            hidden[name] = n
    return out, hidden


def registration_signals(
    regs: pl.DataFrame, as_of: dt.date, cfg: Mapping[str, Any]
) -> pl.DataFrame:
    """Per registration: chemical industry, chemistry words, cover names, status, age."""
    chem_scope = pl.col("scope").fill_null("").str.extract_all("|".join(cfg["chemistry_words"]))
    return regs.with_columns(
        pl.col("industry_code")
        .fill_null("")
        .str.slice(0, 3)
        .is_in(cfg["chemical_divisions"])
        .alias("is_chemical_industry"),
        (
            pl.col("industry_code").is_in(cfg["fuel_retail_codes"])
            | pl.col("name").fill_null("").str.contains("加油站|加油")
        ).alias("is_gas_station"),
        _any_word("name", cfg["cover_words"]).alias("has_cover_name"),
        chem_scope.list.unique().list.sort().list.join("、").alias("chemistry_terms"),
        (chem_scope.list.len() > 0).alias("has_chemistry_scope"),
        pl.when(pl.col("status").is_in(ACTIVE))
        .then(pl.lit("active"))
        .when(pl.col("status").is_in(ENDED))
        .then(pl.lit("ended"))
        .when(pl.col("status") == "停业")
        .then(pl.lit("suspended"))
        .otherwise(pl.lit("unknown"))
        .alias("status_class"),
        ((pl.lit(as_of) - pl.col("established")).dt.total_days() <= cfg["new_registration_days"])
        .fill_null(False)
        .alias("is_new"),
    ).with_columns(
        # chemistry under a cover name, outside the chemical industry codes
        (
            pl.col("has_cover_name")
            & pl.col("has_chemistry_scope")
            & ~pl.col("is_chemical_industry")
        ).alias("hides_chemistry"),
        # the cover name alone: weaker, it needs behaviour (a process load, chemical trucks)
        # before it means anything
        pl.col("has_cover_name").alias("cover_name"),
    )


def permit_state(permits: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Per permit: valid, expired (and since when) or not yet valid at ``as_of``."""
    return permits.with_columns(
        pl.when(pl.col("valid_from").is_not_null() & (pl.col("valid_from") > as_of))
        .then(pl.lit("not_yet"))
        .when(pl.col("valid_to").is_not_null() & (pl.col("valid_to") < as_of))
        .then(pl.lit("expired"))
        .otherwise(pl.lit("valid"))
        .alias("state"),
    ).with_columns(
        pl.when(pl.col("state") == "expired").then(pl.col("valid_to")).alias("expired_on"),
    )


def permit_figures() -> dict[str, pl.Expr]:
    """The figures of a group of permits in their state at as_of (one holder's, one site's):
    the same definition wherever permits are summed up."""
    valid = pl.col("state") == "valid"
    return {
        "valid_kinds": pl.col("kind").filter(valid).drop_nulls().unique().sort().str.join(","),
        "has_valid": valid.any(),
        "expired_on": pl.col("expired_on").max(),
        "has_fuel": ((pl.col("kind") == "fuel") & valid).any(),
        "has_production": ((pl.col("kind") == "production") & valid).any(),
    }


def permits_by_holder(permits: pl.DataFrame) -> pl.DataFrame:
    """Per credit code: valid kinds, latest expiry of expired ones, fuel permit."""
    f = permit_figures()
    return (
        permits.filter(pl.col("uscc").is_not_null())
        .group_by("uscc")
        .agg(
            f["valid_kinds"].alias("valid_kinds"),
            f["has_valid"].alias("has_valid_permit"),
            f["expired_on"].alias("permit_expired_on"),
            f["has_fuel"].alias("has_fuel_permit"),
            f["has_production"].alias("has_production_permit"),
        )
    )
