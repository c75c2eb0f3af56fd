"""Every tunable of the sample generator in one place: counts per size, shares, magnitudes.

Kept apart from the code that uses them so that an analyst who wants "more subtle cases" or
"fewer households" edits one readable table instead of hunting for constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from screening.schema import CATEGORIES

AS_OF = date(2021, 8, 31)
REGION = "宿州市埇桥区（样例县）"
TIMEZONE = "Asia/Shanghai"
PROVINCE, CITY, COUNTY = "安徽省", "宿州市", "埇桥区"
REGION6 = "341302"  # administrative division code written into credit codes
CENTRE = (117.0, 33.65)  # lon, lat (WGS-84)
HALF_EXTENT_M = (25_000.0, 22_500.0)  # the county is about 50 km x 45 km

WORKSHOP_CATEGORIES: tuple[str, ...] = CATEGORIES
LOOKALIKE_CATEGORIES: tuple[str, ...] = (
    "bakery_night",
    "tofu_night",
    "cold_store_24h",
    "licensed_plant_24h",
    "gas_station_tanker",
    "depot_overnight",
    "driver_home_overnight",
    "irrigation_summer",
    "new_permitted_factory",
)


@dataclass(frozen=True)
class SizePreset:
    """How big a county to make. Counts scale roughly linearly with ``businesses``."""

    name: str
    businesses: int
    meter_share: float  # share of active businesses with a meter of their own
    households: int
    days: int  # readings window, ending at AS_OF
    track_days: int  # GPS window, the last days of the readings window
    vehicles: int  # registered hazmat vehicles
    outside_plates: int  # plates seen only in tracks (other provinces)
    idle_properties: int
    sanctioned: int
    tips: int
    villages_per_township: int
    workshops: tuple[int, ...]  # per WORKSHOP_CATEGORIES entry; strong/subtle alternate
    lookalikes: tuple[int, ...]  # per LOOKALIKE_CATEGORIES entry
    wide_hourly_accounts: int  # messy: business accounts written in the wide hourly CSV
    p96_accounts: int  # messy: large industrial accounts written as 96-point rows
    chunk_accounts: int = 1500  # accounts per block of the load matrix (bounds memory)

    @property
    def start(self) -> date:
        return AS_OF - timedelta(days=self.days - 1)

    @property
    def track_start(self) -> datetime:
        d = AS_OF - timedelta(days=self.track_days - 1)
        return datetime(d.year, d.month, d.day)


SIZES: dict[str, SizePreset] = {
    "tiny": SizePreset(
        "tiny",
        businesses=300,
        meter_share=0.8,
        households=400,
        days=35,
        track_days=1,
        vehicles=14,
        outside_plates=3,
        idle_properties=16,
        sanctioned=6,
        tips=12,
        villages_per_township=3,
        workshops=(2, 2, 2, 2, 2, 2, 2, 2),
        lookalikes=(1, 1, 1, 1, 1, 1, 1, 1, 1),
        wide_hourly_accounts=12,
        p96_accounts=3,
    ),
    "small": SizePreset(
        "small",
        businesses=2000,
        meter_share=0.95,
        households=3000,
        days=60,
        track_days=3,
        vehicles=60,
        outside_plates=10,
        idle_properties=80,
        sanctioned=15,
        tips=40,
        villages_per_township=10,
        workshops=(3, 3, 3, 2, 3, 2, 2, 2),
        lookalikes=(3, 2, 2, 3, 3, 2, 1, 2, 2),
        wide_hourly_accounts=40,
        p96_accounts=8,
    ),
    "medium": SizePreset(
        "medium",
        businesses=20_000,
        meter_share=0.42,
        households=30_000,
        days=120,
        track_days=7,
        vehicles=250,
        outside_plates=40,
        idle_properties=400,
        sanctioned=60,
        tips=200,
        villages_per_township=40,
        workshops=(5, 5, 5, 5, 5, 5, 5, 5),
        lookalikes=(8, 7, 7, 8, 8, 6, 4, 6, 6),
        wide_hourly_accounts=300,
        p96_accounts=40,
    ),
    "large": SizePreset(
        "large",
        businesses=100_000,
        meter_share=0.42,
        households=150_000,
        days=180,
        track_days=14,
        vehicles=1000,
        outside_plates=150,
        idle_properties=2000,
        sanctioned=200,
        tips=800,
        villages_per_township=100,
        workshops=(10, 10, 10, 10, 10, 10, 10, 10),
        lookalikes=(20, 18, 18, 20, 20, 15, 10, 15, 14),
        wide_hourly_accounts=400,
        p96_accounts=80,
    ),
    # issue 7's prefecture-level city: ~10^5 hourly business meters, 10^6 households with
    # daily readings, 90 days; 3,000 hazmat vehicles over a week; ~1.5x10^5 registrations.
    # Use --plain: parquet throughout, the shape a city's data arrives in.
    "city": SizePreset(
        "city",
        businesses=150_000,
        meter_share=0.7,
        households=1_000_000,
        days=90,
        track_days=7,
        vehicles=3000,
        outside_plates=400,
        idle_properties=3000,
        sanctioned=500,
        tips=2000,
        villages_per_township=100,
        workshops=(20, 20, 20, 20, 20, 20, 20, 20),
        lookalikes=(40, 36, 36, 40, 40, 30, 20, 30, 28),
        wide_hourly_accounts=400,
        p96_accounts=80,
        chunk_accounts=5000,
    ),
}


@dataclass(frozen=True)
class Tunables:
    """Shares and magnitudes that do not depend on the size."""

    reg_no_coords: float = 0.30  # registrations without coordinates
    acct_no_coords: float = 0.10  # power accounts without coordinates
    acct_uscc: float = 0.70  # business accounts that carry the holder's credit code
    record_jitter_m: tuple[float, float] = (5.0, 30.0)  # same place, different agencies
    gps_jitter_m: float = 7.0  # sigma of GPS noise per axis (5-15 m radial)
    gps_outlier_rate: float = 0.001
    gps_outlier_m: tuple[float, float] = (50.0, 150.0)
    gps_gaps_per_day: float = 1.5  # signal gaps per plate and day
    gps_gap_min: tuple[float, float] = (2.0, 60.0)
    gps_dup_rate: float = 0.004  # messy: exact duplicate points
    park_silent_long: float = 0.6  # parked > 2 h: share with ignition off (no points)
    park_silent_short: float = 0.25
    drive_kmh: tuple[float, float] = (30.0, 60.0)
    jam_prob: float = 0.35  # drives touching a town that get a stop-and-go section
    outage_prob: float = 0.25  # accounts with one supply outage in the window
    hour_noise: float = 0.10  # lognormal sigma per hour
    day_noise: float = 0.06  # lognormal sigma per day
    household_kwh: tuple[float, float] = (2.5, 12.0)
    household_three_phase: float = 0.03  # innocent rural three-phase houses
    messy_fullwidth: float = 0.06  # addresses with full-width digits
    messy_no_section: float = 0.5  # industry codes written without section letter
    # a world with a long track history (history.py): a planted truck call recurs this
    # often, back to its site's start
    visit_period_days: int = 7


TUNE = Tunables()

# Public holidays that change load shapes (only those inside a window matter).
HOLIDAYS: tuple[date, ...] = tuple(
    [date(2021, 1, 1)]
    + [date(2021, 2, 11) + timedelta(days=i) for i in range(7)]
    + [date(2021, 4, 3), date(2021, 4, 4), date(2021, 4, 5)]
    + [date(2021, 5, 1) + timedelta(days=i) for i in range(5)]
    + [date(2021, 6, 12), date(2021, 6, 13), date(2021, 6, 14)]
    + [date(2020, 10, 1) + timedelta(days=i) for i in range(8)]
)
