"""Chinese addresses reduced to a key that is equal when two agencies mean the same place.

"安徽省宿州市埇桥区桃园镇工业园区纬二路18号", "桃园镇工业园纬二路18#" and
"埇桥区桃园镇工业园区纬二路十八号" are one gate. The key drops the province/city/county
prefix (every record in a county bundle shares it, and half the agencies omit it), folds
full-width characters, Chinese numerals, 号/#, 工业园区/工业园 and punctuation. Keys are for
matching only; people see the address as written.
"""

from __future__ import annotations

import polars as pl

from screening.ingest.parse import clean_text

_DIGITS = {
    "〇": "0",
    "零": "0",
    "一": "1",
    "二": "2",
    "两": "2",
    "三": "3",
    "四": "4",
    "五": "5",
    "六": "6",
    "七": "7",
    "八": "8",
    "九": "9",
}
_SYNONYMS = {
    "工业园区": "工业园",
    "工业集中区": "工业园",
    "开发区": "工业园",
    "#": "号",
    "號": "号",
    "社区": "村",
    "居委会": "村",
    "村委会": "村",
    "村民组": "组",
    "村民小组": "组",
    "附近": "",
    "对面": "",
    "旁边": "",
    "院内": "",
}
# everything up to and including the county, when a township follows
_PREFIX = r"^.*?(?:省|市|县|区)([^省市县区]{1,6}?(?:镇|乡|街道).*)$"
# the county alone ("宿州市埇桥区XX路18号" without a township)
_SHORT_PREFIX = r"^(?:[^省]{2,3}省)?(?:[^市]{2,3}市)?(?:[^县区]{2,3}(?:县|区))?"


def address_key(e: pl.Expr) -> pl.Expr:
    """Normalised matching key for an address column (null stays null)."""
    s = clean_text(e).str.replace_all(r"[\s,，。．、;；:：()（）\[\]【】\"'“”‘’\-－—_/·]", "")
    s = s.str.replace_many(list(_SYNONYMS), list(_SYNONYMS.values()))
    s = s.str.replace_many(list(_DIGITS), list(_DIGITS.values()))
    s = (
        s.str.replace_all(r"(\d)十(\d)", "${1}${2}")
        .str.replace_all(r"(\d)十", "${1}0")
        .str.replace_all(r"十(\d)", "1${1}")
        .str.replace_all("十", "10")
    )
    with_township = s.str.extract(_PREFIX, 1)
    s = pl.coalesce(with_township, s.str.replace(_SHORT_PREFIX, ""))
    return pl.when(s.str.len_chars() > 0).then(s.str.to_lowercase()).otherwise(None)


def township_of(e: pl.Expr) -> pl.Expr:
    """The township named in an address key (…镇, …乡 or …街道), if any."""
    return e.str.extract(r"^([^镇乡]{1,6}?(?:镇|乡|街道))", 1)


def name_key(e: pl.Expr) -> pl.Expr:
    """Company and person names for fuzzy matching: no place prefix, no legal form."""
    s = clean_text(e).str.replace_all(r"[\s()（）·]", "")
    s = s.str.replace(r"^(?:[^省]{2,3}省)?(?:[^市]{2,3}市)?(?:[^县区]{2,3}(?:县|区))?", "")
    return s.str.replace(r"(?:股份)?(?:有限责任公司|有限公司|公司|厂|店|合作社|经营部|商行)$", "")
