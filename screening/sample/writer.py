"""Writing bundle files byte-for-byte reproducibly: CSV in UTF-8, UTF-8 with BOM or GB18030,
gzip without a timestamp, xlsx with a fixed creation date, Parquet with zstd, GeoJSON and
the manifest. Same seed, same bytes: that is what lets a test pin the sample.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .. import schema
from .config import AS_OF, REGION, TIMEZONE

# Chinese header chosen per column where the schema's first alias is not the one this
# agency would print.
PREFERRED: dict[tuple[str, str], str] = {
    ("registrations", "address"): "住所",
    ("registrations", "status"): "登记状态",
    ("power_accounts", "address"): "用电地址",
    ("idle_properties", "address"): "详细地址",
    ("idle_properties", "kind"): "场所类型",
    ("vehicles", "cargo"): "运输介质",
    ("vehicle_tracks", "ts"): "定位时间",
}


def chinese_headers(
    df: pl.DataFrame, source: str, override: dict[str, str] | None = None
) -> pl.DataFrame:
    src = schema.SOURCES[source]
    ren = {}
    for c in df.columns:
        if override and c in override:
            ren[c] = override[c]
        elif c in src.names and src.column(c).aliases:
            ren[c] = PREFERRED.get((source, c), src.column(c).aliases[0])
    return df.rename(ren)


def csv_bytes(df: pl.DataFrame, encoding: str = "utf-8", bom: bool = False) -> bytes:
    text = df.write_csv(float_precision=None)
    data = text.encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def write_csv(
    df: pl.DataFrame, path: Path, *, encoding: str = "utf-8", bom: bool = False, gz: bool = False
) -> None:
    data = csv_bytes(df, encoding, bom)
    if gz:
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
            f.write(data)
        data = buf.getvalue()
    path.write_bytes(data)


class ParquetSink:
    """Appends blocks to one Parquet file so that big tables never sit in memory whole.

    Encodings were measured on the sample: dictionary + zstd beats byte-stream-split for
    meter readings and coordinates rounded the way devices round them, and timestamps
    (sorted per account or per truck batch) shrink to almost nothing with delta encoding.
    """

    def __init__(self, path: Path, schema_: pa.Schema) -> None:
        ts = [f.name for f in schema_ if pa.types.is_timestamp(f.type)]
        self.writer = pq.ParquetWriter(
            path,
            schema_,
            compression="zstd",
            compression_level=9,
            use_dictionary=[f.name for f in schema_ if f.name not in ts],
            column_encoding={c: "DELTA_BINARY_PACKED" for c in ts} or None,
            write_statistics=True,
        )
        self.schema = schema_
        self.rows = 0

    def write(self, df: pl.DataFrame) -> None:
        t = df.to_arrow().cast(self.schema)
        self.writer.write_table(t, row_group_size=1_000_000)
        self.rows += df.height

    def close(self) -> None:
        self.writer.close()


def write_parquet(df: pl.DataFrame, path: Path) -> None:
    t = df.to_arrow()
    sink = ParquetSink(path, t.schema)
    sink.write(df)
    sink.close()


def write_xlsx(df: pl.DataFrame, path: Path, date_cols: tuple[str, ...] = ()) -> None:
    """Real Excel dates (serial numbers with a date format), as exported by office staff."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_urls": False})
    wb.set_properties(
        {"created": datetime(AS_OF.year, AS_OF.month, AS_OF.day), "author": "", "title": ""}
    )
    ws = wb.add_worksheet("闲置场所")
    bold = wb.add_format({"bold": True})
    dfmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for j, c in enumerate(df.columns):
        ws.write_string(0, j, c, bold)
    for j, c in enumerate(df.columns):
        vals = df[c].to_list()
        for i, v in enumerate(vals, start=1):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            if c in date_cols and isinstance(v, date):
                ws.write_datetime(i, j, datetime(v.year, v.month, v.day), dfmt)
            elif isinstance(v, int | float):
                ws.write_number(i, j, v)
            else:
                ws.write_string(i, j, str(v))
    ws.set_column(0, len(df.columns) - 1, 16)
    wb.close()


def write_geojson(features: list[dict[str, object]], path: Path) -> None:
    fc = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(fc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def write_manifest(path: Path, crs: str, renames: dict[str, dict[str, str]]) -> None:
    lines = [
        f'region   = "{REGION}"',
        f'as_of    = "{AS_OF.isoformat()}"',
        f'timezone = "{TIMEZONE}"',
        f'crs      = "{crs}"',
    ]
    if renames:
        lines.append("")
        lines.append("[columns]")
        for src, m in renames.items():
            inner = ", ".join(f'"{k}" = "{v}"' for k, v in m.items())
            lines.append(f"{src} = {{ {inner} }}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
