"""CSV bulk files are read a block of text at a time (ingest.csv_block_mb), never whole:
blocks much smaller than the file give the same staged series, the same problems and the
same row numbers as one block, whatever the layout, compression or encoding, and a quoted
value holding a line break is one record wherever a block ends."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import polars as pl
import pytest

from screening.ingest import ingest_bundle
from screening.ingest.blocks import byte_blocks, record_blocks
from screening.ingest.readers import ReadError, read_file, read_file_batches
from screening.ingest.text import csv_blocks, decode
from screening.schema import SOURCES
from screening.store.warehouse import Warehouse

from .conftest import make_bundle

TINY_MB = 0.002  # 2 KB blocks: each layout's file below is 5 to 40 blocks


def _config(tmp_path: Path, batch_rows: int, block_mb: float) -> Path:
    path = tmp_path / f"config-{batch_rows}-{block_mb}.toml"
    path.write_text(
        f"[ingest]\nbatch_rows = {batch_rows}\ncsv_block_mb = {block_mb}\n", encoding="utf-8"
    )
    return path


def _wide(points: int, id_col: str, date_col: str) -> list[str]:
    """Wide rows (one a meter-day) as CSV lines, header first."""
    cols = [f"h{h:02d}" for h in range(24)] if points == 24 else [f"p{p:02d}" for p in range(1, 97)]
    lines = [",".join([id_col, date_col, *cols])]
    for a, d in itertools.product(range(1, 7), range(1, 21)):
        values = [f"{1.0 + (a * d + k) % 7:.1f}" for k in range(points)]
        lines.append(",".join([f"34000{a:02d}", f"2021-08-{d:02d}", *values]))
    return lines


def _long() -> list[str]:
    lines = ["户号,时间,电量"]
    for a, d, h in itertools.product(range(1, 4), range(1, 11), range(24)):
        lines.append(f"34000{a:02d},2021-08-{d:02d} {h:02d}:00:00,{1.0 + (a + h) % 5:.1f}")
    return lines


def _tracks() -> list[str]:
    lines = ["plate,ts,lon,lat,speed_kmh"]
    for t, m, s in itertools.product(range(1, 4), range(60), (0, 30)):
        lines.append(f"皖LA123{t},2021-08-01 02:{m:02d}:{s:02d},{117.0 + m * 1e-4:.4f},33.6,20")
    return lines


# rows (1 = the first after the header) broken by the reader's own checks, spread through
# the file so that they fall in different blocks: a value shifted by a separator, a row cut
# short, a byte that is no text
BROKEN = {17: "extra", 55: "short", 88: "byte"}


def _break(lines: list[str], encoding: str) -> bytes:
    out = []
    for i, line in enumerate(lines):
        data = line.encode("utf-8" if encoding == "utf-8-sig" else encoding)
        kind = BROKEN.get(i)
        if kind == "extra":
            data += b",7.5"
        elif kind == "short":
            data = b",".join(data.split(b",")[:2])
        elif kind == "byte":
            data = data[:3] + b"\xff" + data[3:]
        out.append(data)
    bom = "\ufeff".encode() if encoding == "utf-8-sig" else b""
    return bom + b"\r\n".join(out) + b"\r\n"


HOURLY, POINTS = _wide(24, "户号", "日期"), _wide(96, "account_id", "date")
LAYOUTS = {  # name: (source, file name, lines, encoding, gzip)
    "wide hourly GB18030 csv.gz": ("power_readings", "wide.csv.gz", HOURLY, "gb18030", True),
    "wide 96-point UTF-8 csv": ("power_readings", "quarter.csv", POINTS, "utf-8", False),
    "long UTF-8 with BOM csv.gz": ("power_readings", "long.csv.gz", _long(), "utf-8-sig", True),
    "GPS tracks GBK csv": ("vehicle_tracks", "tracks.csv", _tracks(), "gbk", False),
}


def _bundle(folder: Path, layout: str) -> Path:
    source, name, lines, encoding, gz = LAYOUTS[layout]
    bundle = make_bundle(folder, skip=(source,))
    data = _break(lines, encoding)
    (bundle / source).mkdir()
    (bundle / source / name).write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return bundle


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_small_blocks_stage_what_one_block_stages(layout: str, tmp_path: Path):
    source = LAYOUTS[layout][0]
    results = []
    for batch_rows, block_mb in ((1_000_000, 32.0), (240, TINY_MB)):
        bundle = _bundle(tmp_path / f"b{batch_rows}", layout)
        work = tmp_path / f"w{batch_rows}"
        report = ingest_bundle(bundle, work, settings=_config(tmp_path, batch_rows, block_mb))
        with Warehouse(work) as wh:
            key = ["account_id", "ts"] if source == "power_readings" else ["plate", "ts"]
            series = wh.scan_bulk(source).collect().sort(key)
        parts = list((work / "bulk" / source).glob("*.parquet"))
        results.append((report, series, parts))
    (whole_report, whole, whole_parts), (report, streamed, parts) = results
    text = _break(LAYOUTS[layout][2], LAYOUTS[layout][3])
    assert len(text) > 4 * TINY_MB * 2**20  # the file's text is several blocks
    assert len(whole_parts) == 1 and len(parts) > 1
    assert streamed.equals(whole) and whole.height > 0
    columns = ["file", "row", "field", "reason", "value"]
    for rep in (whole_report, report):
        bad = rep.quarantined.filter(pl.col("source") == source).sort("row")
        # one broken row costs that row, named by the file's own row number
        assert bad["row"].to_list() == sorted(BROKEN)
    assert (
        report.quarantined.sort("row")
        .select(columns)
        .equals(whole_report.quarantined.sort("row").select(columns))
    )
    stats = [
        r.summary.filter(pl.col("source") == source).row(0, named=True)
        for r in (whole_report, report)
    ]
    assert stats[0]["rows_read"] == stats[1]["rows_read"]
    assert stats[0]["rows_kept"] == stats[1]["rows_kept"] == whole.height


def _register(rows: int, quoted: bool = True) -> bytes:
    """Registrations whose addresses hold line breaks inside quotes, one every third row."""
    lines = ["统一社会信用代码,企业名称,注册地址"]
    for i in range(rows):
        address = f'"曹村镇\n{i}号,东侧"' if quoted and i % 3 == 0 else f"曹村镇{i}号"
        lines.append(f"91341300MA2{i:07d},宿州化工{i}厂,{address}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_a_quoted_line_break_at_a_block_end_is_one_record(tmp_path: Path):
    path = tmp_path / "registrations.csv"
    path.write_bytes(_register(300))
    data = path.read_bytes()

    def ends_inside(size: int) -> bool:  # a block of raw bytes ends inside a quoted value
        ends = itertools.accumulate(len(b) for b, _ in byte_blocks(iter([data]), size))
        return any(data[:e].count(b'"') % 2 == 1 for e in ends)

    size = next(size for size in range(600, 2000, 37) if ends_inside(size))
    source = SOURCES["registrations"]
    whole = read_file(path, tmp_path, source)[0]
    streamed = read_file(path, tmp_path, source, csv_block_mb=size / 2**20)[0]
    assert whole.frame.height == 300 and whole.problems.height == 0
    assert streamed.frame.equals(whole.frame) and streamed.problems.height == 0
    assert streamed.frame["注册地址"][0] == "曹村镇\n0号,东侧"
    assert streamed.frame["_row"].to_list() == list(range(1, 301))


def test_a_quote_that_never_closes_costs_one_row_across_blocks(tmp_path: Path):
    """A stray quote near a block's end is carried into the next block and found stray
    there; the rows after it are read, and row numbers stay the file's."""
    lines = _register(200, quoted=False).decode().split("\n")
    lines[151] = lines[151].replace("宿州化工", '"宿州化工', 1)  # row 151: opens, never closes
    path = tmp_path / "registrations.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    source = SOURCES["registrations"]
    whole = read_file(path, tmp_path, source)[0]
    for block in (700, 1500, 4000):
        streamed = read_file(path, tmp_path, source, csv_block_mb=block / 2**20)[0]
        assert streamed.problems.select("row", "reason").equals(
            whole.problems.select("row", "reason")
        )
        assert streamed.frame.equals(whole.frame)
    assert whole.problems["row"].to_list() == [151]
    assert whole.frame.height == 199


def test_the_reader_holds_one_block_not_the_file(tmp_path: Path):
    """Blocks are cut at line ends and about the block size; a file of ~28 blocks comes as
    ~28 tables of rows, and the batches regroup them into exactly batch_rows readings."""
    bundle = _bundle(tmp_path / "b", "wide hourly GB18030 csv.gz")
    path = bundle / "power_readings" / "wide.csv.gz"
    decoded = decode(path)
    assert decoded.encoding == "gb18030"
    size = 512
    text = b"".join(decoded.utf8())
    blocks = list(byte_blocks(decoded.utf8(), size))
    longest = max(len(line) for line in text.split(b"\n"))
    assert b"".join(b for b, _ in blocks) == text
    assert len(blocks) >= len(text) // (size + longest)
    assert all(len(b) <= size + longest and b.endswith(b"\n") for b, _ in blocks)
    assert [f for _, f in blocks] == [False] * (len(blocks) - 1) + [True]
    records = list(record_blocks(decoded.utf8(), size))
    assert sum(r.records.height for r in records) == text.count(b"\n")
    tables = list(csv_blocks(decoded, "wide.csv.gz", "power_readings", lambda c: 1, size))
    # the first block holds the ten records the header is looked for in, the others ~4
    assert len(tables) > 20 and max(t.frame.height for t in tables[1:]) <= size // 100
    assert sum(t.frame.height for t in tables) == 120 - len(BROKEN)
    batches = list(
        read_file_batches(path, bundle, SOURCES["power_readings"], None, 240, None, size / 2**20)
    )
    heights = [t.frame.height for b in batches for t in b]
    assert heights == [10] * 11 + [7]  # 117 good rows of 24 readings, 240 readings a batch
    problems = pl.concat([t.problems for b in batches for t in b])
    assert sorted(problems["row"].to_list()) == sorted(BROKEN)


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf", b"\r\n"])
def test_an_empty_file_is_one_line(data: bytes, tmp_path: Path):
    path = tmp_path / "registrations.csv"
    path.write_bytes(data)
    with pytest.raises(ReadError, match="empty file"):
        read_file(path, tmp_path, SOURCES["registrations"])
