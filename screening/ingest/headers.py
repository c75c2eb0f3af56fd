"""Header matching: canonical names, Chinese aliases and manifest renames onto one name.

Agencies write 户号, "户 号", 户号（编号）, ＡＣＣＯＵＮＴ_ＩＤ: matching ignores case, width,
surrounding and inner spaces, underscores, and a unit or note in brackets.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from screening.schema import Source

_BRACKETS = re.compile(r"\(.*?\)|\[.*?\]|【.*?】")
_SEPARATORS = re.compile(r"[\s_\-·.]+")

# Wide reading layouts: hour columns h00..h23 (also h0, 0时, 00:00) and 96-point p01..p96.
HOUR_COLUMN = re.compile(r"^(?:h(\d{1,2})|(\d{1,2})(?:时|点)|(\d{1,2}):00)$")
POINT_COLUMN = re.compile(r"^p(\d{1,2})$")
DATE_ALIASES = ("date", "日期", "数据日期", "抄表日期")


def norm_header(header: object) -> str:
    text = unicodedata.normalize("NFKC", str(header)).strip().lower()
    text = _BRACKETS.sub("", text)
    return _SEPARATORS.sub("", text)


def hour_of(header: str) -> int | None:
    """The hour (0-23) a wide-hourly column holds, or None."""
    text = unicodedata.normalize("NFKC", str(header)).strip().lower()
    m = HOUR_COLUMN.match(text)
    if not m:
        return None
    hour = int(next(g for g in m.groups() if g is not None))
    return hour if 0 <= hour <= 23 else None


def point_of(header: str) -> int | None:
    """The 15-minute point (1-96) a wide-96 column holds, or None."""
    m = POINT_COLUMN.match(unicodedata.normalize("NFKC", str(header)).strip().lower())
    if not m:
        return None
    point = int(m.group(1))
    return point if 1 <= point <= 96 else None


@dataclass
class HeaderMap:
    mapping: dict[str, str]  # original header -> canonical name
    unknown: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)  # second header for one canonical name


def lookup(source: Source, renames: dict[str, str] | None = None) -> dict[str, str]:
    """Normalised header -> canonical name for one source (manifest renames win)."""
    table: dict[str, str] = {}
    for col in source.columns:
        for alias in (col.name, *col.aliases):
            table.setdefault(norm_header(alias), col.name)
    if source.name == "power_readings":
        for alias in DATE_ALIASES:
            table.setdefault(norm_header(alias), "date")
    for raw, canonical in (renames or {}).items():
        table[norm_header(raw)] = canonical
    return table


def positions(
    headers: Sequence[str], source: Source, renames: dict[str, str] | None = None
) -> list[str | None]:
    """The canonical name each header names, column by column (None: not a contract
    column). A name may appear twice: the caller decides what a repeat means."""
    table = lookup(source, renames)
    out: list[str | None] = []
    for header in headers:
        canonical = table.get(norm_header(header))
        if canonical is None and source.name == "power_readings":
            hour, point = hour_of(header), point_of(header)
            if hour is not None:
                canonical = f"h{hour:02d}"
            elif point is not None:
                canonical = f"p{point:02d}"
        out.append(canonical)
    return out


def map_headers(
    headers: Sequence[str],
    source: Source,
    renames: dict[str, str] | None = None,
) -> HeaderMap:
    result = HeaderMap(mapping={})
    taken: set[str] = set()
    for header, canonical in zip(headers, positions(headers, source, renames), strict=True):
        if canonical is None:
            result.unknown.append(header)
        elif canonical in taken:
            result.repeated.append(header)
        else:
            taken.add(canonical)
            result.mapping[header] = canonical
    return result


def canonical_name(header: str, source: Source, renames: dict[str, str] | None = None) -> str:
    """The contract's name for one header as written, or the header itself when it names
    no column (problem rows name fields the way the contract does)."""
    return map_headers([header], source, renames).mapping.get(header, header)


def score(headers: Sequence[object], source: Source, renames: dict[str, str] | None = None) -> int:
    """How many cells of a candidate header row name a known column: finds the header row
    under a title line in spreadsheets."""
    return len(map_headers([str(h) for h in headers if h is not None], source, renames).mapping)
