"""Coordinates and premises outlines on the way in: range checks in the bundle's own CRS
(a GCJ-02 point is checked before it is moved), conversion to WGS-84, and WKT polygons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import shapely

from screening.coords import to_wgs84
from screening.ingest.problems import Check, empty_problems, problem, rows_to_problems
from screening.schema import Source


def coordinate_checks(source: Source, cfg: Mapping[str, Any]) -> tuple[list[Check], list[pl.Expr]]:
    """Range checks on lon/lat (in the bundle's CRS, whose offsets are far below the box's
    margins). Swapped pairs are recognised and swapped back, with a warning."""
    required = source.column("lon").required
    lo_x, hi_x = cfg["china_lon"]
    lo_y, hi_y = cfg["china_lat"]
    lon, lat = pl.col("lon"), pl.col("lat")
    inside = lon.is_between(lo_x, hi_x) & lat.is_between(lo_y, hi_y)
    swapped = ~inside & lat.is_between(lo_x, hi_x) & lon.is_between(lo_y, hi_y)
    one_missing = lon.is_null() ^ lat.is_null()
    outside = lon.is_not_null() & lat.is_not_null() & ~inside & ~swapped
    pair = pl.format("({}, {})", pl.col("_raw_lon"), pl.col("_raw_lat"))
    sev = "rejected" if required else "warning"
    tail = "" if required else "; position dropped, placed by address"
    checks = [
        problem(swapped, "lon", "warning", "lon and lat swapped; read the other way round", pair),
        problem(outside, "lon", sev, "coordinates outside China" + tail, pair),
        problem(
            one_missing & ~pl.lit(required),
            "lon",
            "warning",
            "only one of lon/lat given; position dropped",
            pair,
        ),
    ]
    keep = ~(outside | one_missing)
    fixes = [
        pl.when(swapped).then(lat).when(keep).then(lon).otherwise(None).alias("lon"),
        pl.when(swapped).then(lon).when(keep).then(lat).otherwise(None).alias("lat"),
    ]
    return checks, fixes


def convert_crs(df: pl.DataFrame, crs: str) -> pl.DataFrame:
    if crs == "wgs84" or "lon" not in df.columns or df.height == 0:
        return df
    lon, lat = to_wgs84(
        df["lon"].to_numpy(allow_copy=True).astype(float),
        df["lat"].to_numpy(allow_copy=True).astype(float),
        crs,
    )
    return df.with_columns(pl.Series("lon", lon), pl.Series("lat", lat)).with_columns(
        pl.col("lon").fill_nan(None), pl.col("lat").fill_nan(None)
    )


def geometries(
    df: pl.DataFrame, crs: str, source: str, cfg: Mapping[str, Any] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """WKT polygons of premises: parsed, converted to WGS-84, and used to place premises that
    have no point (their centroid). An outline that is not a polygon (a POINT says nothing
    of the premises' extent), or lies outside China (0 0, the origin an empty GIS field
    writes), is a warning and dropped; the point remains."""
    if "geometry" not in df.columns or df["geometry"].null_count() == df.height:
        return df, empty_problems()
    wkt = df["geometry"].to_numpy()
    geoms = shapely.from_wkt(wkt, on_invalid="ignore")
    given = df["geometry"].is_not_null().to_numpy()
    unreadable = given & shapely.is_missing(geoms)
    kinds = shapely.get_type_id(geoms)
    area = np.isin(kinds, (3, 6))  # Polygon, MultiPolygon
    not_area = given & ~unreadable & ~area
    outside = np.zeros(len(wkt), dtype=bool)
    if cfg is not None:
        x0, y0, x1, y1 = (shapely.bounds(geoms)[:, i] for i in range(4))
        lo_x, hi_x = cfg["china_lon"]
        lo_y, hi_y = cfg["china_lat"]
        with np.errstate(invalid="ignore"):
            inside = (x0 >= lo_x) & (x1 <= hi_x) & (y0 >= lo_y) & (y1 <= hi_y)
        outside = given & ~unreadable & area & ~inside
    drop = unreadable | not_area | outside
    geoms = np.where(drop, None, geoms)
    reason = np.where(
        unreadable,
        "not a readable WKT polygon; ignored",
        np.where(
            not_area,
            "not a polygon (a point or a line says nothing of the premises); ignored",
            "outline outside China (an empty GIS field's 0 0?); ignored",
        ),
    )
    bad = pl.Series(drop)
    if crs != "wgs84":

        def _fn(xy: np.ndarray) -> np.ndarray:
            x, y = to_wgs84(xy[:, 0], xy[:, 1], crs)
            return np.column_stack([x, y])

        geoms = shapely.transform(geoms, _fn)
    geoms = shapely.make_valid(geoms)
    centroid = shapely.centroid(geoms)
    out = df.with_columns(
        pl.Series(
            "geometry", shapely.to_wkt(geoms, rounding_precision=7).tolist(), dtype=pl.String
        ),
        pl.coalesce(pl.col("lon"), pl.Series(shapely.get_x(centroid)).fill_nan(None)).alias("lon"),
        pl.coalesce(pl.col("lat"), pl.Series(shapely.get_y(centroid)).fill_nan(None)).alias("lat"),
    )
    problems = rows_to_problems(
        df.with_columns(pl.Series("_why", reason)).filter(bad),
        source,
        pl.lit("geometry"),
        pl.col("_why"),
        pl.col("geometry"),
        severity="warning",
    )
    return out, problems
