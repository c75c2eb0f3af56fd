"""The site feature table: every signal of every record, gathered onto its site.

One row per site with the linked ids (what an inspector will find there), the paperwork
(registrations, permits), the meters, the trucks, the premises list, earlier cases, tips and
remoteness. Pure function of frames; rules and the anomaly model read only this table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

from screening.coords import project_m
from screening.schema import LINKED_IDS
from screening.signals.registry import permit_figures
from screening.sites import innocence
from screening.sites.addresses import name_key

ID_COLUMNS = LINKED_IDS


def _joined(col: str) -> pl.Expr:
    return pl.col(col).drop_nulls().unique().sort().str.join(";")


def _blank_null(e: pl.Expr) -> pl.Expr:
    return pl.when(e == "").then(None).otherwise(e)


def linked_ids(links: pl.DataFrame) -> pl.DataFrame:
    wide = links.group_by("site_id").agg(
        pl.col("record_id")
        .filter(pl.col("source") == src)
        .unique()
        .sort()
        .str.join(";")
        .alias(name)
        for src, name in ID_COLUMNS.items()
    )
    return wide.with_columns(_blank_null(pl.col(c)).alias(c) for c in ID_COLUMNS.values())


def _members(links: pl.DataFrame, source: str, frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """The rows of ``frame`` linked to each site, in (site, record) order: a join returns its
    rows in whatever order its threads finish, and a site's sums and first-of-ties must not
    depend on that (the same inputs give the same bytes)."""
    ids = links.filter(pl.col("source") == source).select("site_id", pl.col("record_id").alias(key))
    return ids.join(frame, on=key, how="inner").sort("site_id", key, maintain_order=True)


def entity_features(
    links: pl.DataFrame, regs: pl.DataFrame, permits: pl.DataFrame, holders: pl.DataFrame
) -> pl.DataFrame:
    """Registrations and permits per site, including the 厂中厂 pattern: an entity without a
    valid permit at a place where another entity holds one."""
    r = _members(links, "registrations", regs, "record_id").join(holders, on="uscc", how="left")
    r = r.with_columns(
        pl.col("has_valid_permit").fill_null(False), pl.col("has_fuel_permit").fill_null(False)
    ).with_columns(
        # the permit holder's own arm: an unpermitted firm run by the same legal representative
        # as a permitted one at the site, whose scope neither makes nor keeps chemistry (the
        # plant's sales company in its office block) -- not a tenant working inside the plant
        (
            (pl.col("status_class") == "active")
            & ~pl.col("has_valid_permit")
            & ~pl.col("has_chemistry_scope").fill_null(False)
            & pl.col("legal_rep").is_not_null()
            & pl.col("has_valid_permit").any().over("site_id", "legal_rep")
        ).alias("_affiliate")
    )
    ent = r.group_by("site_id").agg(
        pl.len().alias("entities"),
        (pl.col("status_class") == "active").sum().alias("active_entities"),
        pl.col("has_valid_permit").sum().alias("permitted_entities"),
        ((pl.col("status_class") == "active") & ~pl.col("has_valid_permit"))
        .sum()
        .alias("unpermitted_active_entities"),
        pl.col("_affiliate").sum().alias("permit_holder_arms"),
        pl.col("hides_chemistry").any().alias("hides_chemistry"),
        (pl.col("cover_name") & (pl.col("status_class") == "active")).any().alias("cover_name"),
        pl.col("is_chemical_industry").any().alias("chemical_industry"),
        (
            pl.col("is_chemical_industry")
            & ~pl.col("has_valid_permit")
            & (pl.col("status_class") == "active")
        )
        .any()
        .alias("unpermitted_chemical_entity"),
        pl.col("is_gas_station").any().alias("gas_station"),
        pl.col("is_carrier").any().alias("carrier_home"),
        pl.col("is_new").any().alias("new_registration"),
        pl.col("established").max().alias("latest_established"),
        (pl.col("status_class") == "ended").all().alias("all_entities_ended"),
        _joined("name").alias("names"),
        _joined("legal_rep").alias("legal_reps"),
        _joined("chemistry_terms").alias("chemistry_terms"),
        # the scope's own clauses behind hides_chemistry, for the evidence sentence to quote
        _blank_null(
            pl.col("chemistry_clause")
            .filter(pl.col("hides_chemistry").fill_null(False))
            .drop_nulls()
            .unique()
            .sort()
            .str.join("；")
        ).alias("chemistry_clauses"),
        _joined("industry_code").alias("industry_codes"),
        # the code, or the trade the name names where the code is blank (registry.named_trades)
        (_joined("trade_code") if "trade_code" in regs.columns else _joined("industry_code")).alias(
            "trade_codes"
        ),
        _joined("valid_kinds").alias("holder_permit_kinds"),
        pl.col("permit_expired_on").max().alias("holder_permit_expired_on"),
        pl.col("has_fuel_permit").any().alias("holder_fuel_permit"),
    )
    f = permit_figures()
    p = (
        _members(links, "permits", permits, "permit_id")
        .group_by("site_id")
        .agg(
            f["has_valid"].alias("site_valid_permit"),
            f["valid_kinds"].alias("site_permit_kinds"),
            f["expired_on"].alias("site_permit_expired_on"),
            f["has_fuel"].alias("site_fuel_permit"),
        )
    )
    out = ent.join(p, on="site_id", how="full", coalesce=True)
    kinds = pl.concat_str(
        [pl.col("holder_permit_kinds"), pl.col("site_permit_kinds")],
        separator=",",
        ignore_nulls=True,
    )
    return (
        out.with_columns(
            (
                (pl.col("permitted_entities").fill_null(0) > 0)
                | pl.col("site_valid_permit").fill_null(False)
            ).alias("has_valid_permit"),
            _blank_null(kinds.str.split(",").list.unique().list.sort().list.join(",")).alias(
                "permit_kinds"
            ),
            pl.max_horizontal("holder_permit_expired_on", "site_permit_expired_on").alias(
                "permit_expired_on"
            ),
            (
                pl.col("holder_fuel_permit").fill_null(False)
                | pl.col("site_fuel_permit").fill_null(False)
            ).alias("has_fuel_permit"),
        )
        .with_columns(
            (
                pl.col("has_valid_permit")
                & (pl.col("unpermitted_active_entities").fill_null(0) > 0)
                & (pl.col("entities") >= 2)
            ).alias("unpermitted_beside_permitted"),
        )
        .drop(
            "holder_permit_kinds",
            "site_permit_kinds",
            "holder_permit_expired_on",
            "site_permit_expired_on",
            "holder_fuel_permit",
            "site_fuel_permit",
            "site_valid_permit",
        )
    )


def power_site_features(
    links: pl.DataFrame,
    power: pl.DataFrame,
    accounts: pl.DataFrame,
) -> pl.DataFrame:
    """The site's meters together: the strongest sign among them, with its figures."""
    acc = accounts.select("account_id", "name", "tariff", "capacity_kva", "phase")
    m = _members(
        links, "power_accounts", power.join(acc, on="account_id", how="left"), "account_id"
    )
    pct = [c for c in power.columns if c.endswith("_pct")]
    return m.group_by("site_id").agg(
        pl.len().alias("meters"),
        (pl.col("phase") == 3).any().alias("three_phase"),
        pl.col("capacity_kva").sum().alias("capacity_kva"),
        _joined("tariff").alias("tariffs"),
        _joined("name").alias("meter_names"),
        (
            (pl.col("tariff") == "residential")
            & ((pl.col("phase") == 3) | (pl.col("capacity_kva") >= 30))
        )
        .any()
        .alias("residential_power_supply"),
        pl.col("daily_kwh_recent").sum().alias("daily_kwh_recent"),
        pl.col("daily_kwh_baseline").sum().alias("daily_kwh_baseline"),
        pl.col("night_share").max().alias("night_share"),
        # the site's night share by energy: whether a load fits a trade is a question about
        # where the energy goes, and a neighbour's small flat meter tied to the site is not it
        # (null, not 0/0, where no meter has a profile: daily meters say nothing of nights)
        (
            (pl.col("night_share") * pl.col("daily_kwh_recent")).sum()
            / pl.col("daily_kwh_recent").filter(pl.col("night_share").is_not_null()).sum()
        )
        .fill_nan(None)
        .alias("night_share_energy"),
        pl.col("flatness").max().alias("flatness"),
        pl.col("load_factor").max().alias("load_factor"),
        pl.col("high_hours_per_day").max().alias("high_hours_per_day"),
        pl.col("level_ratio").max().alias("level_ratio"),
        pl.col("jump_ratio").max().alias("jump_ratio"),
        pl.col("jump_date")
        .sort_by("jump_ratio", "account_id", descending=[True, False], nulls_last=True)
        .first()
        .alias("jump_date"),
        pl.col("jump_before")
        .sort_by("jump_ratio", "account_id", descending=[True, False], nulls_last=True)
        .first()
        .alias("jump_before"),
        pl.col("jump_after")
        .sort_by("jump_ratio", "account_id", descending=[True, False], nulls_last=True)
        .first()
        .alias("jump_after"),
        # how many of that meter's peers jumped with it (signals/power.common_jumps)
        (
            pl.col("jump_common_share")
            .sort_by("jump_ratio", "account_id", descending=[True, False], nulls_last=True)
            .first()
            if "jump_common_share" in power.columns
            else pl.lit(None, dtype=pl.Float64)
        ).alias("jump_common_share"),
        pl.col("wake_date").min().alias("wake_date"),
        # a level rising now (signals/rising.py): the meter rising most, as for the jump
        pl.col("rise_ratio").max().alias("rise_ratio"),
        *[
            pl.col(c)
            .sort_by("rise_ratio", "account_id", descending=[True, False], nulls_last=True)
            .first()
            .alias(c)
            for c in ("rise_date", "rise_days", "rise_before", "rise_after", "rise_sigma")
        ],
        pl.col("last_use_day").max().alias("last_use_day"),
        pl.col("dormant_days").max().alias("dormant_days"),
        pl.col("coverage").min().alias("meter_coverage"),
        pl.col("meter_faults").sum().alias("meter_faults")
        if "meter_faults" in power.columns
        else pl.lit(None, dtype=pl.Int64).alias("meter_faults"),
        pl.col("peer_group")
        .sort_by("night_share", "account_id", descending=[True, False], nulls_last=True)
        .first()
        .alias("peer_group"),
        *[pl.col(c).max() for c in pct],
    )


def vehicle_site_features(links: pl.DataFrame, places: pl.DataFrame) -> pl.DataFrame:
    m = _members(links, "places", places, "place_id")
    return m.group_by("site_id").agg(
        pl.col("visits").sum().alias("truck_visits"),
        pl.col("night_visits").sum().alias("truck_night_visits"),
        pl.col("night_stops").sum().alias("truck_night_stops"),
        pl.col("overnights").sum().alias("truck_overnights"),
        pl.col("parked").sum().alias("truck_parked"),
        pl.col("fuel_visits").sum().alias("fuel_visits"),
        pl.col("unregistered_plates").sum().alias("unregistered_plates"),
        pl.col("days").max().alias("truck_days"),
        pl.col("dwell_hours").sum().alias("truck_dwell_hours"),
        pl.col("is_depot").any().alias("carrier_depot"),
        _joined("depot_of").alias("depot_of"),
        pl.col("is_driver_home").any().alias("driver_home"),
        pl.col("first_seen").min().alias("trucks_first_seen"),
        pl.col("last_seen").max().alias("trucks_last_seen"),
        pl.col("plates_seen")
        .str.split(";")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .drop_nulls()
        .unique()
        .sort()
        .str.join(";")
        .alias("plates"),
        pl.col("night_plates_seen")
        .str.split(";")
        .explode()
        .pipe(lambda p: p.filter(p.is_not_null() & (p != "")))
        .unique()
        .sort()
        .str.join(";")
        .alias("night_plates"),
        pl.col("plates").sum().alias("truck_plates"),
        pl.col("cargo_classes")
        .str.split(",")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .drop_nulls()
        .unique()
        .sort()
        .str.join(",")
        .str.strip_chars(",")
        .alias("cargo_classes"),
    )


def premises_features(
    links: pl.DataFrame,
    props: pl.DataFrame,
    cases: pl.DataFrame,
) -> pl.DataFrame:
    p = (
        _members(links, "idle_properties", props, "property_id")
        .group_by("site_id")
        .agg(_joined("kind").alias("idle_kinds"), pl.col("since").min().alias("idle_since"))
    )
    c = (
        _members(links, "sanctioned_sites", cases, "case_id")
        .group_by("site_id")
        .agg(
            pl.col("closed_on").max().alias("case_closed_on"),
            _joined("measures").alias("case_measures"),
        )
    )
    return p.join(c, on="site_id", how="full", coalesce=True)


def _carrier_meters(
    links: pl.DataFrame, accounts: pl.DataFrame, carriers: pl.Series
) -> pl.DataFrame:
    """Sites whose power account bears the name of a hazmat carrier that has trucks on the
    vehicle register: the carrier's yard, registered at another address (the account says
    who uses the power), where its own trucks sleep and refuel."""
    return (
        _members(links, "power_accounts", accounts.select("account_id", "name"), "account_id")
        .filter(name_key(pl.col("name")).is_in(carriers.unique().implode()))
        .group_by("site_id")
        .agg(pl.lit(True).alias("carrier_meter"))
    )


def _xy(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return np.column_stack(project_m(lon, lat))


def surroundings(
    sites: pl.DataFrame, base: pl.DataFrame, tips: pl.DataFrame, cfg: Mapping[str, Any]
) -> pl.DataFrame:
    """Tips near each site, other businesses within the remote radius, distance to the
    nearest settlement (a site with household meters), and night stops of hazmat trucks
    nearby at places no record explains."""
    s = sites.join(base.select("site_id", "entities", "tariffs"), on="site_id", how="left")
    placed = s.filter(pl.col("lon").is_not_null())
    if placed.height == 0:
        return sites.select("site_id")
    xy = _xy(placed["lon"].to_numpy(), placed["lat"].to_numpy())
    stray = _stray_night_stops(placed.select("site_id"), xy, base, cfg)
    tree = cKDTree(xy)
    is_business = (placed["entities"].fill_null(0) > 0) | placed["tariffs"].fill_null(
        ""
    ).str.contains("industrial|commercial")
    is_home = placed["tariffs"].fill_null("").str.contains("residential").to_numpy()
    bus = is_business.to_numpy()
    neighbours = np.zeros(len(xy), dtype=np.int64)
    if bus.any():
        # workers=-1: the queries split over every core (counts and nearest distances are
        # exact, so the result does not depend on how they were split)
        counts = cKDTree(xy[bus]).query_ball_point(
            xy, cfg["remote_radius_m"], return_length=True, workers=-1
        )
        neighbours = counts - bus.astype(np.int64)  # not counting the site itself
    out = {"site_id": placed["site_id"], "businesses_within_radius": neighbours}
    if is_home.any():
        d, _ = cKDTree(xy[is_home]).query(xy, k=2, workers=-1)
        own = is_home.astype(bool)
        out["settlement_distance_m"] = np.where(own, d[:, 1], d[:, 0])
    else:
        out["settlement_distance_m"] = np.full(len(xy), np.nan)
    result = pl.DataFrame(out)
    tp = tips.filter(pl.col("lon").is_not_null())
    if tp.height:
        # a tip describes one place: it counts for the nearest site within the radius only;
        # between sites at the same distance (a meter and a shop geocoded to one point) the
        # site the tip itself belongs to wins, else the lowest site id; never the one a
        # search tree happens to meet first, which changes when any other site does
        k = min(4, len(xy))
        d, j = tree.query(
            _xy(tp["lon"].to_numpy(), tp["lat"].to_numpy()),
            k=k,
            distance_upper_bound=cfg["tip_radius_m"],
        )
        d, j = d.reshape(tp.height, k), j.reshape(tp.height, k)
        tied = np.isfinite(d) & (d <= d[:, :1] + 1e-6)
        rows, cols = np.nonzero(tied)
        linked = base.select("site_id", pl.col("tip_ids").str.split(";").alias("tip_id")).explode(
            "tip_id"
        )
        near = (
            pl.DataFrame(
                {
                    "tip_id": tp["tip_id"].gather(pl.Series(rows)),
                    "site_id": placed["site_id"].gather(pl.Series(j[rows, cols])),
                }
            )
            .join(
                linked.with_columns(pl.lit(True).alias("_own")),
                on=["site_id", "tip_id"],
                how="left",
            )
            .sort(
                "tip_id",
                pl.col("_own").fill_null(False),
                "site_id",
                descending=[False, True, False],
            )
            .group_by("tip_id", maintain_order=True)
            .first()
            .group_by("site_id")
            .agg(_joined("tip_id").alias("tips_near"))
        )
        result = result.join(near, on="site_id", how="left")
    else:
        result = result.with_columns(pl.lit(None, dtype=pl.String).alias("tips_near"))
    return result.join(stray, on="site_id", how="left").with_columns(
        pl.col("settlement_distance_m").fill_nan(None)
    )


def _stray_night_stops(
    placed: pl.DataFrame, xy: np.ndarray, base: pl.DataFrame, cfg: Mapping[str, Any]
) -> pl.DataFrame:
    """Per site, the night stops of hazmat trucks within ``trucks_near_m`` at places that no
    business, premises or case record explains (alone, or by a household meter the place was
    nearest to; not a driver's home or a carrier's depot), and how far the nearest is. A
    village workshop's trucks wait on the lane, not at the house's door, and the house meter
    is rarely positioned: the stop becomes another site, and the house's doubled meter nearby
    is what ties the two together.

    The same pairs, read from the stop's side: a stop site whose own meter did not double,
    with such a house within reach (its meter at least doubled, no night stop at its own
    door: where NIGHT_TRUCKS_NEARBY fires), has its trucks counted there
    (``trucks_for_site``, the nearest such site, and ``trucks_for_m``), so that the lane is
    not a second lead for the same story and the house is (TRUCKS_FOR_NEIGHBOUR)."""
    schema = {
        "site_id": pl.String,
        "night_stops_near": pl.Int64,
        "night_stops_near_m": pl.Float64,
        "trucks_for_site": pl.String,
        "trucks_for_m": pl.Float64,
    }
    # ``placed``: the positioned sites, in the order of their projected positions ``xy``
    f = placed.select("site_id").join(
        base.select(
            "site_id",
            "entities",
            "tariffs",
            "property_ids",
            "case_ids",
            "truck_night_stops",
            "driver_home",
            "carrier_depot",
            "jump_ratio",
        ),
        on="site_id",
        how="left",
        maintain_order="left",
    )
    stray = (
        (pl.col("truck_night_stops").fill_null(0) > 0)
        & (pl.col("entities").fill_null(0) == 0)
        # a household meter nearby may have drawn the place (the nearest record), not its
        # trucks: only a business meter explains them
        & ~pl.col("tariffs").fill_null("").str.contains("industrial|commercial|agricultural")
        & ~pl.col("driver_home").fill_null(False)
        & ~pl.col("carrier_depot").fill_null(False)
        & pl.col("property_ids").is_null()
        & pl.col("case_ids").is_null()
    )
    is_stop = f.select(stray).to_series().to_numpy()
    stops = f.filter(pl.Series(is_stop))
    if stops.height == 0:
        return pl.DataFrame(schema=schema)
    pairs = cKDTree(xy[is_stop]).sparse_distance_matrix(
        cKDTree(xy), cfg["trucks_near_m"], output_type="ndarray"
    )
    near = pl.DataFrame(
        {
            "stop": stops["site_id"].gather(pl.Series(pairs["i"])),
            "site_id": f["site_id"].gather(pl.Series(pairs["j"])),
            "n": stops["truck_night_stops"].gather(pl.Series(pairs["i"])).cast(pl.Int64),
            "d": pairs["v"],
        }
    ).filter(pl.col("stop") != pl.col("site_id"))
    counted = near.group_by("site_id").agg(
        pl.col("n").sum().alias("night_stops_near"),
        pl.col("d").min().alias("night_stops_near_m"),
    )
    # the houses the stops count for (NIGHT_TRUCKS_NEARBY's own condition), nearest first;
    # ties go by site id so that the named house does not depend on the search tree
    jumped = pl.col("jump_ratio").fill_null(0) >= cfg["trucks_near_jump_ratio"]
    doubled = f.filter(jumped & (pl.col("truck_night_stops").fill_null(0) == 0)).select("site_id")
    # a stop whose own meter doubled is its own story (HOUSEHOLD_JUMP with trucks at the door)
    quiet = stops.filter(~jumped).select(pl.col("site_id").alias("stop"))
    owners = (
        near.join(doubled, on="site_id", how="semi")
        .join(quiet, on="stop", how="semi")
        .sort("stop", "d", "site_id")
        .group_by("stop", maintain_order=True)
        .first()
        .select(
            pl.col("stop").alias("site_id"),
            pl.col("site_id").alias("trucks_for_site"),
            pl.col("d").alias("trucks_for_m"),
        )
    )
    return counted.join(owners, on="site_id", how="full", coalesce=True).cast(
        schema  # type: ignore[arg-type]
    )


def site_features(
    sites: pl.DataFrame,
    links: pl.DataFrame,
    tables: dict[str, pl.DataFrame],
    regs: pl.DataFrame,
    permits: pl.DataFrame,
    holders: pl.DataFrame,
    power: pl.DataFrame,
    places: pl.DataFrame,
    as_of: dt.date,
    cfg: Mapping[str, Any],
) -> pl.DataFrame:
    """All signals per site (see module doc)."""
    sites = sites.sort("site_id")  # nearest-site ties (a tip between two) go by site id
    base = sites.join(linked_ids(links), on="site_id", how="left")
    # a hazmat carrier's own registered premises: its trucks calling there are its fleet
    carriers = tables["vehicles"].select(name_key(pl.col("carrier")).alias("_k")).drop_nulls()
    regs = regs.with_columns(
        name_key(pl.col("name")).is_in(carriers["_k"].unique().implode()).alias("is_carrier")
    )
    for part in (
        entity_features(links, regs, permits, holders),
        power_site_features(links, power, tables["power_accounts"]),
        vehicle_site_features(links, places),
        premises_features(links, tables["idle_properties"], tables["sanctioned_sites"]),
        innocence.trade_facts(links, regs, tables["power_accounts"], cfg),
        _carrier_meters(links, tables["power_accounts"], carriers["_k"]),
    ):
        base = base.join(part, on="site_id", how="left")
    base = base.join(surroundings(sites, base, tables["tips"], cfg), on="site_id", how="left")
    tips = pl.concat_str([pl.col("tip_ids"), pl.col("tips_near")], separator=";", ignore_nulls=True)
    active = cfg["active_kwh_per_day"]
    runs = pl.col("daily_kwh_recent").fill_null(0) > active
    trucks = pl.col("truck_visits").fill_null(0) > 0
    return (
        base.with_columns(
            _blank_null(tips.str.split(";").list.unique().list.sort().list.join(";")).alias(
                "tip_ids"
            ),
        )
        .with_columns(
            pl.col("tip_ids").str.split(";").list.len().fill_null(0).alias("tips"),
            # activity on a listed idle premises: power, trucks, or a new registration
            (
                pl.col("idle_kinds").is_not_null()
                & (runs | trucks | pl.col("new_registration").fill_null(False))
            ).alias("idle_activity"),
            # activity at an earlier case after it was closed
            (
                pl.col("case_closed_on").is_not_null()
                & (
                    (
                        # the meter still runs and was used after the case was closed
                        runs & (pl.col("last_use_day") > pl.col("case_closed_on"))
                    )
                    | (trucks & (pl.col("trucks_last_seen").dt.date() > pl.col("case_closed_on")))
                )
            ).alias("case_activity"),
            (
                (pl.col("businesses_within_radius") <= cfg["remote_max_businesses"])
                & (pl.col("settlement_distance_m").fill_null(1e9) >= cfg["remote_min_settlement_m"])
            ).alias("is_remote"),
            # named for field work: a farm, a growers' co-operative, a pumping station or well
            (
                pl.concat_str(["names", "meter_names"], separator=";", ignore_nulls=True)
                .fill_null("")
                .str.contains("|".join(cfg["field_words"]))
            ).alias("field_name"),
            pl.lit(as_of).alias("as_of"),
        )
        .drop("tips_near")
        .pipe(innocence.explanations, cfg)
        .pipe(_tip_quotes, tables["tips"], cfg)
        .with_columns(pl.col(pl.Float64).round(6))  # see power_features: stable figures
        .sort("site_id")
    )


def _tip_quotes(frame: pl.DataFrame, tips: pl.DataFrame, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """tip_texts: what the tips counted for a site say, in their order, each cut to
    ``tip_quote_chars`` — the inspector reads the caller's words, not only a tip number. The
    list separator ";" inside a tip becomes a comma. ordinary_tips: how many of them say what
    the business is (``tip_trade_words``: 在家里开木工作坊做家具) and name none of the
    campaign's cues (``tip_concern_words``: chemicals, smells, tankers, fuel, night work): a
    neighbour's complaint about an ordinary trade."""
    max_chars = cfg["tip_quote_chars"]
    words = tips.select(
        "tip_id",
        pl.col("text")
        .cast(pl.String)
        .str.replace_all(r"[;；\s]+", "，")
        .str.strip_chars("，")
        .alias("_t"),
    ).filter(pl.col("_t").is_not_null() & (pl.col("_t") != ""))
    cut = (
        pl.when(pl.col("_t").str.len_chars() > max_chars)
        .then(pl.col("_t").str.slice(0, max_chars) + pl.lit("…"))
        .otherwise(pl.col("_t"))
    )
    quoted = (
        frame.select("site_id", pl.col("tip_ids").str.split(";").alias("tip_id"))
        .explode("tip_id")
        .join(words.with_columns(pl.col("_t").alias("_full"), cut.alias("_t")), on="tip_id")
        .sort("site_id", "tip_id")
        .group_by("site_id", maintain_order=True)
        .agg(
            pl.col("_t").str.join(";").alias("tip_texts"),
            (
                pl.col("_full").str.contains("|".join(cfg["tip_trade_words"]))
                & ~pl.col("_full").str.contains("|".join(cfg["tip_concern_words"]))
            )
            .sum()
            .alias("ordinary_tips"),
        )
    )
    return frame.join(quoted, on="site_id", how="left")
