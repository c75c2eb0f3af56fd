import datetime as dt

import polars as pl
import pytest

from screening.ingest import parse
from screening.schema import CARGO_CLASSES, PERMIT_KINDS, TARIFFS
from screening.settings import load_settings

_INGEST = load_settings().ingest
YEARS = (_INGEST.min_year, _INGEST.max_year)


def to_date(e, t):
    return parse.to_date(e, t, YEARS)


def _one(expr_fn, values, dtype=pl.String):
    df = pl.DataFrame({"v": values}, schema={"v": dtype})
    return df.select(expr_fn(pl.col("v"), df.schema["v"]).alias("o"))["o"].to_list()


def test_dates_in_every_written_form():
    got = _one(
        to_date,
        [
            "2021-08-31",
            "2021/8/31",
            "2021年8月31日",
            "44439",
            "20210831",
            "２０２１-０８-３１",
            "2021.8.31",
            "2021-02-30",
            "abc",
            None,
            "1900-01-01",
        ],
    )
    d = dt.date(2021, 8, 31)
    assert got == [d, d, d, d, d, d, d, None, None, None, None]


def test_dates_from_typed_columns():
    assert _one(to_date, [44439.0], pl.Float64) == [dt.date(2021, 8, 31)]
    assert _one(to_date, [dt.datetime(2021, 8, 31, 5)], pl.Datetime("us")) == [dt.date(2021, 8, 31)]


def test_timestamps_are_local_time():
    def f(e, t):
        return parse.to_datetime(e, t, "Asia/Shanghai", YEARS)

    got = _one(
        f,
        [
            "2021-08-31 13:05:00",
            "2021/8/31 13:05",
            "2021-08-31T05:05:00Z",
            "2021-08-31T13:05:00+08:00",
            "1630386300",
            "1630386300000",
            "44439.5",
            "2021-08-31 25:00:00",
            "late",
        ],
    )
    t = dt.datetime(2021, 8, 31, 13, 5)
    assert got[:6] == [t, t, t, t, t, t]
    assert got[6] == dt.datetime(2021, 8, 31, 12)
    assert got[7:] == [None, None]


def test_timestamps_with_timezone_dtype_are_converted():
    df = pl.DataFrame({"v": [dt.datetime(2021, 8, 31, 5, 5)]}).with_columns(
        pl.col("v").dt.replace_time_zone("UTC")
    )
    out = df.select(parse.to_datetime(pl.col("v"), df.schema["v"], "Asia/Shanghai", YEARS))
    assert out.item() == dt.datetime(2021, 8, 31, 13, 5)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("大工业用电", "industrial"),
        ("一般工商业", "commercial"),
        ("居民生活用电", "residential"),
        ("非居民照明", "commercial"),
        ("农业排灌", "agricultural"),
        ("Industrial", "industrial"),
        ("其他", None),
    ],
)
def test_tariffs(raw, want):
    assert _one(lambda e, t: parse.to_category(e, TARIFFS), [raw]) == [want]


def test_permit_kinds_prefer_the_specific_word():
    got = _one(
        lambda e, t: parse.to_category(e, PERMIT_KINDS),
        ["成品油零售经营批准证书", "安全生产许可证", "危险化学品经营许可证", "使用许可", "storage"],
    )
    assert got == ["fuel", "production", "operation", "use", "storage"]


def test_industry_codes_with_and_without_section():
    got = _one(
        lambda e, t: parse.to_industry_code(e),
        ["C2614", "2614", "c 2614", "５２６５", "A2614", "abc", None],
    )
    assert got == ["C2614", "C2614", "C2614", "F5265", None, None, None]


def test_numbers_with_units_and_full_width_digits():
    got = _one(parse.to_float, ["12.5", "1,234", "315kVA", "１２", "1e3", "abc", "-3"])
    assert got == [12.5, 1234.0, 315.0, 12.0, 1000.0, None, -3.0]


def test_plates_and_cargo_classes():
    assert (
        _one(lambda e, t: parse.to_plate(e), ["皖L·A1234", "皖l a1234", "皖L-A1234"])
        == ["皖LA1234"] * 3
    )
    got = _one(
        lambda e, t: parse.to_cargo_class(e, CARGO_CLASSES),
        ["3", "第8类", "2.1", "柴油", "硫酸", "液化石油气", "沙子"],
    )
    assert got == ["3", "8", "2", "3", "8", "2", None]


def test_fast_path_hands_leftovers_to_the_general_parser():
    """Mixed columns: most values in the common format, a few in others, one offset."""
    values = ["2021-08-31 13:05:00"] * 1000 + [
        "2021/8/31 13:05",
        "2021-08-31 05:05:00+00:00",
        "2021-08-31 13:05",
        None,
        "junk",
    ]
    got = _one(lambda e, t: parse.to_datetime(e, t, "Asia/Shanghai", YEARS), values)
    t = dt.datetime(2021, 8, 31, 13, 5)
    assert got[:1003] == [t] * 1003 and got[1003:] == [None, None]


def test_year_last_dates_are_read_in_their_columns_order():
    """A column with one day above 12 (13/1/2018) is day-first throughout; 32/1 and 13/13
    prove nothing and stay unread."""
    at = dt.datetime
    values = ["1/1/2018 0:15", "13/1/2018 0:15", "1/2/2018 0:15", "32/1/2018 0:15", "13/13/2018"]
    got = _one(lambda e, t: parse.to_datetime(e, t, "Asia/Shanghai", YEARS), values)
    assert got == [at(2018, 1, 1, 0, 15), at(2018, 1, 13, 0, 15), at(2018, 2, 1, 0, 15), None, None]
    # month-first: 1/13/2018 proves it
    got = _one(to_date, ["1/13/2018", "1/2/2018", "12.31.2018"])
    assert got == [dt.date(2018, 1, 13), dt.date(2018, 1, 2), dt.date(2018, 12, 31)]
    assert parse.year_last_order(pl.Series(values)) == ("dmy", None)
    assert parse.year_last_order(pl.Series(["2021-08-31"])) == (None, None)


def test_year_last_dates_without_evidence_are_not_guessed():
    """1/2/2018 throughout is 1 February or 2 January: unread unless the bundle says which;
    a column proving both orders keeps the values that can be read only one way."""
    ambiguous = ["1/2/2018 0:15", "3/4/2018 0:15"]
    assert parse.year_last_order(pl.Series(ambiguous)) == ("ambiguous", "1/2/2018 0:15")
    read = lambda order: _one(  # noqa: E731
        lambda e, t: parse.to_datetime(e, t, "Asia/Shanghai", YEARS, order), ambiguous
    )
    assert read("auto") == [None, None]
    assert read("dmy") == [dt.datetime(2018, 2, 1, 0, 15), dt.datetime(2018, 4, 3, 0, 15)]
    assert read("mdy") == [dt.datetime(2018, 1, 2, 0, 15), dt.datetime(2018, 3, 4, 0, 15)]
    mixed = ["13/1/2018", "1/13/2018", "5/6/2018"]
    assert parse.year_last_order(pl.Series(mixed)) == ("mixed", "5/6/2018")
    got = _one(to_date, mixed)
    assert got == [dt.date(2018, 1, 13), dt.date(2018, 1, 13), None]


def test_plain_numbers_cast_at_once_read_as_the_full_reading_does():
    """to_float casts plain ASCII numbers directly and reads only the others in full: the
    two agree on every value, in any order and mix."""
    from screening.ingest.parse import _slow_float, to_float

    values = ["327.5", "１２3", "1,234.5 kWh", "", " 7 ", None, "abc", "+5", "-3.", ".5"]
    values += ["1e5", "nan", "inf", "3.2度", "\x007", "٣", "0x10", "-0", "12.50"]
    s = pl.Series("v", values * 4, dtype=pl.String).shuffle(seed=3)
    fast = pl.select(to_float(pl.lit(s), pl.String)).to_series()
    full = pl.select(_slow_float(pl.lit(s))).to_series()
    assert fast.to_list() == full.to_list()
    assert fast.null_count() == full.null_count() > 0
