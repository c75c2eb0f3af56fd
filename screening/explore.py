"""What an analyst asks of a run, as functions: "why is this site on the list?", its load
curve, its day against its peers, the trucks around it, what was quarantined. The notebooks
in notebooks/ call these; nothing here writes anything.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from screening.coords import haversine_m
from screening.store.warehouse import Warehouse, warehouse_dir


def lead(run_dir: Path, rank: int = 1) -> dict[str, object]:
    """One lead of a run with its reasons and evidence split into lines."""
    row = pl.read_parquet(Path(run_dir) / "leads.parquet").filter(pl.col("rank") == rank)
    out = row.row(0, named=True)
    out["evidence_lines"] = str(out["evidence"] or "").split("；")
    # the site's id in the warehouse: a ledger may list it under the id it first had
    out["run_site_id"] = out.get("run_site_id") or out["site_id"]
    return out


def watch_items(run_dir: Path) -> pl.DataFrame:
    """The sites the run kept off its lead list though they score at or above min_score, best
    first, with why: no rule names them (only the anomaly model lifts them, and every line of
    evidence was there for the rules), or the list was full (the lead cap). An analyst reads
    them to see what the next nights may bring up."""
    with Warehouse(warehouse_dir(run_dir), read_only=True) as wh:
        watched = wh.table("watch_items")
    return watched.with_columns(
        pl.when(pl.col("rule_score").fill_null(0) <= 0)
        .then(pl.lit("no rule names it"))
        .otherwise(pl.lit("beyond the lead cap"))
        .alias("why_watched")
    )


def townships(run_dir: Path) -> pl.DataFrame:
    """Township boundaries (WKT) of the run's county, to draw under a map."""
    with Warehouse(warehouse_dir(run_dir), read_only=True) as wh:
        return wh.table("townships")


def site(run_dir: Path, site_id: str) -> dict[str, object]:
    """The site's row of the feature table: every figure the rules and the model saw."""
    with Warehouse(warehouse_dir(run_dir), read_only=True) as wh:
        found = wh.read("SELECT * FROM site_features WHERE site_id = ?", [site_id])
    if found.height == 0:
        raise KeyError(f"{site_id}: not in the warehouse of {run_dir}")
    return found.row(0, named=True)


def site_records(run_dir: Path, site_id: str) -> pl.DataFrame:
    """Every record tied to the site, how it was tied, and its name and address."""
    with Warehouse(warehouse_dir(run_dir), read_only=True) as wh:
        links = wh.read("SELECT * FROM site_links WHERE site_id = ?", [site_id])
        named = []
        for source, key, label in (
            ("registrations", "uscc", "name"),
            ("power_accounts", "account_id", "name"),
            ("permits", "permit_id", "kind"),
            ("idle_properties", "property_id", "kind"),
            ("sanctioned_sites", "case_id", "name"),
            ("tips", "tip_id", "text"),
        ):
            named.append(
                wh.read(
                    f"SELECT '{source}' AS source, CAST({key} AS VARCHAR) AS record_id, "
                    f"CAST({label} AS VARCHAR) AS label, address FROM {source}"
                )
            )
    return links.join(pl.concat(named), on=["source", "record_id"], how="left")


def daily_load(run_dir: Path, account_ids: list[str]) -> pl.DataFrame:
    """kWh per meter and day (all history), for the load curve."""
    with Warehouse(warehouse_dir(run_dir), read_only=True) as wh:
        return (
            wh.scan_bulk("power_readings")
            .filter(pl.col("account_id").is_in(account_ids))
            .group_by("account_id", pl.col("ts").dt.date().alias("day"))
            .agg(pl.col("kwh").sum())
            .sort("account_id", "day")
            .collect()
        )


def hourly_profile_vs_peers(run_dir: Path, account_id: str, days: int = 14) -> pl.DataFrame:
    """Mean kWh by hour of day over the last ``days``: the meter, and the median meter of its
    peer group (same tariff and capacity band), each as a share of its day."""
    with Warehouse(warehouse_dir(run_dir), read_only=True) as wh:
        pf = wh.table("power_features")
        as_of = dt.date.fromisoformat(wh.meta()["as_of"])
        readings = wh.scan_bulk("power_readings")
    group = pf.filter(pl.col("account_id") == account_id)["peer_group"].item()
    peers = pf.filter(pl.col("peer_group") == group)["account_id"]
    start = dt.datetime.combine(as_of - dt.timedelta(days=days - 1), dt.time())
    hourly = (
        readings.filter(
            pl.col("account_id").is_in(peers.implode())
            & (pl.col("ts") >= start)
            & (pl.col("interval_min") <= 60)
        )
        .group_by("account_id", pl.col("ts").dt.hour().alias("hour"))
        .agg(pl.col("kwh").mean())
        .with_columns((pl.col("kwh") / pl.col("kwh").sum().over("account_id")).alias("share"))
        .collect()
    )
    mine = hourly.filter(pl.col("account_id") == account_id).select(
        "hour", pl.col("share").alias("meter")
    )
    peer = hourly.group_by("hour").agg(pl.col("share").median().alias("peers"))
    return (
        peer.join(mine, on="hour", how="left")
        .sort("hour")
        .with_columns(pl.lit(group).alias("peer_group"))
    )


def stays_near(run_dir: Path, lon: float, lat: float, radius_m: float = 500.0) -> pl.DataFrame:
    """Truck stays within ``radius_m`` of a point, with their distance."""
    with Warehouse(warehouse_dir(run_dir), read_only=True) as wh:
        stays = wh.table("stays")
    if stays.height == 0:
        return stays
    d = haversine_m(lon, lat, stays["lon"].to_numpy(), stays["lat"].to_numpy())
    return (
        stays.with_columns(pl.Series("distance_m", d))
        .filter(pl.col("distance_m") <= radius_m)
        .sort("start")
    )


def quarantine(run_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(problems by source, severity and reason, the per-source ingest summary)."""
    with Warehouse(warehouse_dir(run_dir), read_only=True) as wh:
        problems = wh.table("ingest_problems")
        summary = wh.table("ingest_summary")
    kinds = (
        problems.with_columns(pl.col("reason").str.replace(r"[:：].*$", "").alias("kind"))
        .group_by("source", "severity", "kind")
        .agg(
            pl.len().alias("rows"),
            pl.col("file").first().alias("example_file"),
            pl.col("row").first().alias("example_row"),
        )
    )
    return kinds.sort("source", "rows", descending=[False, True]), summary
