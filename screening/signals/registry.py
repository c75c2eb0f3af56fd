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

from screening.signals.scopes import read_scopes

# registration states as written (存续（在营、开业、在册）, 吊销，未注销): read by word
ACTIVE = ("存续", "在业", "在营", "开业", "在册")
ENDED = ("注销", "吊销", "迁出", "撤销")
SUSPENDED = ("停业", "歇业")

# registration fields and the rules that cannot fire without them (through the site
# features they feed): named in the run summary when a register leaves a field wholly empty
FIELD_RULES = {
    "industry_code": [
        "COVER_NAME_CHEMISTRY",
        "UNPERMITTED_CHEMICAL",
        "PERMIT_KIND",
        "FOOD_NIGHT_HOURS",
        "COLD_STORAGE",
        "IRRIGATION",
    ],
    "status": ["COVER_NAME", "UNPERMITTED_CHEMICAL", "SHARED_ADDRESS"],
    "scope": ["COVER_NAME_CHEMISTRY"],
}


def _any_word(col: str, words: list[str]) -> pl.Expr:
    return pl.col(col).fill_null("").str.contains("|".join(words))


def _named_trade(col: str, trades: Mapping[str, list[str]]) -> pl.Expr:
    """The first ordinary trade (code) whose words the column holds; null for none."""
    text = pl.col(col).fill_null("")
    out = pl.lit(None, dtype=pl.String)
    for trade, words in reversed(list(trades.items())):
        out = pl.when(text.str.contains("|".join(words))).then(pl.lit(trade)).otherwise(out)
    return out


def _given(col: str) -> pl.Expr:
    """The field as written, blank as null: a register that leaves it out says nothing."""
    text = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(text != "").then(text)


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
    """Per registration: chemical industry, chemistry in the scope, cover names, status, age.

    What a register does not say stays unknown (null) rather than becoming "no": without an
    industry code a firm is not "outside the chemical industry", without a status it is not
    "active"; the rules read null as not firing. ``hides_chemistry`` is a cover name whose
    scope makes or keeps chemistry (trade alone is not hiding production) outside the
    chemical industry codes; ``chemistry_clause`` quotes the clauses that say so."""
    code = _given("industry_code")
    status = _given("status")
    # an export without the column at all says as little as one with it empty
    optional: dict[str, pl.DataType] = {
        "industry_code": pl.String(),
        "status": pl.String(),
        "scope": pl.String(),
        "established": pl.Date(),
    }
    regs = regs.with_columns(
        pl.lit(None, dtype=t).alias(c) for c, t in optional.items() if c not in regs.columns
    ).with_columns(pl.col("scope", "name").cast(pl.String), pl.col("established").cast(pl.Date))
    out = regs.with_columns(
        code.str.slice(0, 3).is_in(cfg["chemical_divisions"]).alias("is_chemical_industry"),
        (
            code.is_in(cfg["fuel_retail_codes"])
            | pl.col("name").fill_null("").str.contains("加油站|加油")
        ).alias("is_gas_station"),
        _any_word("name", cfg["cover_words"]).alias("has_cover_name"),
        pl.when(status.str.contains("|".join(ENDED)))
        .then(pl.lit("ended"))
        .when(status.str.contains("|".join(SUSPENDED)))
        .then(pl.lit("suspended"))
        .when(status.str.contains("|".join(ACTIVE)))
        .then(pl.lit("active"))
        .when(status.is_not_null())
        .then(pl.lit("unknown"))
        .alias("status_class"),
        ((pl.lit(as_of) - pl.col("established")).dt.total_days() <= cfg["new_registration_days"])
        .fill_null(False)
        .alias("is_new"),
    )
    out = out.join(read_scopes(regs["scope"], cfg), on="scope", how="left", maintain_order="left")
    return out.with_columns(
        # the name only: a scope lists what a shop sells as well (预包装食品销售 is no bakery)
        pl.coalesce(code, _named_trade("name", cfg.get("named_trades", {}))).alias("trade_code"),
        # chemistry made or kept under a cover name, outside the chemical industry codes
        (
            pl.col("has_cover_name")
            & pl.col("has_chemistry_scope")
            & ~pl.col("is_chemical_industry")
        ).alias("hides_chemistry"),
        # the cover name alone: weaker, it needs behaviour (a process load, chemical trucks)
        # before it means anything
        pl.col("has_cover_name").alias("cover_name"),
    )


def silent_for_empty_fields(regs: pl.DataFrame) -> dict[str, list[str]]:
    """{"registrations.<field>": rule codes} for each field in FIELD_RULES that no row of
    the register fills (blank counts as empty; a column the export lacks, too). Real exports
    often carry no industry code and no status at all: the rules that need them are silent,
    and the run summary says so rather than letting silence pass for a clean county."""
    present = [f for f in FIELD_RULES if f in regs.columns]
    filled = regs.select(_given(f).is_not_null().any().alias(f) for f in present)
    given = {f for f in present if filled.height and filled[f][0]}
    return {f"registrations.{f}": rules for f, rules in FIELD_RULES.items() if f not in given}


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
