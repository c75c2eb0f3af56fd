"""CSV text as agencies really send it, read record by record so that one broken row costs
that row and nothing else, and a block at a time so that memory holds one block, not the
file (blocks.py).

A file is first surveyed (streaming, once, or twice when it is not UTF-8) to find its
encoding: UTF-8 with or without BOM, GB18030/GBK, or UTF-16 (Excel's "Unicode text"). Bytes
that are valid in neither UTF-8 nor GB18030 (a stray 0xFF, a cp1252 "é", a file cut in the
middle of a character) become U+FFFD in the encoding that needs fewest of them, and only
the rows holding them are quarantined. Text that decodes as GB18030 but reads as Shift-JIS
(Japanese kana through a Chinese code page: garbage that would pass every check) is refused
as a whole. The text is then decoded to UTF-8 as it is read, never written out or held
whole. A compressed file cut short keeps every row before the cut. Files with CR-only line
ends (old Mac exports) are read line by line like any other.

The text is split into records (physical lines, joined where a quoted value holds a line
break) with polars string expressions, and each record's fields are counted: a record with
more or fewer fields than its header is quarantined with its row number and the field where
it goes wrong, instead of failing the file (polars would) or being padded with nulls (it
would too). The header is the line among the first ten that names most contract columns, so
a title line above it is skipped, and it is read as written: a duplicated header is seen as
such before any reader renames it. Rows are numbered on from block to block: a problem row
names the file's own row.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from screening.ingest.blocks import record_blocks
from screening.ingest.problems import PROBLEM_SCHEMA, empty_problems

CHUNK = 1 << 20
BLOCK_BYTES = 8 << 20  # the default block (ingest.csv_block_mb sets it)
SEPARATORS = (",", "\t", ";", "|")
HEADER_SEARCH = 10  # a header is looked for in this many first lines (title lines above it)
REPLACEMENT = "\ufffd"
# encodings in which ASCII bytes are the same characters (not UTF-16): an ASCII block needs
# no decoding
ASCII_SAME = ("utf-8-sig", "utf-8", "gb18030")
BOM = "\ufeff"
_QUOTED = r'"(?:[^"]|"")*"'
# two-byte GBK sequences, and those inside GB2312 (the characters of Chinese text)
_GBK_PAIR = re.compile(rb"[\x81-\xfe][\x40-\x7e\x80-\xfe]")
_GB2312_PAIR = re.compile(rb"[\xb0-\xf7][\xa1-\xfe]|[\xa1-\xa9][\xa1-\xfe]")


class TextError(Exception):
    """The file as a whole cannot be read as text (the message says why)."""


@dataclass
class Decoded:
    """A CSV file, what its survey found, and its text as a stream of UTF-8 bytes."""

    path: Path  # the file as sent
    encoding: str
    replaced: int = 0  # bytes that were not text in ``encoding``, now U+FFFD
    truncated: str | None = None  # why the file ends early (a cut compressed stream)
    utf8: Callable[[], Iterator[bytes]] = field(default=lambda: iter(()), repr=False)


@dataclass
class CsvTable:
    """A CSV file's rows (or one block's) as text columns (positional names), with the
    header as written and the records that could not be rows."""

    frame: pl.DataFrame  # columns named by position-unique headers, plus _row
    header: list[str]  # as written, duplicates and all
    problems: pl.DataFrame  # malformed records: file, row, field, reason
    rows_read: int  # data records (not blank lines, not title lines)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- bytes


def _raw_chunks(path: Path, state: dict[str, str | None]) -> Iterator[bytes]:
    """The file's bytes, gunzipped when it is .gz. A compressed stream that ends early or
    turns corrupt stops with what came before; ``state['truncated']`` says why."""
    if not path.name.lower().endswith(".gz"):
        with path.open("rb") as fh:
            yield from iter(lambda: fh.read(CHUNK), b"")
        return
    with path.open("rb") as fh:
        d = zlib.decompressobj(wbits=31)
        started = False
        complete = False  # the last gzip member seen ended with its end-of-stream marker
        for block in iter(lambda: fh.read(CHUNK), b""):
            data = block
            while data:
                try:
                    out = d.decompress(data)
                except zlib.error as exc:
                    if not started:
                        raise TextError(f"not a readable gzip file: {exc}") from exc
                    state["truncated"] = f"compressed data corrupt after this point ({exc})"
                    return
                started, complete = True, False
                if out:
                    yield out
                if d.eof:  # another gzip member may follow
                    data, complete = d.unused_data, True
                    d = zlib.decompressobj(wbits=31)
                else:
                    data = b""
        if started and not complete:
            yield d.flush()
            state["truncated"] = "the compressed file ends early (cut in a copy or upload?)"


def _chunks(path: Path) -> tuple[Callable[[], Iterator[bytes]], dict[str, str | None]]:
    state: dict[str, str | None] = {"truncated": None}
    return (lambda: _raw_chunks(path, state)), state


def _utf16(head: bytes) -> str | None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = head[:4096]
    if len(sample) >= 8:
        odd = sample[1::2].count(0) / (len(sample) // 2)
        even = sample[0::2].count(0) / (len(sample) // 2)
        if odd > 0.3 and even < 0.05:
            return "utf-16-le"
        if even > 0.3 and odd < 0.05:
            return "utf-16-be"
    return None


def _survey(
    chunks: Callable[[], Iterator[bytes]], encodings: tuple[str, ...], stop: bool = False
) -> tuple[list[tuple[int, int, int]], tuple[int, int]]:
    """Decoding with each of ``encodings``, in one pass: (U+FFFD it has to insert, CRs, LFs)
    for each (no replacement means the text is valid in that encoding), and the GBK and
    GB2312 byte pairs seen (only when more than one encoding is tried). ``stop``: at the
    first replacement (the caller then surveys again with more encodings)."""
    decoders = [codecs.getincrementaldecoder(e)("replace") for e in encodings]
    counts = [[0, 0, 0] for _ in encodings]
    pairs = gb2312 = 0
    ascii_same = all(e in ASCII_SAME for e in encodings)
    for block in itertools.chain(chunks(), [b""]):
        if ascii_same and block.isascii() and not any(d.getstate()[0] for d in decoders):
            # ASCII reads the same in every encoding tried (a reading's digits, nearly all of a
            # readings file): counted as bytes, not decoded (the survey's cost was decoding)
            for c in counts:
                c[1] += block.count(b"\r")
                c[2] += block.count(b"\n")
            continue
        for decoder, c in zip(decoders, counts, strict=True):
            text = decoder.decode(block, final=not block)
            c[0] += text.count(REPLACEMENT)
            c[1] += text.count("\r")
            c[2] += text.count("\n")
        if len(encodings) > 1 and not block.isascii():  # (a reading's digits hold none)
            pairs += len(_GBK_PAIR.findall(block))
            gb2312 += len(_GB2312_PAIR.findall(block))
        if stop and counts[0][0]:
            break
    return [(c[0], c[1], c[2]) for c in counts], (pairs, gb2312)


def _strict(chunks: Callable[[], Iterator[bytes]], encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        for block in chunks():
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _looks_japanese(chunks: Callable[[], Iterator[bytes]], pairs: int, gb2312: int) -> bool:
    """Chinese text in GB18030 is nearly all GB2312 characters; Shift-JIS kana and kanji read
    through GB18030 fall mostly outside it (and the bytes are valid Shift-JIS)."""
    if pairs < 20 or gb2312 >= 0.5 * pairs:
        return False
    return _strict(chunks, "shift_jis")


def _as_utf8(
    chunks: Callable[[], Iterator[bytes]], encoding: str, transcode: bool, cr_only: bool
) -> Iterator[bytes]:
    """The text as UTF-8 bytes without a BOM, decoded as it is read (the bytes as they are
    when they are clean UTF-8 already)."""
    if not transcode:
        it = chunks()
        first = b""
        for block in it:  # enough bytes to see a BOM
            first += block
            if len(first) >= 3:
                break
        yield first.removeprefix(BOM.encode())
        yield from it
        return
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    start = True
    for block in itertools.chain(chunks(), [b""]):
        if (
            block
            and encoding in ASCII_SAME
            and not (start or cr_only or decoder.getstate()[0])
            and block.isascii()
        ):
            yield block  # ASCII is its own UTF-8 in every encoding read here: no decoding
            continue
        text = decoder.decode(block, final=not block)
        if start and text:
            text, start = text.removeprefix(BOM), False
        yield (text.replace("\r", "\n") if cr_only else text).encode("utf-8")


def decode(path: Path) -> Decoded:
    """What the file's text is, and a way to read it as UTF-8: the survey reads it once when
    it is UTF-8 and twice when not (a first pass stops at the first byte that is not UTF-8;
    the second counts what both UTF-8 and GB18030 would make of the whole file)."""
    chunks, state = _chunks(path)
    head = next(chunks(), b"")
    encoding = _utf16(head)
    if encoding is not None:
        (replaced, cr, lf) = _survey(chunks, (encoding,))[0][0]
    else:
        encoding = "utf-8-sig"
        (replaced, cr, lf) = _survey(chunks, (encoding,), stop=True)[0][0]
        if replaced:
            (utf8, gb), (pairs, gb2312) = _survey(chunks, (encoding, "gb18030"))
            (replaced, cr, lf) = utf8
            if gb[0] < replaced:  # the reading that needs fewer replacements
                encoding, (replaced, cr, lf) = "gb18030", gb
            if encoding == "gb18030" and _looks_japanese(chunks, pairs, gb2312):
                raise TextError(
                    "text is Shift-JIS (Japanese), not GB18030/GBK: read as Chinese it would "
                    "be garbage; re-export the file as UTF-8"
                )
    cr_only = cr > 0 and lf == 0  # old Mac line ends
    name = "utf-8" if encoding == "utf-8-sig" else encoding
    transcode = encoding != "utf-8-sig" or replaced > 0 or cr_only
    decoded = Decoded(path, name, replaced, state["truncated"])
    decoded.utf8 = lambda: _as_utf8(chunks, encoding, transcode, cr_only)
    return decoded


# ---------------------------------------------------------------------------- records


def _split(line: str, sep: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(line), delimiter=sep)) if line else []
    except csv.Error:  # a stray quote: as plain text
        return line.split(sep)


def _with_field_count(frame: pl.DataFrame, sep: str) -> pl.DataFrame:
    """``_n``: fields in each record, and ``_q``: whether it holds a quote. The separators in
    quoted values are taken out only in the records holding a quote (a few, usually)."""
    text = pl.col("text")
    out = frame.with_columns(
        (text.str.count_matches(sep, literal=True) + 1).alias("_n"),
        text.str.contains('"', literal=True).alias("_q"),
    )
    if not out["_q"].any():
        return out
    unquoted = text.str.replace_all(_QUOTED, "").str.count_matches(sep, literal=True) + 1
    quoted = out.filter("_q").select("_row", unquoted.alias("_n"))
    return out.update(quoted, on="_row")


def unique_names(headers: list[str]) -> list[str]:
    """Position-unique column names for a header as written (两个 名称 become 名称, 名称#2)."""
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h}#{seen[h]}")
    return out


def find_header(rows: list[list[str]], score: Callable[[list[str]], int]) -> int:
    """The first of the rows naming most contract columns (0 when none names any)."""
    scores = [score(r) for r in rows]
    best = max(scores, default=0)
    return scores.index(best) if best > 0 else 0


@dataclass
class _Layout:
    """How a file's records are cut into fields: found in its first block."""

    header: list[str]  # as written
    names: list[str]  # position-unique
    sep: str
    header_line: int  # physical line of the header


def _layout(
    present: pl.DataFrame, score: Callable[[list[str]], int], file: str
) -> tuple[_Layout, list[str]]:
    """The separator and header (among the first records, which are not blank) that name
    most contract columns; and a note when title lines above the header were skipped."""
    head = present.head(HEADER_SEARCH)["text"].to_list()
    best = (",", 0, -1)
    for sep in SEPARATORS:
        cells = [_split(t, sep) for t in head]
        at = find_header(cells, score)
        s = score(cells[at])
        if s > best[2]:
            best = (sep, at, s)
    sep, at, _ = best
    if best[2] <= 0:  # no known column anywhere: the most frequent separator, first line
        sep = max(SEPARATORS, key=lambda s: head[0].count(s))
        at = 0
    header = [h.strip() for h in _split(head[at], sep)]
    notes = []
    if at:
        notes.append(
            f"{file}: {at} line(s) above the header skipped: "
            + " / ".join(repr(t[:40]) for t in head[:at])
        )
    layout = _Layout(header, unique_names(header), sep, present["_line"][at])
    return layout, notes


def csv_blocks(
    decoded: Decoded,
    file: str,
    source: str,
    score: Callable[[list[str]], int],
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[CsvTable]:
    """A decoded CSV file's records a block of about ``block_bytes`` at a time: good ones
    as text columns (with ``_row``, the record's number in the file, counted on from block
    to block), the others as problems naming file, row, field and reason. Memory holds one
    block: a city's CSV file is never read whole. A TextError may come from the first block
    (an empty file); the header is found there."""
    layout: _Layout | None = None
    row0 = 0
    for block in record_blocks(decoded.utf8(), block_bytes, first=HEADER_SEARCH):
        notes: list[str] = []
        first = layout is None
        if layout is None:
            present = block.records.filter(pl.col("text").is_not_null())
            if present.height == 0:
                raise TextError("empty file (no header, no rows)")
            layout, notes = _layout(present, score, file)
        body = (
            block.records.filter(pl.col("_line") > layout.header_line)
            .with_row_index("_row", offset=row0 + 1)
            .with_columns(pl.col("_row").cast(pl.Int64))
        )
        # polars may read the block's bytes itself: after the first block, or from it when
        # the header is its first line
        skip = 1 if first else 0
        data = block.data if (not first or layout.header_line == 0) else None
        table = _block_rows(body, layout, decoded, file, source, block.final, data, skip)
        table.notes = notes
        row0 += body.height
        yield table


def _block_rows(
    body: pl.DataFrame,
    layout: _Layout,
    decoded: Decoded,
    file: str,
    source: str,
    final: bool,
    data: bytes | None,
    skip: int,
) -> CsvTable:
    """One block's records checked: the field counts of every record, the problem columns
    (reason, field, value) only for the records that are wrong."""
    header, sep, width = layout.header, layout.sep, len(layout.header)
    text = pl.col("text")
    marked = _with_field_count(body.filter(text.is_not_null()), sep)
    last = marked["_row"].max() if final and decoded.truncated else None
    cut = (pl.col("_row") == last) if last is not None else pl.lit(False)
    bad_bytes = text.str.contains(REPLACEMENT, literal=True) if decoded.replaced else pl.lit(False)
    stray = pl.col("_stray")
    wrong = marked.select(cut | bad_bytes | stray | (pl.col("_n") != width)).to_series()
    bad, good_rows = marked.filter(wrong), marked.filter(~wrong)
    labels = pl.Series([*header, header[-1] if header else ""], dtype=pl.String)

    def before(mark: str) -> pl.Expr:  # the field a character first appears in
        prefix = text.str.extract(f"^([^{re.escape(mark)}]*){re.escape(mark)}", 1)
        return prefix.str.count_matches(sep, literal=True).clip(upper_bound=width)

    enc = decoded.encoding.upper()
    reasons = bad.with_columns(
        pl.when(cut)
        .then(pl.format("the file ends in the middle of this row: {}", pl.lit(decoded.truncated)))
        .when(bad_bytes)
        .then(pl.lit(f"bytes that are not {enc} text (shown as {REPLACEMENT}); row not read"))
        .when(stray)
        .then(pl.lit('a quote (") opens in this row and never closes; row not read'))
        .when(pl.col("_n") < width)
        .then(pl.format("row has {} of {} fields: cut short, or a separator missing", "_n", width))
        .otherwise(
            pl.format(
                "row has {} fields, the header {}: a separator inside a value shifts every "
                "field after it",
                "_n",
                width,
            )
        )
        .alias("reason"),
        pl.when(cut)
        .then((pl.col("_n") - 1).clip(0, width))
        .when(bad_bytes)
        .then(before(REPLACEMENT))
        .when(stray)
        .then(before('"'))
        .when(pl.col("_n") < width)
        .then(pl.col("_n"))
        .otherwise(width)
        .alias("_f"),
    )
    problems = (
        reasons.select(
            pl.lit(source).alias("source"),
            pl.lit(file).alias("file"),
            pl.col("_row").alias("row"),
            pl.col("_f")
            .replace_strict(list(range(len(labels))), labels, default=None)
            .alias("field"),
            pl.lit("rejected").alias("severity"),
            "reason",
            text.str.slice(0, 200).alias("value"),
            pl.struct(text.alias("line")).struct.json_encode().alias("record"),
        ).cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]
        if bad.height
        else empty_problems()
    )
    fast = data if bad.height == 0 else None
    frame, unquoted = _parse(fast, skip, good_rows, layout, body)
    if unquoted.height:
        problems = pl.concat(
            [
                problems,
                unquoted.select(
                    pl.lit(source).alias("source"),
                    pl.lit(file).alias("file"),
                    pl.col("_row").alias("row"),
                    pl.lit(None, dtype=pl.String).alias("field"),
                    pl.lit("rejected").alias("severity"),
                    pl.lit("quotes in this row do not pair up; row not read").alias("reason"),
                    text.str.slice(0, 200).alias("value"),
                    pl.struct(text.alias("line")).struct.json_encode().alias("record"),
                ),
            ],
            how="vertical_relaxed",
        )
    return CsvTable(frame, header, problems, good_rows.height + bad.height)


def _parse(
    data: bytes | None, skip: int, good: pl.DataFrame, layout: _Layout, body: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The good records as text columns: the block's bytes through polars' CSV reader when
    nothing was wrong in it (the fast, usual case: ``data`` given), else the good records
    alone, split on the separator where they hold no quotes and through the CSV reader where
    they do. Returns (rows, records whose quotes could not be read)."""
    names, sep = layout.names, layout.sep
    schema = {n: pl.String for n in names}
    none = good.head(0).select("_row", "text")
    if data is not None and body.height:
        try:
            frame: pl.DataFrame | None = pl.read_csv(
                data,
                has_header=False,
                skip_rows=skip,
                new_columns=names,
                schema_overrides=schema,
                infer_schema=False,
                separator=sep,
                encoding="utf8",
            )
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError):
            frame = None
        if frame is not None and frame.height == body.height and frame.width == len(names):
            numbered = frame.with_row_index("_row", offset=body["_row"][0]).with_columns(
                pl.col("_row").cast(pl.Int64)
            )
            if good.height == numbered.height:  # every record good: nothing to drop
                return numbered, none
            kept = numbered.join(good.select("_row"), on="_row", how="semi", maintain_order="left")
            return kept, none
    plain, quoted = good.filter(~pl.col("_q")), good.filter(pl.col("_q"))
    parts = [pl.DataFrame(schema={"_row": pl.Int64, **schema})]
    if plain.height:
        split = plain.select(
            "_row", pl.col("text").str.split(sep).list.to_struct(fields=names).alias("_s")
        ).unnest("_s")
        parts.append(
            split.with_columns(
                pl.when(pl.col(n) == "").then(None).otherwise(pl.col(n)).alias(n) for n in names
            )
        )
    unread = none
    if quoted.height:
        blob = "\n".join(quoted["text"].to_list())  # the few rows holding quotes, at once
        try:
            parsed: pl.DataFrame | None = pl.read_csv(
                io.BytesIO(blob.encode("utf-8")),
                has_header=False,
                new_columns=names,
                schema_overrides=schema,
                infer_schema=False,
                separator=sep,
            )
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError):
            parsed = None
        if parsed is not None and parsed.height == quoted.height:
            parts.append(pl.concat([quoted.select("_row"), parsed], how="horizontal"))
        else:
            unread = quoted.select("_row", "text")
    return pl.concat(parts, how="vertical_relaxed").sort("_row"), unread
