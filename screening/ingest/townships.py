"""Township boundaries and the oversight unit (包保单位) responsible for each.

Optional: without them a lead's township comes from its records' own township field. The
file follows the bundle's CRS like every other file and is converted to WGS-84.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import shapely

from screening.coords import to_wgs84
from screening.ingest.headers import norm_header
from screening.ingest.problems import PROBLEM_SCHEMA
from screening.ingest.readers import ReadError

TOWNSHIP_KEYS = {norm_header(k) for k in ("township", "乡镇", "所在乡镇", "name", "名称")}
UNIT_KEYS = {norm_header(k) for k in ("oversight_unit", "包保单位", "责任单位")}


def read_townships(path: Path, crs: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(townships with WKT geometry in WGS-84, problems)."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
        features = data["features"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ReadError(f"not a GeoJSON FeatureCollection: {exc}") from exc
    names, units, geoms, problems = [], [], [], []
    for i, feature in enumerate(features, start=1):
        props = {norm_header(k): v for k, v in (feature.get("properties") or {}).items()}
        name = next((str(v).strip() for k, v in props.items() if k in TOWNSHIP_KEYS and v), None)
        unit = next((str(v).strip() for k, v in props.items() if k in UNIT_KEYS and v), None)
        try:
            geom = shapely.from_geojson(json.dumps(feature.get("geometry")))
        except Exception:  # shapely raises GEOSException subclasses for bad geometry
            geom = None
        reason = None
        if name is None:
            reason = "feature has no township property"
        elif geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            reason = "geometry is not a polygon"
        if reason:
            problems.append(
                {
                    "source": "townships",
                    "file": path.name,
                    "row": i,
                    "field": "township" if name is None else "geometry",
                    "severity": "rejected",
                    "reason": reason,
                    "value": name,
                    "record": json.dumps(feature.get("properties"), ensure_ascii=False),
                }
            )
            continue
        names.append(name)
        units.append(unit)
        geoms.append(geom)
    arr = np.array(geoms, dtype=object)
    if crs != "wgs84" and len(arr):

        def _fn(xy: np.ndarray) -> np.ndarray:
            x, y = to_wgs84(xy[:, 0], xy[:, 1], crs)
            return np.column_stack([x, y])

        arr = shapely.transform(arr, _fn)
    arr = shapely.make_valid(arr) if len(arr) else arr
    frame = pl.DataFrame(
        {
            "township": names,
            "oversight_unit": units,
            "geometry": list(shapely.to_wkt(arr, rounding_precision=7)) if len(arr) else [],
        },
        schema={"township": pl.String, "oversight_unit": pl.String, "geometry": pl.String},
    )
    return frame, pl.DataFrame(problems, schema=PROBLEM_SCHEMA)
