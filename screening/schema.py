"""The data contract's sources, as data: canonical columns, their Chinese header aliases,
types and whether a row can live without them.

This is the one place that knows what a bundle holds (CONTRACT.md section 1). The ingest
reads it to map headers and check values; the sample generator reads it to write Chinese
headers; tests read it to build frames. Adding an alias here teaches every reader at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

# the contract's default: naive timestamps are local time here (manifest ``timezone``), and
# dates the product writes itself (a form's 填报日期, a night's run folder) are dates here
TIMEZONE = "Asia/Shanghai"

Kind = Literal["str", "float", "int", "date", "datetime", "code"]
POLARS_TYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "code": pl.String(),
    "float": pl.Float64(),
    "int": pl.Int64(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    aliases: tuple[str, ...] = ()
    required: bool = False
    """A row missing a required value is quarantined; an optional bad value is nulled and
    reported as a warning, so that one typo does not cost the whole record."""


@dataclass(frozen=True)
class Source:
    name: str
    title: str  # Chinese title, for reports
    columns: tuple[Column, ...]
    required: bool = True
    key: tuple[str, ...] = ()  # natural key: later rows repeating it are quarantined
    bulk: bool = False  # large time series: stored as Parquet beside the warehouse
    extra: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


LON = Column("lon", "float", ("经度", "longitude", "lng", "x坐标"))
LAT = Column("lat", "float", ("纬度", "latitude", "y坐标"))
ADDRESS = Column("address", "str", ("地址", "住所", "经营场所", "用电地址", "详细地址"))
USCC = Column("uscc", "code", ("统一社会信用代码", "社会信用代码", "信用代码"))

REGISTRATIONS = Source(
    "registrations",
    "市场主体登记",
    (
        USCC,
        Column("name", "str", ("企业名称", "名称", "主体名称"), required=True),
        Column("address", "str", ADDRESS.aliases, required=True),
        LON,
        LAT,
        Column("township", "str", ("所在乡镇", "乡镇", "乡镇街道")),
        Column("industry_code", "code", ("行业代码", "国民经济行业代码")),
        Column("scope", "str", ("经营范围",)),
        Column("status", "str", ("登记状态", "经营状态", "企业状态")),
        Column("established", "date", ("成立日期", "成立时间")),
        Column("legal_rep", "str", ("法定代表人", "负责人", "经营者")),
    ),
)

PERMITS = Source(
    "permits",
    "危险化学品许可",
    (
        Column("permit_id", "code", ("许可证编号", "证书编号", "编号")),
        Column("uscc", "code", USCC.aliases),
        Column("kind", "str", ("许可类型", "证书类型", "类型")),
        Column("scope", "str", ("许可范围",)),
        Column("valid_from", "date", ("有效期起", "有效期自", "发证日期")),
        Column("valid_to", "date", ("有效期止", "有效期至")),
        ADDRESS,
        LON,
        LAT,
    ),
    # one number per holder: the same number on another holder's row is another record
    key=("permit_id", "uscc"),
)

POWER_ACCOUNTS = Source(
    "power_accounts",
    "用电户档案",
    (
        Column("account_id", "code", ("户号", "用户编号", "用电户号"), required=True),
        Column("name", "str", ("户名", "用户名称")),
        ADDRESS,
        LON,
        LAT,
        Column("tariff", "str", ("用电类别", "电价类别")),
        Column("capacity_kva", "float", ("合同容量", "运行容量", "容量")),
        Column("phase", "int", ("相线", "相别", "接线方式")),
        Column("uscc", "code", USCC.aliases),
        Column("opened", "date", ("立户日期", "开户日期")),
    ),
    key=("account_id",),
)

# Readings come in three layouts; ingest tells them apart by the columns present and turns
# every layout into the long one.
POWER_READINGS = Source(
    "power_readings",
    "用电量",
    (
        Column("account_id", "code", ("户号", "用户编号", "用电户号"), required=True),
        Column("ts", "datetime", ("时间", "采集时间", "数据时间", "时刻"), required=True),
        Column("kwh", "float", ("电量", "用电量", "有功电量", "kwh"), required=True),
    ),
    bulk=True,
    extra={"date_aliases": "日期,数据日期,date"},
)

VEHICLES = Source(
    "vehicles",
    "危险货物运输车辆",
    (
        Column("plate", "code", ("车牌号", "车牌号码", "号牌"), required=True),
        Column("carrier", "str", ("所属企业", "运输企业", "业户名称")),
        Column("cargo", "str", ("运输介质", "危险货物类别", "介质", "货物类别")),
        Column("capacity_t", "float", ("核定载质量", "载重", "吨位")),
    ),
    key=("plate",),
    required=False,
)

VEHICLE_TRACKS = Source(
    "vehicle_tracks",
    "车辆轨迹",
    (
        Column("plate", "code", VEHICLES.column("plate").aliases, required=True),
        Column("ts", "datetime", ("定位时间", "时间", "gps时间"), required=True),
        Column("lon", "float", LON.aliases, required=True),
        Column("lat", "float", LAT.aliases, required=True),
        Column("speed_kmh", "float", ("速度", "车速")),
    ),
    bulk=True,
    required=False,
)

IDLE_PROPERTIES = Source(
    "idle_properties",
    "闲置场所",
    (
        Column("property_id", "code", ("场所编号", "编号")),
        Column("kind", "str", ("类型", "场所类型")),
        ADDRESS,
        LON,
        LAT,
        Column("owner", "str", ("权属人", "所有人", "产权人")),
        Column("since", "date", ("闲置时间", "起始时间", "闲置起始")),
        Column("geometry", "str", ("范围", "边界", "wkt")),
    ),
    key=("property_id",),
    required=False,
)

SANCTIONED_SITES = Source(
    "sanctioned_sites",
    '已查处"小化工"',
    (
        Column("case_id", "code", ("案件编号", "编号")),
        Column("name", "str", ("名称", "当事人")),
        ADDRESS,
        LON,
        LAT,
        Column("closed_on", "date", ("查处日期", "关闭日期", "取缔日期")),
        Column("measures", "str", ("处置措施", "采取的措施", "措施")),
    ),
    required=False,
    key=("case_id",),
)

TIPS = Source(
    "tips",
    "举报线索",
    (
        Column("tip_id", "code", ("线索编号", "编号")),
        Column("received", "date", ("受理日期", "举报日期", "接收时间")),
        Column("text", "str", ("举报内容", "内容")),
        ADDRESS,
        LON,
        LAT,
    ),
    required=False,
    key=("tip_id",),
)

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        REGISTRATIONS,
        PERMITS,
        POWER_ACCOUNTS,
        POWER_READINGS,
        VEHICLES,
        VEHICLE_TRACKS,
        IDLE_PROPERTIES,
        SANCTIONED_SITES,
        TIPS,
    )
}

TOWNSHIPS_FILE = "townships.geojson"

# The campaign's checks (CONTRACT.md §3), the category every lead falls under.
CATEGORIES: tuple[str, ...] = (
    "over_permit",  # 超许可范围
    "unlicensed_production",  # 非化工企业未经许可
    "no_licence",  # 无证无照
    "affiliated",  # 挂靠/租赁/厂中厂
    "idle_premises",  # 利用闲置厂房/民房
    "remote",  # 偏僻地区/养殖场/宕口
    "fuel_storage",  # 非法储存经营汽柴油
    "recurrence",  # 死灰复燃
)

# Canonical category values and the words agencies use for them. Matching is by substring
# on the NFKC-normalised, lower-cased value, in the order given (first hit wins), so longer,
# more specific words come first (成品油 before 经营).
PERMIT_KINDS: dict[str, tuple[str, ...]] = {
    "fuel": ("fuel", "成品油", "加油", "汽油", "柴油"),
    "production": ("production", "安全生产", "生产"),
    "storage": ("storage", "储存", "仓储", "存储"),
    "use": ("use", "使用"),
    "operation": ("operation", "经营", "批发", "零售"),
}

TARIFFS: dict[str, tuple[str, ...]] = {
    "industrial": ("industrial", "大工业"),
    "agricultural": ("agricultural", "农业", "排灌"),
    "residential": ("residential", "居民", "生活"),
    "commercial": ("commercial", "一般工商业", "工商业", "非居民", "商业", "非工业", "普通工业"),
}

IDLE_KINDS: dict[str, tuple[str, ...]] = {
    "abandoned_factory": ("abandoned_factory", "废弃厂房", "废弃工厂"),
    "idle_factory": ("idle_factory", "闲置厂房", "闲置仓库", "闲置工厂"),
    "closed_plant": ("closed_plant", "关停企业", "关停", "关闭企业"),
    "abandoned_farm": ("abandoned_farm", "废弃养殖场", "养殖场"),
    "idle_house": ("idle_house", "闲置民房", "民房", "闲置住房"),
    "quarry": ("quarry", "矿山宕口", "宕口", "矿山", "采石"),
}

REGISTRATION_STATUSES: dict[str, tuple[str, ...]] = {
    "注销": ("注销", "deregistered", "cancelled"),
    "吊销": ("吊销", "revoked"),
    "迁出": ("迁出", "moved", "moved out"),
    "停业": ("停业", "suspended", "歇业"),
    "存续": ("存续", "active", "在册", "正常"),
    "在业": ("在业", "在营", "开业", "operating", "open"),
}

PHASES: dict[str, tuple[str, ...]] = {
    "3": ("3", "三相", "380", "动力"),
    "1": ("1", "单相", "220"),
}

# Hazardous goods: UN class of the names agencies write instead of a class number.
CARGO_CLASSES: dict[str, tuple[str, ...]] = {
    "3": (
        "汽油",
        "柴油",
        "煤油",
        "甲醇",
        "乙醇",
        "酒精",
        "苯",
        "甲苯",
        "二甲苯",
        "丙酮",
        "油漆",
        "溶剂",
        "石脑油",
        "燃料油",
        "易燃液体",
        "gasoline",
        "diesel",
        "petrol",
    ),
    "2": (
        "液化石油气",
        "液化气",
        "lpg",
        "天然气",
        "lng",
        "cng",
        "氢气",
        "氧气",
        "氮气",
        "氩气",
        "液氨",
        "氯气",
        "乙炔",
        "气体",
    ),
    "8": ("硫酸", "盐酸", "硝酸", "氢氧化钠", "液碱", "烧碱", "氢氟酸", "磷酸", "冰醋酸", "腐蚀"),
    "5": ("双氧水", "过氧化氢", "氧化剂", "硝酸铵", "过氧化"),
    "6": ("氰化", "农药", "毒性", "苯胺"),
    "4": ("硫磺", "电石", "易燃固体"),
    "9": ("杂项",),
}

# Motor fuels (the campaign's 汽油或柴油 storage): the cargo names that mean fuel rather than
# any class-3 liquid (methanol and solvents are class 3 too).
FUEL_CARGO = ("汽油", "柴油", "成品油", "燃料油", "煤油", "gasoline", "diesel", "petrol")

# GB/T 4754-2017: which section letter a two-digit division belongs to, so that "2614" and
# "C2614" are the same code.
SECTIONS: tuple[tuple[str, int, int], ...] = (
    ("A", 1, 5),
    ("B", 6, 12),
    ("C", 13, 43),
    ("D", 44, 46),
    ("E", 47, 50),
    ("F", 51, 52),
    ("G", 53, 60),
    ("H", 61, 62),
    ("I", 63, 65),
    ("J", 66, 69),
    ("K", 70, 70),
    ("L", 71, 72),
    ("M", 73, 75),
    ("N", 76, 79),
    ("O", 80, 82),
    ("P", 83, 83),
    ("Q", 84, 85),
    ("R", 86, 90),
    ("S", 91, 97),
    ("T", 98, 98),
)


SERIES_KEYS = {"power_readings": ("account_id", "ts"), "vehicle_tracks": ("plate", "ts")}


# ------------------------------------------------------------------ the output (contract §3)

# The lead list's columns every run writes, in this order (more may follow).
LEAD_COLUMNS: tuple[str, ...] = (
    "rank",
    "site_id",
    "score",
    "lon",
    "lat",
    "township",
    "address",
    "category",
    "reasons",
    "evidence",
    "usccs",
    "account_ids",
    "property_ids",
    "plates",
)

# The records that make a place (the lead list's and site features' columns, ";"-separated):
# two sites sharing one are the same place (ledger/identity.py); trucks call at many places.
PLACE_ID_COLUMNS: tuple[str, ...] = ("usccs", "account_ids", "property_ids", "case_ids")

# The records a site lists, by the source they come from: the column of the site feature
# table and the lead list that holds their ids, ";"-separated.
LINKED_IDS: dict[str, str] = {
    "registrations": "usccs",
    "permits": "permit_ids",
    "power_accounts": "account_ids",
    "idle_properties": "property_ids",
    "sanctioned_sites": "case_ids",
    "tips": "tip_ids",
    "places": "place_ids",
}
