"""Vectorised readers for values as agencies write them.

Every function returns a polars expression that maps a raw column (string, or already typed
when the file was Parquet or Excel) to the canonical type, giving null where the value cannot
be read. The caller compares raw and parsed to tell "absent" from "unreadable" and reports the
latter; nothing here raises on a bad value, so one typo never stops a file.

Why regexes rather than a list of strptime formats: the same column mixes 2021-08-31,
2021/8/31, 2021年8月31日 and Excel serials, and polars' format inference picks one format
per column. Normalising to one shape first reads all of them in one pass.
"""

from __future__ import annotations

import polars as pl

from screening.schema import SECTIONS

_DATE_RE = (
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T]+(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2}))?(?:\.\d+)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_NUMBER_RE = r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*[a-zA-Z千伏安瓦时度吨公里/]*$"
PLAIN_NUMBER_RE = r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"  # ASCII digits only
_EXCEL_EPOCH = pl.datetime(1899, 12, 30)


# control characters a value never means (NUL from a C export, a stray BEL): never kept,
# so that "3400\x00001" is the meter 3400001 and no NUL reaches an id, a form or a map
CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def clean_text(e: pl.Expr) -> pl.Expr:
    """NFKC (full-width digits and letters to half width), control characters removed,
    trimmed, empty as null."""
    s = e.cast(pl.String).str.normalize("NFKC").str.replace_all(CONTROL, "").str.strip_chars()
    return pl.when(s.str.len_chars() == 0).then(None).otherwise(s)


def clean_code(e: pl.Expr) -> pl.Expr:
    """Identifiers: as text, upper case, no inner spaces ("C 2614 " -> "C2614").

    Integral floats from spreadsheets ("1001.0") lose the ".0" they never had."""
    s = clean_text(e).str.to_uppercase().str.replace_all(r"\s+", "")
    return s.str.replace(r"^(\d+)\.0$", "${1}")


def to_float(e: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_numeric():
        return e.cast(pl.Float64)
    return e.cast(pl.String).map_batches(_floats, return_dtype=pl.Float64)


def _slow_float(e: pl.Expr) -> pl.Expr:
    """Any number as people write it: full-width digits, thousands commas, a unit after it."""
    s = clean_text(e).str.replace_all(r"[,\s]", "")
    return s.str.extract(_NUMBER_RE, 1).cast(pl.Float64, strict=False)


def _floats(values: pl.Series) -> pl.Series:
    """Plain numbers ("327.5", a CSV export's 10^8 readings) cast at once; only the others go
    through the full reading (six string passes over 5 M readings took 4 s a batch). A
    plain number reads the same either way."""
    plain = values.str.contains(PLAIN_NUMBER_RE).fill_null(False)
    out = values.cast(pl.Float64, strict=False)
    other = (~plain & values.is_not_null()).arg_true()
    if other.len():
        slow = pl.select(_slow_float(pl.lit(values.gather(other)))).to_series()
        out = out.scatter(other, slow)
    return out


def _norm_date_text(e: pl.Expr) -> pl.Expr:
    return (
        clean_text(e)
        .str.replace_all(r"[年月/]", "-")
        .str.replace(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})", "${1}-${2}-${3}")
        .str.replace_all(r"[日号]", " ")
        .str.replace(r"^(\d{4})(\d{2})(\d{2})$", "${1}-${2}-${3}")
        .str.strip_chars()
    )


def _assemble(parts: pl.Expr, with_time: bool) -> pl.Expr:
    """Zero-pad the regex groups and let strptime reject impossible dates (Feb 30)."""
    f = parts.struct.field
    dash, colon = pl.lit("-"), pl.lit(":")
    pieces = [f("1"), dash, f("2").str.zfill(2), dash, f("3").str.zfill(2)]
    if with_time:
        pieces += [
            pl.lit(" "),
            f("4").fill_null("0").str.zfill(2),
            colon,
            f("5").fill_null("0").str.zfill(2),
            colon,
            f("6").fill_null("0").str.zfill(2),
        ]
        return pl.concat_str(pieces).str.strptime(
            pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False
        )
    return pl.concat_str(pieces).str.strptime(pl.Date, "%Y-%m-%d", strict=False)


Years = tuple[int, int]  # (ingest.min_year, ingest.max_year): outside them a date is a typo


def _plausible_years(e: pl.Expr, years: Years) -> pl.Expr:
    return pl.when(e.dt.year().is_between(*years)).then(e).otherwise(None)


def _strptime_formats(s: pl.Series, dtype: pl.DataType, formats: tuple[str, ...]) -> pl.Series:
    out = pl.Series(s.name, [None] * len(s), dtype=dtype)
    for fmt in formats:
        need = out.is_null() & s.is_not_null()
        if not need.any():
            break
        out = pl.select(
            pl.when(need).then(s.str.strptime(dtype, fmt, strict=False)).otherwise(out)
        ).to_series()
    return out


def _fast_then_slow(
    s: pl.Series,
    dtype: pl.DataType,
    formats: tuple[str, ...],
    slow: pl.Expr,
    date_order: str = "auto",
) -> pl.Series:
    """Parse with exact formats first; only the values they miss go through ``slow``.

    The general regex path is ~70x slower than strptime, and in real files nearly every value
    has the file's one format: this keeps the common case at strptime speed. Values written
    with the year last (1/2/2018) are turned year-first by the column's day/month order
    (see year_last_order) and then take the fast path too."""
    out = _strptime_formats(s, dtype, formats)
    need = out.is_null() & s.is_not_null()
    if need.any():
        idx = need.arg_true()
        rest = _year_last_to_iso(s.gather(idx), date_order)
        got = _strptime_formats(rest, dtype, formats)
        still = got.is_null() & rest.is_not_null()
        if still.any():
            at = still.arg_true()
            got = got.scatter(at, pl.DataFrame({"v": rest.gather(at)}).select(slow).to_series())
        out = out.scatter(idx, got)
    return out.alias(s.name)


# ---------------------------------------------------------------- dates with the year last

DATE_ORDERS = ("auto", "dmy", "mdy")
_YEAR_LAST_RE = r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(.*)$"


def _year_last_parts(values: pl.Series) -> pl.DataFrame:
    text = pl.DataFrame({"v": values.cast(pl.String)}).select(
        clean_text(pl.col("v")).str.extract_groups(_YEAR_LAST_RE).alias("g"),
        pl.col("v"),
    )
    g = pl.col("g").struct.field
    return text.select(
        "v",
        g("1").cast(pl.Int32, strict=False).alias("a"),
        g("2").cast(pl.Int32, strict=False).alias("b"),
        g("3").alias("y"),
        g("4").alias("rest"),
    )


def _only_day_first() -> pl.Expr:
    """A value that is a date only when read day first (13/1/2018; not 32/1 or 13/13)."""
    return pl.col("a").is_between(13, 31) & pl.col("b").is_between(1, 12)


def _only_month_first() -> pl.Expr:
    return pl.col("b").is_between(13, 31) & pl.col("a").is_between(1, 12)


def year_last_order(values: pl.Series) -> tuple[str | None, str | None]:
    """How a column writes dates with the year last, decided over the whole column as a
    person reading it would: ``"dmy"`` when some value's first field is a day above 12 (13/1/2018)
    and no value's second field is, ``"mdy"`` the other way round, ``"ambiguous"`` when every
    value could be either (1/2/2018 throughout), ``"mixed"`` when the column proves both;
    ``None`` when no value has the year last. Returns (order, an ambiguous value or None)."""
    p = _year_last_parts(values).filter(pl.col("y").is_not_null())
    if p.height == 0:
        return None, None
    day_first = bool(p.select(_only_day_first().any()).item())
    month_first = bool(p.select(_only_month_first().any()).item())
    if day_first and not month_first:
        return "dmy", None
    if month_first and not day_first:
        return "mdy", None
    unsure = p.filter((pl.col("a") <= 12) & (pl.col("b") <= 12))["v"]
    return ("mixed" if day_first else "ambiguous"), (unsure[0] if unsure.len() else None)


def _year_last_to_iso(values: pl.Series, date_order: str) -> pl.Series:
    """Year-last values rewritten year-first ("13/1/2018 0:15" -> "2018-1-13 0:15"); other
    values unchanged. The order is ``date_order`` when the bundle names one, else the column's
    own (year_last_order). Where the column proves no single order, a value is read only if
    it can be read one way only (13/1/2018); 1/2/2018 is then left unread, and reported by
    the caller, rather than guessed."""
    if date_order not in DATE_ORDERS:
        raise ValueError(f"date_order must be one of {', '.join(DATE_ORDERS)}: {date_order!r}")
    order = date_order if date_order != "auto" else year_last_order(values)[0]
    if order is None:
        return values
    a, b = pl.col("a").cast(pl.String), pl.col("b").cast(pl.String)
    if order == "dmy":
        day_first: pl.Expr = pl.lit(True)
    elif order == "mdy":
        day_first = pl.lit(False)
    else:
        day_first = (
            pl.when(_only_day_first())
            .then(True)
            .when(_only_month_first())
            .then(False)
            .otherwise(None)
        )
    iso = pl.concat_str(
        pl.col("y"),
        pl.lit("-"),
        pl.when(day_first).then(b).otherwise(a),
        pl.lit("-"),
        pl.when(day_first).then(a).otherwise(b),
        pl.col("rest"),
    )
    return (
        _year_last_parts(values)
        .select(
            pl.when(pl.col("y").is_not_null() & day_first.is_not_null())
            .then(iso)
            .otherwise(pl.col("v"))
        )
        .to_series()
        .alias(values.name)
    )


def to_date(e: pl.Expr, dtype: pl.DataType, years: Years, date_order: str = "auto") -> pl.Expr:
    """Dates in any of the forms the contract lists, or an Excel serial day number; dates
    with the year last (31/8/2021, 8/31/2021) in the column's day/month order (or the
    bundle's ``date_order``)."""
    if dtype == pl.Date:
        return _plausible_years(e, years)
    if isinstance(dtype, pl.Datetime):
        return _plausible_years(e.dt.date(), years)
    if dtype.is_numeric():
        serial = e.cast(pl.Float64)
        return _plausible_years(
            pl.when(serial.is_between(1, 2958465)).then(
                (_EXCEL_EPOCH + pl.duration(days=serial.floor().cast(pl.Int64))).dt.date()
            ),
            years,
        )
    v = pl.col("v")
    text = _norm_date_text(v)
    serial = clean_text(v).str.extract(r"^(\d{5})(?:\.\d+)?$", 1).cast(pl.Int64, strict=False)
    parsed = _assemble(text.str.extract_groups(_DATE_RE), with_time=False)
    from_serial = (_EXCEL_EPOCH + pl.duration(days=serial)).dt.date()
    slow = pl.when(serial.is_not_null()).then(from_serial).otherwise(parsed)
    fast = e.cast(pl.String).map_batches(
        lambda s: _fast_then_slow(s, pl.Date(), ("%Y-%m-%d",), slow, date_order),
        return_dtype=pl.Date,
    )
    return _plausible_years(fast, years)


def to_datetime(
    e: pl.Expr, dtype: pl.DataType, timezone: str, years: Years, date_order: str = "auto"
) -> pl.Expr:
    """Local naive timestamps. Values with an offset (or epoch seconds, which are UTC) are
    converted to the bundle's timezone, so that "night" means night where the meter is.
    Year-last dates as in to_date."""
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            return _plausible_years(
                e.dt.convert_time_zone(timezone).dt.replace_time_zone(None).dt.cast_time_unit("us"),
                years,
            )
        return _plausible_years(e.dt.cast_time_unit("us"), years)
    if dtype == pl.Date:
        return _plausible_years(e.cast(pl.Datetime("us")), years)
    if dtype.is_numeric():
        return _plausible_years(_from_number(e.cast(pl.Float64), timezone), years)
    v = pl.col("v")
    text = _norm_date_text(v)
    groups = text.str.extract_groups(_DATE_RE)
    naive = _assemble(groups, with_time=True)
    offset = groups.struct.field("7")
    sign = pl.when(offset.str.starts_with("-")).then(-1).otherwise(1)
    digits = offset.str.replace_all(r"[^0-9]", "")
    offset_min = sign * (
        digits.str.slice(0, 2).cast(pl.Int64, strict=False) * 60
        + digits.str.slice(2, 2).cast(pl.Int64, strict=False)
    )
    utc = naive - pl.duration(minutes=pl.when(offset == "Z").then(0).otherwise(offset_min))
    local_from_utc = (
        utc.dt.replace_time_zone("UTC").dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    )
    # a number, but not an 8-digit 20210831, which is a date
    number = (
        clean_text(v)
        .str.extract(r"^(\d{1,7}(?:\.\d+)?|\d{9,}(?:\.\d+)?)$", 1)
        .cast(pl.Float64, strict=False)
    )
    slow = (
        pl.when(number.is_not_null())
        .then(_from_number(number, timezone))
        .when(offset.is_not_null())
        .then(local_from_utc)
        .otherwise(naive)
    )
    formats = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
    dtype_out = pl.Datetime("us")
    fast = e.cast(pl.String).map_batches(
        lambda s: _fast_then_slow(s, dtype_out, formats, slow, date_order),
        return_dtype=dtype_out,
    )
    return _plausible_years(fast, years)


def _from_number(x: pl.Expr, timezone: str) -> pl.Expr:
    """Excel serial days (with a fraction for the time of day), or Unix epoch seconds or
    milliseconds as GPS devices send them (those are UTC)."""
    epoch_s = pl.when(x >= 1e12).then(x / 1000).otherwise(x)
    from_epoch = (
        pl.from_epoch((epoch_s * 1_000_000).cast(pl.Int64), time_unit="us")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(timezone)
        .dt.replace_time_zone(None)
    )
    from_serial = _EXCEL_EPOCH + pl.duration(
        microseconds=(x * 86_400_000_000).round(0).cast(pl.Int64)
    )
    return (
        pl.when(x.is_between(1, 2958465))
        .then(from_serial.dt.cast_time_unit("us"))
        .when(x >= 1e8)
        .then(from_epoch)
        .otherwise(None)
    )


def to_category(e: pl.Expr, vocabulary: dict[str, tuple[str, ...]]) -> pl.Expr:
    """Map free text onto canonical values by the words it contains, longest word first, so
    that 非居民 wins over 居民 and 一般工商业 over 工业."""
    text = clean_text(e).str.to_lowercase()
    pairs = sorted(
        ((word.lower(), value) for value, words in vocabulary.items() for word in words),
        key=lambda p: -len(p[0]),
    )
    out: pl.Expr = pl.lit(None, dtype=pl.String)
    for word, value in reversed(pairs):
        out = pl.when(text.str.contains(word, literal=True)).then(pl.lit(value)).otherwise(out)
    return out


def to_industry_code(e: pl.Expr) -> pl.Expr:
    """GB/T 4754-2017 codes with their section letter: "2614" and "c2614" become "C2614".
    A letter that contradicts the division, or a code that is not 2-4 digits, gives null."""
    code = clean_code(e).str.replace_all(r"[^0-9A-Z]", "")
    digits = code.str.extract(r"^[A-T]?(\d{2,4})$", 1)
    given = code.str.extract(r"^([A-T])\d{2,4}$", 1)
    division = digits.str.slice(0, 2).cast(pl.Int64, strict=False)
    section: pl.Expr = pl.lit(None, dtype=pl.String)
    for letter, lo, hi in SECTIONS:
        section = pl.when(division.is_between(lo, hi)).then(pl.lit(letter)).otherwise(section)
    consistent = given.is_null() | (given == section)
    return pl.when(section.is_not_null() & consistent).then(section + digits).otherwise(None)


def to_plate(e: pl.Expr) -> pl.Expr:
    """Plates as one token: 皖L·A1234, 皖l a1234 and 皖L-A1234 are the same truck."""
    return clean_code(e).str.replace_all(r"[·•.\-_\s]", "")


def to_cargo_class(e: pl.Expr, vocabulary: dict[str, tuple[str, ...]]) -> pl.Expr:
    """The UN class (major number) of a cargo written as a class ("3", "第3类", "2.1") or as
    a substance name (柴油); null when neither is recognisable."""
    text = clean_text(e)
    numeric = text.str.extract(r"^(?:第|class\s*)?\s*([1-9])(?:\.\d)?\s*类?$", 1)
    return pl.coalesce(numeric, to_category(text, vocabulary))
