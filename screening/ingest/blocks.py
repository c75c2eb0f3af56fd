"""A CSV file's UTF-8 text read as records, one block of bytes at a time, so that memory
holds about one block whatever the file's size (a city's readings arrive as CSV files of
10^8 rows; read whole, one took 22 GB).

A block is cut at its last line end. Lines are split by polars (the rows it numbers are the
rows counted here) and joined into records while a quoted value is open; a record still
open at the end of a block is carried, as its bytes, to the front of the next block, so a
quoted value holding a line break is one record wherever the blocks fall. Only the last
block treats a quote still open as a stray one. Blocks are numbered on (``_line`` is the
file's physical line), so a problem row names its real row whatever block it was read in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

# a quoted value holding more line breaks than this is a quote that never closes (a stray
# '"' in an unquoted export), not a long text: its lines are read one by one again
MAX_RECORD_LINES = 20
STRAY = "\ue000"  # a private-use character: marks a stray quote while records are joined


@dataclass
class RecordBlock:
    """Whole records of one block: ``records`` (_line: the file's 0-based physical line of
    the record's first line, text (null: a blank line), _stray) and the block's bytes."""

    records: pl.DataFrame
    data: bytes  # exactly the lines of ``records``, as UTF-8 bytes
    final: bool  # the file's last block


def byte_blocks(chunks: Iterator[bytes], size: int) -> Iterator[tuple[bytes, bool]]:
    """(bytes, final): the text in blocks of about ``size`` bytes, each cut after the last
    line end within it (a line longer than a block makes that block longer: a line cannot be
    cut). A block is handed on once the next one has begun, so the last block, and only it,
    says it is final, and it is never an empty block after a full one."""
    pending = bytearray()
    ready: bytes | None = None
    for chunk in chunks:
        pending += chunk
        start = 0
        while len(pending) - start >= size:
            end = pending.rfind(b"\n", start, start + size) + 1
            end = end or pending.find(b"\n", start + size) + 1
            if not end:  # a line longer than a block: read on
                break
            if ready is not None:
                yield ready, False
            ready, start = bytes(pending[start:end]), end
        del pending[:start]
    if ready is not None:
        yield ready, not pending
        if not pending:
            return
    yield bytes(pending), True


def lines_of(data: bytes) -> pl.Series:
    """Physical lines, null for a blank one (polars' own line splitting: one line per line
    end, so that a block cut after a line end ends a line)."""
    if not data:
        return pl.Series("line", [], dtype=pl.String)
    frame = pl.read_csv(
        data,
        has_header=False,
        separator="\x1f",
        quote_char=None,
        infer_schema=False,
        new_columns=["line"],
        truncate_ragged_lines=True,
        encoding="utf8",
    )
    return frame.to_series() if frame.width else pl.Series("line", [], dtype=pl.String)


def records(lines: pl.Series, final: bool = True) -> tuple[pl.DataFrame, int]:
    """Records (_line: first physical line, text, _stray: a quote that never closes opens
    here), and how many lines at the end form a record still open (``final`` False: they
    are carried into the next block). Lines are joined while a quoted value is open. A
    quote still open after MAX_RECORD_LINES lines, or at the end of the file, is a stray
    one: its line is marked and the lines after it are records of their own again, so that
    one stray quote costs one row, not the rest of the file."""
    frame = pl.DataFrame({"text": lines}).with_row_index("_line")
    if not lines.str.contains('"', literal=True).any():
        return frame.with_columns(pl.lit(False).alias("_stray")), 0
    odd = pl.col("text").fill_null("").str.count_matches('"', literal=True) % 2
    inside = odd.cum_sum() % 2  # after this line, is a quoted value still open?
    rid = (inside == 0).cast(pl.Int64).shift(1, fill_value=0).cum_sum()
    for _ in range(3):  # each pass takes out the first stray quote of each long run
        sized = frame.with_columns(rid.alias("_rid")).with_columns(
            pl.len().over("_rid").alias("_n"),
            (pl.int_range(pl.len()).over("_rid") == 0).alias("_first"),
            (pl.col("_rid") == pl.col("_rid").max()).alias("_tail"),
        )
        open_at_end = final and sized.select(inside.last()).item() == 1
        stray = (pl.col("_n") > MAX_RECORD_LINES) | (pl.col("_tail") & pl.lit(open_at_end))
        bad = sized.filter(stray & pl.col("_first"))["_line"]
        if bad.len() == 0:
            break
        frame = frame.with_columns(  # the stray quote's line stands alone, marked
            pl.when(pl.col("_line").is_in(bad.implode()))
            .then(pl.col("text").str.replace_all('"', STRAY))
            .otherwise(pl.col("text"))
            .alias("text")
        )
    joined = (
        frame.with_columns(rid.alias("_rid"))
        .group_by("_rid", maintain_order=True)
        .agg(
            pl.col("_line").first(),
            pl.when(pl.col("text").is_null().all())
            .then(None)
            .otherwise(pl.col("text").fill_null("").str.join("\n"))
            .alias("text"),
        )
        .drop("_rid")
    )
    carried = 0
    if not final and frame.height and frame.select(inside.last()).item() == 1:
        carried = frame.height - joined["_line"][-1]
        if carried <= MAX_RECORD_LINES:  # else it is judged here, as the long record it is
            joined = joined.head(joined.height - 1)
        else:
            carried = 0
    stray_line = pl.col("text").str.contains(STRAY, literal=True).fill_null(False)
    out = joined.with_columns(
        stray_line.alias("_stray"), pl.col("text").str.replace_all(STRAY, '"', literal=True)
    )
    return out, carried


def _start_of_last(data: bytes, k: int) -> int:
    """Where the last ``k`` lines of ``data`` (which ends with a line end) begin."""
    pos = len(data) - 1
    for _ in range(k):
        pos = data.rfind(b"\n", 0, pos)
    return pos + 1


def record_blocks(chunks: Iterator[bytes], size: int, first: int = 0) -> Iterator[RecordBlock]:
    """The text's records, a block of about ``size`` bytes at a time (the first block holds
    at least ``first`` records that are not blank, or the whole file: the header is looked
    for among them). ``_line`` counts on across blocks."""
    carry = b""
    line0 = 0
    for raw, final in byte_blocks(chunks, size):
        data = carry + raw if carry else raw
        lines = lines_of(data)
        recs, k = records(lines, final)
        if first and not final and recs.select(pl.col("text").count()).item() < first:
            carry = data  # too few records yet to find the header in: read on
            continue
        first = 0
        cut = _start_of_last(data, k) if k else len(data)
        carry = data[cut:]
        if cut == 0 and not final:  # one open record is the whole block: read on
            continue
        yield RecordBlock(recs.with_columns(pl.col("_line") + line0), data[:cut], final)
        line0 += lines.len() - k
