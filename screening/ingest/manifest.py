"""The bundle's manifest.toml: region, screening date, timezone, CRS, day/month order and
header renames.

Every key is optional (CONTRACT.md gives the defaults). A manifest that names an unknown CRS
or timezone is an error for the whole bundle, because every timestamp or coordinate read
under a wrong assumption would be wrong in a way no row check could notice.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from screening.coords import CRS_NAMES
from screening.ingest.parse import DATE_ORDERS
from screening.schema import SOURCES, TIMEZONE


class ManifestError(ValueError):
    pass


# the keys of manifest.toml (docs/CONTRACT.md): anything else is reported and ignored
MANIFEST_KEYS = {
    "region": "free text, printed on reports",
    "as_of": "screening date YYYY-MM-DD; nothing dated after it is used (default: the last day "
    "the readings cover); one after that day or ahead of today is refused unless "
    "`--force-as-of`",
    "timezone": "all naive timestamps are local time here",
    "crs": "coordinates in every file",
    "date_order": "dates written with the year last (`1/2/2018`): `dmy`, `mdy`, or `auto` (a "
    "column's own values decide; one that never shows a day above 12 is not guessed)",
    "columns": 'optional header renames per source: `[columns] power_readings = { "户号" = '
    '"account_id" }`',
}


@dataclass(frozen=True)
class Manifest:
    region: str = "sample county"
    as_of: dt.date | None = None  # None: the latest reading decides
    timezone: str = TIMEZONE
    crs: str = "wgs84"
    # dates written with the year last (1/2/2018): "dmy", "mdy", or "auto" (each column's
    # own values decide; a column that never shows a day above 12 is not guessed)
    date_order: str = "auto"
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def read_manifest(bundle: Path) -> Manifest:
    path = bundle / "manifest.toml"
    if not path.exists():
        return Manifest()
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"{path}: not valid UTF-8 TOML: {exc}") from exc
    warnings = [f"{path.name}: unknown key {k!r} ignored" for k in data if k not in MANIFEST_KEYS]

    as_of = data.get("as_of")
    if isinstance(as_of, str):
        try:
            as_of = dt.date.fromisoformat(as_of.strip())
        except ValueError as exc:
            raise ManifestError(f"{path.name}: as_of {as_of!r} is not a date (YYYY-MM-DD)") from exc
    elif isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    elif as_of is not None and not isinstance(as_of, dt.date):
        raise ManifestError(f"{path.name}: as_of must be a date, got {as_of!r}")

    timezone = str(data.get("timezone", TIMEZONE)).strip()
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ManifestError(f"{path.name}: unknown timezone {timezone!r}") from exc

    crs = str(data.get("crs", "wgs84")).strip().lower().replace("-", "").replace("_", "")
    crs = {"wgs": "wgs84", "gcj": "gcj02", "bd": "bd09", "epsg4326": "wgs84"}.get(crs, crs)
    if crs not in CRS_NAMES:
        raise ManifestError(f"{path.name}: crs {crs!r} is not one of {', '.join(CRS_NAMES)}")

    date_order = str(data.get("date_order", "auto")).strip().lower()
    if date_order not in DATE_ORDERS:
        raise ManifestError(
            f"{path.name}: date_order {date_order!r} is not one of {', '.join(DATE_ORDERS)}"
        )

    columns: dict[str, dict[str, str]] = {}
    for source, renames in (data.get("columns") or {}).items():
        if source not in SOURCES:
            warnings.append(f"{path.name}: [columns] names unknown source {source!r}; ignored")
            continue
        if not isinstance(renames, dict):
            raise ManifestError(f"{path.name}: [columns].{source} must be a table of renames")
        columns[source] = {str(k): str(v) for k, v in renames.items()}

    return Manifest(
        region=str(data.get("region", "sample county")),
        as_of=as_of,
        timezone=timezone,
        crs=crs,
        date_order=date_order,
        columns=columns,
        warnings=tuple(warnings),
    )
