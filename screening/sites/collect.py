"""Every register row, truck place, case and tip as one record shape (source, id, name,
address, position, polygon, township hint) with the address and name keys that linking
compares: the input of site linking. Address-only records are placed here too, by
house-number interpolation along their street (``place_by_address``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from screening.coords import stable_ids
from screening.sites.addresses import address_key, name_key, township_of

RECORD_SCHEMA = {
    "source": pl.String,
    "record_id": pl.String,
    "name": pl.String,
    "address": pl.String,
    "lon": pl.Float64,
    "lat": pl.Float64,
    "geometry": pl.String,
    "township_hint": pl.String,
}


def registration_ids(regs: pl.DataFrame) -> pl.Series:
    """Registrations are known by their credit code; one without gets a stable id made from
    name and address."""
    made = pl.concat_str([pl.col("name"), pl.col("address")], separator="|", ignore_nulls=True)
    return regs.select(
        pl.coalesce(pl.col("uscc"), stable_ids("R", regs.select(made).to_series()))
    ).to_series()


def _is_household(accounts: pl.DataFrame | None) -> pl.Series:
    if accounts is None or accounts.height == 0:
        return pl.Series("household", [], dtype=pl.Boolean)
    if not {"tariff", "phase"} <= set(accounts.columns):  # a partial table: nothing known
        return pl.Series("household", [False] * accounts.height, dtype=pl.Boolean)
    return accounts.select(
        ((pl.col("tariff") == "residential") & (pl.col("phase").fill_null(1) != 3)).fill_null(False)
    ).to_series()


def _anchor_registrations(regs: pl.DataFrame, anchors: Mapping[str, Any] | None) -> pl.Series:
    """What a registration would explain if hazmat trucks call there: fuel (gas stations,
    fuel depots) or a carrier's fleet (transport, logistics); null for anything else."""
    if not anchors or not {"industry_code", "name"} <= set(regs.columns):
        return pl.Series("anchor", [None] * regs.height, dtype=pl.String)
    code = pl.col("industry_code").fill_null("")
    name = pl.col("name").fill_null("")

    def kind(codes: list[str], words: list[str]) -> pl.Expr:
        return pl.any_horizontal([code.str.starts_with(c) for c in codes]) | name.str.contains(
            "|".join(words)
        )

    return regs.select(
        pl.when(kind(anchors["fuel_codes"], anchors["fuel_words"]))
        .then(pl.lit("fuel"))
        .when(kind(anchors["carrier_codes"], anchors["carrier_words"]))
        .then(pl.lit("carrier"))
        .alias("anchor")
    ).to_series()


def in_file_order(t: pl.DataFrame) -> pl.DataFrame:
    """A register in the order of its files and rows (then its first column: the ledger's
    watched cases have no row), whatever order a join or a scan left it in: linking takes
    the first of equals, so the order it sees must be the data's own."""
    keys = [c for c in ("source_file", "source_row") if c in t.columns]
    if not keys or t.height == 0:
        return t
    return t.sort([*keys, t.columns[0]], nulls_last=True, maintain_order=True)


def records(
    tables: dict[str, pl.DataFrame],
    places: pl.DataFrame | None = None,
    anchors: Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """All placeable records in one frame with their matching keys, in an order that
    depends on the data alone (registers in file order, places by id)."""
    tables = {name: in_file_order(t) for name, t in tables.items()}
    if places is not None:
        places = places.sort("place_id")

    def pick(
        name: str,
        rid: pl.Expr,
        label: str | None = "name",
        geometry: bool = False,
        township: bool = False,
    ) -> pl.DataFrame:
        t = tables.get(name)
        if t is None or t.height == 0:
            return pl.DataFrame(schema=RECORD_SCHEMA)
        return t.select(
            pl.lit(name).alias("source"),
            rid.cast(pl.String).alias("record_id"),
            (pl.col(label) if label else pl.lit(None)).cast(pl.String).alias("name"),
            pl.col("address").cast(pl.String),
            pl.col("lon").cast(pl.Float64),
            pl.col("lat").cast(pl.Float64),
            (pl.col("geometry") if geometry else pl.lit(None)).cast(pl.String).alias("geometry"),
            (pl.col("township") if township else pl.lit(None))
            .cast(pl.String)
            .alias("township_hint"),
        )

    def credit_code(name: str) -> pl.Series:
        """The legal entity a record names by its credit code: the strongest shared key
        agencies have (an account or a permit filed under a firm's code is that firm's)."""
        t = tables[name]
        if "uscc" not in t.columns:
            return pl.Series("entity", [None] * t.height, dtype=pl.String)
        return t.get_column("uscc").cast(pl.String).alias("entity")

    parts = [
        pick(
            "registrations", pl.lit(registration_ids(tables["registrations"])), township=True
        ).with_columns(
            _anchor_registrations(tables["registrations"], anchors),
            pl.lit(credit_code("registrations")),
        )
        if "registrations" in tables and tables["registrations"].height
        else pl.DataFrame(schema=RECORD_SCHEMA),
        pick("permits", pl.col("permit_id"), label=None).with_columns(
            pl.lit(
                tables["permits"]
                .select(pl.when(pl.col("kind") == "fuel").then(pl.lit("fuel")).alias("anchor"))
                .to_series()
            ),
            pl.lit(credit_code("permits")),
        )
        if tables.get("permits") is not None and tables["permits"].height
        else pl.DataFrame(schema=RECORD_SCHEMA),
        pick("power_accounts", pl.col("account_id")).with_columns(
            # a household meter: trucks rarely call there, so it anchors truck places weakly
            pl.lit(_is_household(tables.get("power_accounts"))).alias("household"),
            pl.lit(credit_code("power_accounts")),
        )
        if tables.get("power_accounts") is not None and tables["power_accounts"].height
        else pl.DataFrame(schema=RECORD_SCHEMA),
        pick("idle_properties", pl.col("property_id"), label="owner", geometry=True),
        pick("sanctioned_sites", pl.col("case_id")),
        pick("tips", pl.col("tip_id"), label=None),
    ]
    if places is not None and places.height:
        parts.append(
            places.select(
                pl.lit("places").alias("source"),
                pl.col("place_id").alias("record_id"),
                pl.lit(None, dtype=pl.String).alias("name"),
                pl.lit(None, dtype=pl.String).alias("address"),
                "lon",
                "lat",
                pl.lit(None, dtype=pl.String).alias("geometry"),
                pl.lit(None, dtype=pl.String).alias("township_hint"),
                # what the trucks did there, to find the record that explains them
                pl.when(pl.col("fuel_visits") > 0)
                .then(pl.lit("fuel"))
                .when(pl.col("is_depot"))
                .then(pl.lit("carrier"))
                .alias("wants")
                if {"fuel_visits", "is_depot"} <= set(places.columns)
                else pl.lit(None, dtype=pl.String).alias("wants"),
            )
        )
    out = pl.concat(parts, how="diagonal_relaxed").unique(
        ["source", "record_id"], keep="first", maintain_order=True
    )
    if "household" not in out.columns:  # absent when there are no meters
        out = out.with_columns(pl.lit(False).alias("household"))
    for col in ("anchor", "wants", "entity"):
        if col not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    return out.with_columns(
        address_key(pl.col("address")).alias("addr_key"),
        name_key(pl.col("name")).alias("name_key"),
    ).with_columns(
        pl.col("addr_key").str.contains(r"\d").fill_null(False).alias("addr_specific"),
        # house, group and lot numbers: similar-looking addresses with other numbers are
        # neighbours, not the same gate (文化路232号 vs 文化路206号)
        pl.col("addr_key").str.extract_all(r"\d+").list.join("-").alias("addr_numbers"),
        township_of(pl.col("addr_key")).alias("addr_township"),
        # the compound's gate: a building, workshop or room inside "…79号" is "…79号"
        pl.col("addr_key").str.replace(r"^(.*\d+号).+$", "${1}").alias("compound_key"),
    )


def place_by_address(rec: pl.DataFrame, cfg: Mapping[str, Any]) -> pl.DataFrame:
    """Approximate positions for records that have none, from positioned records on the same
    street: the house number is interpolated between the nearest numbers below and above (or
    taken from one of them when the number lies beyond), the way a postman would guess. No
    geocoding service is needed (inspectors' offices are often offline). Such positions
    are marked ``position = 'address'``: they place a site on the map and near trucks and
    tips, but never merge it with a neighbour on distance alone."""
    parts = pl.col("addr_key").str.extract_groups(r"^(.*?\D)(\d+)号")
    keyed = rec.with_row_index("_r").with_columns(
        parts.struct.field("1").alias("_street"),
        parts.struct.field("2").cast(pl.Int64, strict=False).alias("_no"),
        pl.when(pl.col("lon").is_not_null()).then(pl.lit("given")).alias("position"),
    )
    refs = (
        keyed.filter(pl.col("lon").is_not_null() & pl.col("_no").is_not_null())
        .group_by("_street", "_no")
        .agg(pl.col("lon").median().alias("_lon"), pl.col("lat").median().alias("_lat"))
        .sort("_no")
    )
    todo = keyed.filter(pl.col("lon").is_null() & pl.col("_no").is_not_null()).sort("_no")
    if todo.height == 0 or refs.height == 0:
        return keyed.drop("_r", "_street", "_no")
    below = todo.join_asof(
        refs.rename({"_no": "_nb", "_lon": "_xb", "_lat": "_yb"}),
        left_on="_no",
        right_on="_nb",
        by="_street",
        strategy="backward",
        check_sortedness=False,  # sorted by number overall, hence within each street
    )
    both = below.join_asof(
        refs.rename({"_no": "_na", "_lon": "_xa", "_lat": "_ya"}),
        left_on="_no",
        right_on="_na",
        by="_street",
        strategy="forward",
        check_sortedness=False,
    )
    gap = cfg["address_max_number_gap"]
    span = (pl.col("_na") - pl.col("_nb")).cast(pl.Float64)
    f = pl.when(span > 0).then((pl.col("_no") - pl.col("_nb")) / span).otherwise(0.0)
    interpolate = pl.col("_nb").is_not_null() & pl.col("_na").is_not_null() & (span <= gap)
    near_below = pl.col("_nb").is_not_null() & ((pl.col("_no") - pl.col("_nb")) <= gap)
    near_above = pl.col("_na").is_not_null() & ((pl.col("_na") - pl.col("_no")) <= gap)
    placed = both.select(
        "_r",
        pl.when(interpolate)
        .then(pl.col("_xb") + f * (pl.col("_xa") - pl.col("_xb")))
        .when(near_below)
        .then(pl.col("_xb"))
        .when(near_above)
        .then(pl.col("_xa"))
        .alias("_lon"),
        pl.when(interpolate)
        .then(pl.col("_yb") + f * (pl.col("_ya") - pl.col("_yb")))
        .when(near_below)
        .then(pl.col("_yb"))
        .when(near_above)
        .then(pl.col("_ya"))
        .alias("_lat"),
    ).filter(pl.col("_lon").is_not_null())
    return (
        keyed.join(placed, on="_r", how="left")
        .with_columns(
            pl.coalesce("lon", "_lon").alias("lon"),
            pl.coalesce("lat", "_lat").alias("lat"),
            pl.when(pl.col("position").is_null() & pl.col("_lon").is_not_null())
            .then(pl.lit("address"))
            .otherwise(pl.col("position"))
            .alias("position"),
        )
        .sort("_r")
        .drop("_r", "_street", "_no", "_lon", "_lat")
    )
