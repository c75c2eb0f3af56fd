"""The ordinary explanations a site's own records offer, as figures the innocent rules read.

A jump in load, a meter waking at a listed idle property, a truck asleep by a house: each
is what a hidden workshop shows, and each is also what an honest newcomer shows. An
inspector who reads the registry would say "that is the furniture shop that opened in May"
before driving out. These columns say it first, from the records alone:

- ``ordinary_new``: a business registered within ``registry.new_registration_days`` at the
  site whose recorded trade is an ordinary one (an industry code is known, or the name names
  the trade when the code is blank: ``registry.named_trades``; it is no chemical
  division, its name and scope hide no chemistry, it is no gas station);
- ``meter_holder_new``: the same, for the registered business whose name the site's power
  account bears when the business is registered at another address (the town office that
  filed its papers, the owner's home) — the account says who uses the power;
- ``load_fits_trade``: the load is what that trade draws: a working day's (night share by
  energy at most ``day_trade_night_share_max``), or round the clock for a trade that runs so
  (``continuous_trades``: livestock, cold stores, food);
- ``relet``: a listed idle property with such a newcomer, registered after it was listed;
- ``reused``: the same at an earlier case's premises, the newcomer registered after the case
  was closed: a sanctioned site let lawfully to an ordinary business (the campaign's notices
  ask for closed sites to be watched, not for every later tenant to be raided);
- ``opening``: a level jump within ``opening_days`` after such a newcomer was registered
  (or up to ``opening_lead_days`` before: papers often follow the first month's work).

They are facts, not verdicts: the rules decide how much of the activity they explain, and a
workshop that shares a newcomer's papers keeps everything the explanation does not cover
(trucks, night load, a tip).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from screening.sites.addresses import name_key

COLUMNS = {
    "ordinary_new": pl.Boolean,
    "new_established": pl.Date,
    "continuous_trade": pl.Boolean,
    "meter_holder_new": pl.Boolean,
    "holder_established": pl.Date,
}


def _ordinary() -> pl.Expr:
    """An active registration with a known trade (its code, or the trade its name names:
    registry.named_trades) that is not chemistry in any guise."""
    code = pl.col("trade_code").cast(pl.String)
    # a status left blank is read as active here: a firm registered within the year is
    # almost never struck off yet, and ended or suspended ones are written so
    return (pl.col("status_class").is_null() | (pl.col("status_class") == "active")) & (
        code.is_not_null()
        & (code != "")
        & ~pl.col("is_chemical_industry").fill_null(False)
        & ~pl.col("hides_chemistry").fill_null(False)
        & ~pl.col("cover_name").fill_null(False)
        & ~pl.col("is_gas_station").fill_null(False)
    )


def _continuous(codes: list[str]) -> pl.Expr:
    code = pl.col("trade_code").cast(pl.String).fill_null("")
    return pl.any_horizontal([code.str.starts_with(c) for c in codes] or [pl.lit(False)])


def newcomers(regs: pl.DataFrame, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """Registrations with the two flags the explanations need. A register read without
    ``registry.registration_signals`` has no trade_code: its industry code is the trade."""
    if "trade_code" not in regs.columns:
        regs = regs.with_columns(pl.col("industry_code").alias("trade_code"))
    return regs.with_columns(
        (_ordinary() & pl.col("is_new").fill_null(False)).alias("_new_ordinary"),
        (_continuous(cfg["continuous_trades"]) & (pl.col("status_class") == "active")).alias(
            "_continuous"
        ),
    )


def trade_facts(
    links: pl.DataFrame, regs: pl.DataFrame, accounts: pl.DataFrame, cfg: Mapping[str, Any]
) -> pl.DataFrame:
    """Per site: the newcomers registered there, and those whose name its meters bear."""
    regs = newcomers(regs, cfg)
    ids = links.filter(pl.col("source") == "registrations").select("site_id", pl.col("record_id"))
    here = (
        ids.join(regs, on="record_id", how="inner")
        .group_by("site_id")
        .agg(
            pl.col("_new_ordinary").any().alias("ordinary_new"),
            pl.col("established").filter(pl.col("_new_ordinary")).max().alias("new_established"),
            pl.col("_continuous").any().alias("continuous_trade"),
        )
    )
    named = (
        regs.filter(pl.col("_new_ordinary"))
        .select(
            name_key(pl.col("name")).alias("_k"),
            pl.col("established"),
            pl.col("_continuous").alias("_holder_continuous"),
        )
        .filter(pl.col("_k").str.len_chars() >= 2)
        .group_by("_k")
        .agg(pl.col("established").max(), pl.col("_holder_continuous").any())
    )
    meters = (
        links.filter(pl.col("source") == "power_accounts")
        .select("site_id", pl.col("record_id").alias("account_id"))
        .join(accounts.select("account_id", "name"), on="account_id", how="inner")
        .with_columns(name_key(pl.col("name")).alias("_k"))
        .join(named, on="_k", how="inner")
        .group_by("site_id")
        .agg(
            pl.lit(True).alias("meter_holder_new"),
            pl.col("established").max().alias("holder_established"),
            pl.col("_holder_continuous").any().alias("_holder_continuous"),
        )
    )
    return (
        here.join(meters, on="site_id", how="full", coalesce=True)
        .with_columns(
            (
                pl.col("continuous_trade").fill_null(False)
                | pl.col("_holder_continuous").fill_null(False)
            ).alias("continuous_trade")
        )
        .drop("_holder_continuous")
        .select("site_id", *COLUMNS)
    )


def explanations(frame: pl.DataFrame, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """relet, reused, opening and load_fits_trade on the site feature table (which already holds
    the trade facts, the power figures and the premises list)."""
    newcomer = pl.col("ordinary_new").fill_null(False) | pl.col("meter_holder_new").fill_null(False)
    since = pl.max_horizontal("new_established", "holder_established")
    # judged where the energy goes (the site's night share by energy, when it has one)
    night = (
        pl.coalesce("night_share_energy", "night_share")
        if "night_share_energy" in frame.columns
        else pl.col("night_share")
    )
    fits = night.is_null() | (night <= cfg["day_trade_night_share_max"])
    fits = fits | pl.col("continuous_trade").fill_null(False)
    # the shift a newcomer's opening explains: the jump, or a rise still too young for the
    # jump search (signals/rising.py), whichever began in the opening's weeks
    jumps = [pl.col(c) for c in ("jump_date", "rise_date") if c in frame.columns]
    return frame.with_columns(
        pl.col(c).fill_null(False) for c in ("ordinary_new", "meter_holder_new", "continuous_trade")
    ).with_columns(
        (newcomer & fits).alias("load_fits_trade"),
        (
            pl.col("idle_kinds").is_not_null()
            & pl.col("ordinary_new")
            & (pl.col("new_established") >= pl.col("idle_since"))
            & fits
        )
        .fill_null(False)
        .alias("relet"),
        (
            pl.col("case_closed_on").is_not_null()
            & pl.col("ordinary_new")
            & (pl.col("new_established") > pl.col("case_closed_on"))
            & fits
        )
        .fill_null(False)
        .alias("reused"),
        (
            newcomer
            & fits
            & pl.any_horizontal(
                (
                    (jump >= since - pl.duration(days=cfg["opening_lead_days"]))
                    & (jump <= since + pl.duration(days=cfg["opening_days"]))
                ).fill_null(False)
                for jump in jumps
            )
        )
        .fill_null(False)
        .alias("opening"),
    )
