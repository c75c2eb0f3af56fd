"""Coordinate systems used in Chinese data: WGS-84, GCJ-02 ("Mars" coordinates) and BD-09.

pyproj does not know GCJ-02: it is an obfuscation defined by the published transform below
(the one every open implementation uses), not a datum. Map products in China store GCJ-02,
Baidu stores BD-09; both sit several hundred metres from WGS-84, which is enough to put a
meter on the neighbour's plot. Everything downstream of ingest is WGS-84.

All functions are vectorised over numpy arrays (scalars work too) and leave points outside
China untouched, as the published transform does. The inverse of GCJ-02 has no closed form;
it is solved by fixed-point iteration, which converges to well under a millimetre.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from pyproj import Transformer

Crs = Literal["wgs84", "gcj02", "bd09"]
CRS_NAMES: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the published GCJ-02 transform
_EE = 0.00669342162296594323  # its eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

Arr = npt.NDArray[np.float64]

# Rough bounding box of China's territory; the ingest range check uses the same box.
CHINA_LON = (73.4, 135.1)
CHINA_LAT = (3.8, 53.6)


def in_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True where a point lies in the box the GCJ-02 transform applies to."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _delta(lon: Arr, lat: Arr) -> tuple[Arr, Arr]:
    x = lon - 105.0
    y = lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Arr, Arr]:
    """Forward GCJ-02 transform (the published formula)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, iterations: int = 6) -> tuple[Arr, Arr]:
    """Inverse GCJ-02 by fixed-point iteration: the offset varies slowly, so each step
    removes most of the remaining error (six steps reach about 1e-9 degrees)."""
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(iterations):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        wlon = wlon - (flon - glon)
        wlat = wlat - (flat - glat)
    inside = in_china(glon, glat)
    return np.where(inside, wlon, glon), np.where(inside, wlat, glat)


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Arr, Arr]:
    """Baidu's published BD-09 transform, applied on top of GCJ-02."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Arr, Arr]:
    """Inverse of :func:`gcj02_to_bd09` (closed form to about a metre, as published)."""
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Arr, Arr]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Arr, Arr]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: str) -> tuple[Arr, Arr]:
    """Convert from a bundle's declared CRS to WGS-84 (NaN stays NaN)."""
    if crs == "wgs84":
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if crs == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if crs == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ValueError(f"unknown crs {crs!r}: expected one of {', '.join(CRS_NAMES)}")


def from_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: str) -> tuple[Arr, Arr]:
    """The opposite of :func:`to_wgs84`, used to write bundles in a declared CRS."""
    if crs == "wgs84":
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if crs == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if crs == "bd09":
        return wgs84_to_bd09(lon, lat)
    raise ValueError(f"unknown crs {crs!r}: expected one of {', '.join(CRS_NAMES)}")


def haversine_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> Arr:
    """Great-circle distance in metres; accurate enough for tens of metres to tens of km."""
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371008.8 * np.arcsin(np.sqrt(a))


def utm_epsg(lon: float) -> int:
    """A projected CRS for metric work near ``lon``: the UTM north zone it falls in
    (EPSG:326xx). Chosen by longitude rather than fixed, as a province can span two zones."""
    zone = int((lon + 180.0) // 6.0) + 1
    return 32600 + zone


@lru_cache(maxsize=8)
def _to_utm(epsg: int) -> Transformer:
    return Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)


def project_m(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 positions in metres, in the UTM zone of their median longitude: the one
    projection every distance computation shares (linking, places, surroundings), so that
    two stages cannot measure one pair of records differently. Missing positions stay NaN."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    ok = ~np.isnan(lon)
    centre = float(np.nanmedian(lon)) if ok.any() else 117.0
    x, y = _to_utm(utm_epsg(centre)).transform(lon, lat)
    return np.asarray(x), np.asarray(y)


def stable_ids(prefix: str, text: pl.Series) -> pl.Series:
    """Ids from sha1 of the text: unlike polars' hash they do not change between library
    versions, which the ledger relies on. One hash per distinct value (sites, places, not
    readings)."""
    uniq = text.unique().drop_nulls().to_list()
    table = {u: prefix + hashlib.sha1(u.encode()).hexdigest()[:10].upper() for u in uniq}
    return text.replace_strict(table, default=None, return_dtype=pl.String)
