"""Readers for the real records in the real-data folder beside the repository (see its
README there), to our schemas.

The generated county shares its authors' blind spots; these files do not. They are read as
they are: nothing is cleaned here that the pipeline would not clean itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from screening.coords import to_wgs84


def taxi_tracks(path: Path, crs: str = "wgs84") -> pl.DataFrame:
    """The Wuxi taxi fixes (longitude, latitude, timestamp, name_id) as vehicle tracks:
    plate, ts, lon, lat, speed_kmh.

    The taxi id becomes the plate (an anonymous 16-digit number; read as text so that its
    leading zeros stay). The file has no speed: ``speed_kmh`` is null rather than a speed
    made up from fixes minutes apart. Coordinates are taken as WGS-84, which the source
    repository states for all its sets; pass ``crs="gcj02"`` if a base map shows otherwise.
    """
    raw = pl.read_csv(
        path,
        schema_overrides={
            "longitude": pl.Float64,
            "latitude": pl.Float64,
            "timestamp": pl.Utf8,
            "name_id": pl.Utf8,
        },
    )
    lon, lat = to_wgs84(raw["longitude"].to_numpy(), raw["latitude"].to_numpy(), crs)
    return raw.select(
        pl.col("name_id").alias("plate"),
        pl.col("timestamp").str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us").alias("ts"),
        pl.Series("lon", np.asarray(lon, dtype=np.float64)),
        pl.Series("lat", np.asarray(lat, dtype=np.float64)),
        pl.lit(None, dtype=pl.Float64).alias("speed_kmh"),
    )
