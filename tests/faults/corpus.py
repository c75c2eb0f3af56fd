"""A corpus of broken bundles made from the committed sample, the way a hostile or careless
agency export breaks them: one fault per kind, each a small mutation of a copy of the sample
and what the ingest must then do (exit code, the problem rows with file, row and field, the
rows that must be gone and nothing else).

Nothing here is stored as a binary: every fault is generated at test time from
``data/sample``. ``python -m tests.faults.corpus OUT`` writes every faulty bundle to
``OUT/<kind>/`` for trying them by hand (``screening run --input OUT/<kind>``).

A fault's rows are the sample's own: row numbers count from 1 after the header, as the
problem reports do (the sample's CSV files hold no quoted line breaks, so row r is line r).
"""

from __future__ import annotations

import gzip
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import xlsxwriter

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"

# (file, row, field): a problem row the ingest must report; row None for the file itself
Where = tuple[str, int | None, str | None]


@dataclass(frozen=True)
class Fault:
    """One kind of bad input. ``mutate`` changes a copy of the sample in place.

    ``rejected`` and ``warned`` are the problem rows that must appear; ``gone`` the rows of
    a register (source -> source rows of the clean table) that must vanish and nothing else
    of it (a register not named stays exactly as the clean one); ``kept`` the readings or
    fixes a bulk file must keep; ``unread`` files read not at all; ``lost`` optional sources
    with nothing usable; ``exit`` 2 faults stop the run with ``message`` in one line."""

    kind: str
    files: tuple[str, ...]
    mutate: Callable[[Path], None]
    rejected: tuple[Where, ...] = ()
    warned: tuple[Where, ...] = ()
    gone: dict[str, tuple[int, ...]] = field(default_factory=dict)
    same: tuple[str, ...] = ()  # registers that must equal the clean ones
    kept: dict[str, int | str] = field(default_factory=dict)  # bulk file -> readings kept
    unread: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    exit: int = 0
    message: str = ""
    force_as_of: bool = False
    notes: tuple[str, ...] = ()  # substrings the ingest's notes must hold
    blocking: str = ""  # with force_as_of: what would have blocked


# ------------------------------------------------------------------------ file helpers


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)


def edit_lines(name: str, fn: Callable[[list[bytes]], list[bytes]]) -> Callable[[Path], None]:
    """A mutation of a text file's lines (bytes, line 0 the header, line r the row r)."""

    def mutate(bundle: Path) -> None:
        path = bundle / name
        lines = _raw(path).split(b"\n")
        _write(path, b"\n".join(fn(lines)))

    return mutate


def set_line(r: int, fn: Callable[[bytes], bytes]) -> Callable[[list[bytes]], list[bytes]]:
    def edit(lines: list[bytes]) -> list[bytes]:
        lines = list(lines)
        lines[r] = fn(lines[r])
        return lines

    return edit


def fields_of(line: bytes) -> list[bytes]:
    return line.split(b",")


def keep_fields(n: int) -> Callable[[bytes], bytes]:
    return lambda line: b",".join(fields_of(line)[:n])


def prefix_field(i: int, text: bytes) -> Callable[[bytes], bytes]:
    def edit(line: bytes) -> bytes:
        cells = fields_of(line)
        cells[i] = text + cells[i]
        return b",".join(cells)

    return edit


def set_field(i: int, text: bytes) -> Callable[[bytes], bytes]:
    def edit(line: bytes) -> bytes:
        cells = fields_of(line)
        cells[i] = text
        return b",".join(cells)

    return edit


def reencode(name: str, encoding: str, source: str = "utf-8-sig") -> Callable[[Path], None]:
    def mutate(bundle: Path) -> None:
        path = bundle / name
        _write(path, _raw(path).decode(source).encode(encoding))

    return mutate


def replace_bytes(name: str, fn: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def mutate(bundle: Path) -> None:
        path = bundle / name
        _write(path, fn(_raw(path)))

    return mutate


def truncate_file(name: str, share: float) -> Callable[[Path], None]:
    """The file's own bytes cut (a gzip cut inside its compressed stream)."""

    def mutate(bundle: Path) -> None:
        path = bundle / name
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * share)])

    return mutate


def gz_rows_before_cut(name: str, share: float) -> int:
    """Complete rows a gzip file still holds when cut at ``share`` of its bytes."""
    import zlib

    data = (SAMPLE / name).read_bytes()[: int((SAMPLE / name).stat().st_size * share)]
    text = zlib.decompressobj(wbits=31).decompress(data)
    return text.count(b"\n") - 1  # the header's line end, and a partial last row


def cut_mid_character(name: str, encoding: str) -> Callable[[Path], None]:
    """The file ends inside the last multi-byte character of its last row."""

    def mutate(bundle: Path) -> None:
        path = bundle / name
        data = path.read_bytes().rstrip(b"\n")
        last = data.rfind(b"\n")
        text = data[last + 1 :].decode(encoding)
        wide = max(i for i, ch in enumerate(text) if len(ch.encode(encoding)) > 1)
        cut = last + 1 + len(text[:wide].encode(encoding)) + 1  # one byte into that character
        path.write_bytes(data[:cut])

    return mutate


def write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda bundle: (bundle / name).write_bytes(data)


def manifest_as_of(as_of: str | None) -> Callable[[Path], None]:
    def mutate(bundle: Path) -> None:
        path = bundle / "manifest.toml"
        lines = [ln for ln in path.read_text("utf-8").splitlines() if not ln.startswith("as_of")]
        if as_of is not None:
            lines.insert(1, f'as_of    = "{as_of}"')
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    return mutate


def both(*mutations: Callable[[Path], None]) -> Callable[[Path], None]:
    def mutate(bundle: Path) -> None:
        for m in mutations:
            m(bundle)

    return mutate


def add_readings(name: str, rows: list[tuple[str, str, float]]) -> Callable[[Path], None]:
    def mutate(bundle: Path) -> None:
        text = "account_id,ts,kwh\n" + "".join(f"{a},{t},{k}\n" for a, t, k in rows)
        (bundle / "power_readings" / name).write_text(text, encoding="utf-8")

    return mutate


def add_fix(name: str, plate: str, ts: str) -> Callable[[Path], None]:
    def mutate(bundle: Path) -> None:
        text = f"plate,ts,lon,lat,speed_kmh\n{plate},{ts},117.05,33.65,10\n"
        (bundle / "vehicle_tracks" / name).write_text(text, encoding="utf-8")

    return mutate


def rewrite_xlsx(
    name: str,
    header_rows: list[list[str | None]],
    edit: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    merges: list[tuple[int, int, int, int, str]] = (),  # type: ignore[assignment]
) -> Callable[[Path], None]:
    """The workbook rewritten with other header rows above the sample's rows (as text)."""

    def mutate(bundle: Path) -> None:
        path = bundle / name
        sheet = pl.read_excel(path, has_header=False, infer_schema_length=0, engine="calamine")
        body = sheet.slice(1)
        if edit is not None:
            body = edit(body)
        wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
        ws = wb.add_worksheet("Sheet1")
        for i, row in enumerate(header_rows):
            ws.write_row(i, 0, [v for v in row])
        for r0, c0, r1, c1, text in merges:
            ws.merge_range(r0, c0, r1, c1, text)
        for i, row in enumerate(body.iter_rows(), start=len(header_rows)):
            for j, v in enumerate(row):
                if v is not None:
                    ws.write_string(i, j, v)
        wb.close()

    return mutate


def symlink(name: str, target: Path) -> Callable[[Path], None]:
    def mutate(bundle: Path) -> None:
        path = bundle / name
        path.unlink(missing_ok=True)
        path.symlink_to(target)

    return mutate


def _sjis_tips() -> bytes:
    rows = ["tip_id,received,text,address,lon,lat"] + [
        f"JP-{i},2021-08-{10 + i % 9:02d},テスト工場で夜間に異臭がする,トウキョウ,117.0{i},33.6"
        for i in range(20)
    ]
    return ("\n".join(rows) + "\n").encode("shift_jis")


# ---------------------------------------------------------------------------- the faults

REG = "registrations.csv"
TIPS = "tips.csv"
PERMITS = "permits.csv"
CASES = "sanctioned_sites.csv"
VEH = "vehicles.csv"
ACC = "power_accounts.csv.gz"
IDLE = "idle_properties.xlsx"
WIDE = "power_readings/wide_hourly.csv"
QUARTER = "power_readings/quarter_hourly.csv.gz"
DAILY = "power_readings/daily.parquet"
DAY30 = "vehicle_tracks/2021-08-30.parquet"
IDLE_HEADER = ["场所编号", "场所类型", "详细地址", "经度", "纬度", "权属人", "闲置时间", "范围"]
QUARTER_CUT = 0.5

FAULTS: list[Fault] = [
    # -- one malformed row costs one row --------------------------------------------------
    Fault(
        "csv_extra_field",
        (REG,),
        edit_lines(
            REG, set_line(10, lambda ln: ln.replace("村".encode("gb18030"), b"\xb4\xe5,", 1))
        ),
        rejected=((REG, 10, "legal_rep"),),
        gone={"registrations": (10,)},
    ),
    Fault(
        "csv_missing_fields",
        (PERMITS,),
        edit_lines(PERMITS, set_line(20, keep_fields(3))),
        rejected=((PERMITS, 20, "scope"),),
        gone={"permits": (20,)},
    ),
    Fault(
        "csv_bad_byte_utf8",
        (CASES,),
        edit_lines(CASES, set_line(3, prefix_field(1, b"\xff"))),
        rejected=((CASES, 3, "name"),),
        gone={"sanctioned_sites": (3,)},
    ),
    Fault(
        "csv_bad_byte_gb18030",
        (REG,),
        edit_lines(REG, set_line(30, prefix_field(1, b"\xff"))),
        rejected=((REG, 30, "name"),),
        gone={"registrations": (30,)},
    ),
    Fault(
        "csv_cp1252_byte",
        (TIPS,),
        edit_lines(TIPS, set_line(24, prefix_field(2, b"caf\xe9 "))),
        rejected=((TIPS, 24, "text"),),
        gone={"tips": (24,)},
    ),
    Fault(
        "gb18030_cut_mid_character",
        (REG,),
        cut_mid_character(REG, "gb18030"),
        rejected=((REG, 2013, "legal_rep"),),
        gone={"registrations": (2013,)},
    ),
    Fault(
        "row_cut_at_end_of_file",
        (VEH,),
        edit_lines(VEH, lambda lines: [*lines[:-2], b",".join(fields_of(lines[-2])[:2])]),
        rejected=((VEH, 61, "cargo"),),
        gone={"vehicles": (61,)},
    ),
    Fault(
        "row_with_3_of_11_fields",
        (REG,),
        edit_lines(REG, set_line(40, keep_fields(3))),
        rejected=((REG, 40, "lon"),),
        gone={"registrations": (40,)},
    ),
    Fault(
        "wide_row_extra_field",
        (WIDE,),
        edit_lines(WIDE, set_line(50, lambda ln: ln + b",7.5")),
        rejected=((WIDE, 50, "h23"),),
        kept={WIDE: -24},
    ),
    Fault(
        "wide_row_cut_short",
        (QUARTER,),
        edit_lines(QUARTER, set_line(7, keep_fields(40))),
        rejected=((QUARTER, 7, "p39"),),
        kept={QUARTER: -96},
    ),
    Fault(
        "unquoted_quote_in_value",
        (CASES,),
        edit_lines(CASES, set_line(5, prefix_field(1, b'"'))),
        rejected=((CASES, 5, "name"),),
        gone={"sanctioned_sites": (5,)},
    ),
    # -- the file is read whole, whatever its encoding and line ends -------------------------
    Fault("utf16_file", (TIPS,), reencode(TIPS, "utf-16"), same=("tips",)),
    Fault("utf16_without_bom", (CASES,), reencode(CASES, "utf-16-le"), same=("sanctioned_sites",)),
    Fault(
        "cr_only_line_ends",
        (VEH,),
        replace_bytes(VEH, lambda b: b.replace(b"\n", b"\r")),
        same=("vehicles",),
    ),
    Fault(
        "crlf_line_ends",
        (PERMITS,),
        replace_bytes(PERMITS, lambda b: b.replace(b"\n", b"\r\n")),
        same=("permits",),
    ),
    Fault(
        "title_line_above_header",
        (REG,),
        replace_bytes(REG, lambda b: "埇桥区市场主体登记信息（导出）\n".encode("gb18030") + b),
        same=("registrations",),
        notes=("line(s) above the header skipped",),
    ),
    Fault(
        "tab_separated",
        (CASES,),
        replace_bytes(CASES, lambda b: b.replace(b",", b"\t")),
        same=("sanctioned_sites",),
    ),
    Fault(
        "gb18030_instead_of_utf8",
        (VEH,),
        reencode(VEH, "gb18030"),
        same=("vehicles",),
    ),
    Fault(
        "trailing_blank_lines",
        (TIPS,),
        replace_bytes(TIPS, lambda b: b + b"\n\n\n"),
        same=("tips",),
    ),
    Fault(
        "two_level_xlsx_header",
        (IDLE,),
        rewrite_xlsx(
            IDLE,
            [
                ["闲置场所清单"],
                ["场所编号", "场所类型", "详细地址", None, None, "权属人", "闲置时间", "范围"],
                [None, None, None, "经度", "纬度", None, None, None],
            ],
            merges=[(1, 3, 1, 4, "位置"), (1, 0, 2, 0, "场所编号"), (1, 1, 2, 1, "场所类型")],
        ),
        same=("idle_properties",),
    ),
    # -- headers judged as written -----------------------------------------------------------
    Fault(
        "duplicated_header_agreeing",
        (TIPS,),
        edit_lines(
            TIPS, lambda lines: [ln + b"," + fields_of(ln)[2] if ln else ln for ln in lines]
        ),
        same=("tips",),
        warned=((TIPS, None, "text"),),
    ),
    Fault(
        "duplicated_header_one_row_disagrees",
        (CASES,),
        edit_lines(
            CASES,
            lambda lines: [
                ln + b"," + (b"other name" if i == 6 else fields_of(ln)[1]) if ln else ln
                for i, ln in enumerate(lines)
            ],
        ),
        rejected=((CASES, 6, "name"),),
        warned=((CASES, None, "name"),),
        gone={"sanctioned_sites": (6,)},
    ),
    Fault(
        "duplicated_header_hides_a_column",
        (REG,),
        edit_lines(
            REG,
            set_line(
                0,
                lambda ln: ln.replace("法定代表人".encode("gb18030"), "企业名称".encode("gb18030")),
            ),
        ),
        exit=2,
        message="registrations.csv: ",
    ),
    # -- sources empty, wholly refused or unreadable -----------------------------------------
    Fault(
        "required_header_only",
        (PERMITS,),
        edit_lines(PERMITS, lambda lines: lines[:1]),
        exit=2,
        message="required source permits has no usable rows: permits.csv: a header and no rows",
    ),
    Fault(
        "required_column_missing",
        (REG,),
        edit_lines(
            REG, set_line(0, lambda ln: ln.replace("企业名称".encode("gb18030"), b"mingcheng"))
        ),
        exit=2,
        message="the header has no column for required name",
    ),
    Fault(
        "required_empty_file",
        (PERMITS,),
        write(PERMITS, b""),
        exit=2,
        message="required source permits unreadable: permits.csv: empty file",
    ),
    Fault(
        "required_rows_mostly_refused",
        (ACC,),
        edit_lines(
            ACC,
            lambda lines: [
                b"," + ln.split(b",", 1)[1] if 0 < i < 3000 and b"," in ln else ln
                for i, ln in enumerate(lines)
            ],
        ),
        exit=2,
        message="above ingest.max_rejected_share",
    ),
    Fault(
        "required_shift_jis",
        (PERMITS,),
        write(
            PERMITS,
            ("permit_id,holder,kind\n" + "P1,テスト運送株式会社,ガソリン\n" * 30).encode(
                "shift_jis"
            ),
        ),
        exit=2,
        message="Shift-JIS",
    ),
    Fault(
        "optional_empty_file",
        (TIPS,),
        write(TIPS, b""),
        unread=(TIPS,),
        lost=("tips",),
    ),
    Fault(
        "optional_header_only",
        (CASES,),
        edit_lines(CASES, lambda lines: lines[:1]),
        lost=("sanctioned_sites",),
    ),
    Fault(
        "optional_workbook_corrupt",  # the idle-premises list is optional
        (IDLE,),
        write(IDLE, b"PK\x03\x04 not a workbook"),
        unread=(IDLE,),
        lost=("idle_properties",),
    ),
    Fault(
        "optional_file_not_a_table",
        (CASES,),
        write(CASES, bytes(range(256)) * 16),
        unread=(CASES,),
        lost=("sanctioned_sites",),
    ),
    Fault(
        "optional_shift_jis",
        (TIPS,),
        write(TIPS, _sjis_tips()),
        unread=(TIPS,),
        lost=("tips",),
    ),
    Fault(
        "optional_rows_all_refused",
        (TIPS,),
        edit_lines(
            TIPS,
            lambda lines: [
                b",".join([*fields_of(ln)[:3], b"", b"", b""]) if i > 0 and ln else ln
                for i, ln in enumerate(lines)
            ],
        ),
        rejected=tuple((TIPS, r, "address") for r in (1, 2, 40)),
        lost=("tips",),
    ),
    # -- files lost whole are seen -----------------------------------------------------------
    Fault(
        "truncated_csv_gz",
        (QUARTER,),
        truncate_file(QUARTER, QUARTER_CUT),
        rejected=((QUARTER, gz_rows_before_cut(QUARTER, QUARTER_CUT) + 1, None),),
        kept={QUARTER: "cut"},
    ),
    Fault(
        "truncated_register_csv_gz",
        (ACC,),
        truncate_file(ACC, 0.9),
        rejected=((ACC, gz_rows_before_cut(ACC, 0.9) + 1, None),),
        gone={"power_accounts": tuple(range(gz_rows_before_cut(ACC, 0.9) + 1, 4466))},
    ),
    Fault(
        "truncated_parquet",
        (DAILY,),
        truncate_file(DAILY, 0.5),
        unread=(DAILY,),
        kept={DAILY: 0},
    ),
    Fault(
        "gps_day_replaced_by_garbage",
        (DAY30,),
        write(DAY30, bytes(range(256)) * 64),
        unread=(DAY30,),
        kept={DAY30: 0},
    ),
    # -- the screening date cannot be taken over ---------------------------------------------
    Fault(
        "reading_dated_2099_without_as_of",
        ("manifest.toml", "power_readings/late.csv"),
        both(
            manifest_as_of(None),
            add_readings("late.csv", [("3400503818", "2099-01-01 00:00", 5.0)]),
        ),
        rejected=(("power_readings/late.csv", 1, "ts"),),
        kept={"power_readings/late.csv": 0},
    ),
    Fault(
        "stray_reading_months_later_without_as_of",
        ("manifest.toml", "power_readings/stray.csv"),
        both(
            manifest_as_of(None),
            add_readings("stray.csv", [("3400503818", "2021-11-20 00:00", 5.0)]),
        ),
        kept={"power_readings/stray.csv": 1},
        notes=("readings dated after the screening date 2021-08-31",),
    ),
    Fault(
        "gps_fix_dated_2099",
        ("vehicle_tracks/late.csv",),
        add_fix("late.csv", "皖LA4468", "2099-06-01 12:00"),
        rejected=(("vehicle_tracks/late.csv", 1, "ts"),),
        kept={"vehicle_tracks/late.csv": 0},
    ),
    Fault(
        "as_of_far_ahead_of_the_clock",
        ("manifest.toml",),
        manifest_as_of("2030-01-01"),
        exit=2,
        message="as_of 2030-01-01 is ahead of today",
    ),
    Fault(
        "as_of_after_the_data",
        ("manifest.toml",),
        manifest_as_of("2021-10-15"),
        exit=2,
        message="is after the data's end (2021-08-31",
    ),
    Fault(
        "as_of_after_the_data_forced",
        ("manifest.toml",),
        manifest_as_of("2021-10-15"),
        force_as_of=True,
        blocking="",
    ),
    Fault(
        "established_after_today",
        (REG,),
        edit_lines(REG, set_line(60, set_field(9, b"2099-05-01"))),
        warned=((REG, 60, "established"),),
    ),
    # -- lower: hostile or odd content -------------------------------------------------------
    Fault(
        "nul_in_an_id",
        (ACC,),
        edit_lines(ACC, set_line(100, lambda ln: ln[:4] + b"\x00" + ln[4:])),
        warned=((ACC, 100, "account_id"),),
        same=("power_accounts",),
    ),
    Fault(
        "wkt_at_the_origin",
        (IDLE,),
        rewrite_xlsx(
            IDLE,
            [IDLE_HEADER],
            edit=lambda b: b.with_columns(
                pl.when(pl.int_range(pl.len()) == 0)
                .then(pl.lit("POLYGON((0 0,0.001 0,0.001 0.001,0 0.001,0 0))"))
                .otherwise(pl.col("column_7"))
                .alias("column_7")
            ),
        ),
        warned=((IDLE, 1, "geometry"),),
    ),
    Fault(
        "wkt_point_as_premises",
        (IDLE,),
        rewrite_xlsx(
            IDLE,
            [IDLE_HEADER],
            edit=lambda b: b.with_columns(
                pl.when(pl.int_range(pl.len()) == 0)
                .then(pl.lit("POINT (116.86 33.62)"))
                .otherwise(pl.col("column_7"))
                .alias("column_7")
            ),
        ),
        warned=((IDLE, 1, "geometry"),),
    ),
    Fault(
        "cell_cut_at_excel_limit",
        (IDLE,),
        rewrite_xlsx(
            IDLE,
            [IDLE_HEADER],
            edit=lambda b: b.with_columns(
                pl.when(pl.int_range(pl.len()) == 1)
                .then(pl.lit("某" * 32_767))
                .otherwise(pl.col("column_5"))
                .alias("column_5")
            ),
        ),
        warned=((IDLE, 2, "owner"),),
    ),
    Fault(
        "symlink_out_of_the_bundle",
        (TIPS,),
        symlink(TIPS, Path("/etc/hostname")),
        absent=("tips",),
        notes=("tips.csv: a link pointing outside the bundle, not read",),
    ),
    Fault(
        "symlink_in_a_source_folder",
        ("power_readings/elsewhere.csv",),
        symlink("power_readings/elsewhere.csv", Path("/etc/hostname")),
        notes=("a link pointing outside the bundle",),
    ),
]


def bundle_for(faults: list[Fault], out: Path) -> Path:
    """A copy of the sample with every fault of the list applied."""
    shutil.copytree(SAMPLE, out)
    for f in faults:
        f.mutate(out)
    return out


def groups(faults: list[Fault]) -> list[list[Fault]]:
    """Faults packed into as few bundles as keep them apart: no two in one file, none that
    stops the run or forces the date with another, the manifest's alone."""
    alone = [[f] for f in faults if f.exit or f.force_as_of or "manifest.toml" in f.files]
    rest: list[list[Fault]] = []
    for f in faults:
        if f.exit or f.force_as_of or "manifest.toml" in f.files:
            continue
        sources = {_source(p) for p in f.files}
        for g in rest:
            taken = {_source(p) for x in g for p in x.files}
            if not sources & taken and len(g) < 8:
                g.append(f)
                break
        else:
            rest.append([f])
    return rest + alone


def _source(path: str) -> str:
    return path.split("/")[0].split(".")[0]


if __name__ == "__main__":  # python -m tests.faults.corpus OUT
    root = Path(sys.argv[1])
    root.mkdir(parents=True, exist_ok=True)
    for fault in FAULTS:
        bundle_for([fault], root / fault.kind)
        print(f"{fault.kind}: {root / fault.kind}")
