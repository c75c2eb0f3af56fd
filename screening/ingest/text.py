"""CSV text as agencies really send it, read row by row so that one broken row costs that
row and nothing else.

A file is first decoded to UTF-8 (once, streaming, into the staging folder when it is not
UTF-8 already): UTF-8 with or without BOM, GB18030/GBK, or UTF-16 (Excel's "Unicode text").
Bytes that are valid in neither UTF-8 nor GB18030 (a stray 0xFF, a cp1252 "é", a file cut
in the middle of a character) become U+FFFD in the encoding that needs fewest of them, and
only the rows holding them are quarantined. Text that decodes as GB18030 but reads as
Shift-JIS (Japanese kana through a Chinese code page: garbage that would pass every check)
is refused as a whole. A compressed file cut short keeps every row before the cut. Files
with CR-only line ends (old Mac exports) are read line by line like any other.

The text is then split into records (physical lines, joined where a quoted value holds a
line break) with polars string expressions, and each record's fields are counted: a record
with more or fewer fields than its header is quarantined with its row number and the field
where it goes wrong, instead of failing the file (polars would) or being padded with nulls
(it would too). The header is the line among the first ten that names most contract
columns, so a title line above it is skipped, and it is read as written: a duplicated
header is seen as such before any reader renames it.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from screening.ingest.problems import PROBLEM_SCHEMA, empty_problems

CHUNK = 1 << 20
SEPARATORS = (",", "\t", ";", "|")
HEADER_SEARCH = 10  # a header is looked for in this many first lines (title lines above it)
# a quoted value holding more line breaks than this is a quote that never closes (a stray
# '"' in an unquoted export), not a long text: its lines are read one by one again
MAX_RECORD_LINES = 20
STRAY = "\ue000"  # a private-use character: marks a stray quote while records are joined
REPLACEMENT = "\ufffd"
_QUOTED = r'"(?:[^"]|"")*"'
# two-byte GBK sequences, and those inside GB2312 (the characters of Chinese text)
_GBK_PAIR = re.compile(rb"[\x81-\xfe][\x40-\x7e\x80-\xfe]")
_GB2312_PAIR = re.compile(rb"[\xb0-\xf7][\xa1-\xfe]|[\xa1-\xa9][\xa1-\xfe]")


class TextError(Exception):
    """The file as a whole cannot be read as text (the message says why)."""


@dataclass
class Decoded:
    """A CSV file as UTF-8 text on disk, and what its decoding found."""

    path: Path  # UTF-8 text (the original file when it needed nothing)
    encoding: str
    replaced: int = 0  # bytes that were not text in ``encoding``, now U+FFFD
    truncated: str | None = None  # why the file ends early (a cut compressed stream)


@dataclass
class CsvTable:
    """A CSV file's rows as text columns (positional names), with the header as written and
    the records that could not be rows."""

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


def _survey(chunks: Callable[[], Iterator[bytes]], encoding: str) -> tuple[int, int, int]:
    """Decoding with ``encoding``: (U+FFFD it has to insert, CRs, LFs). No replacement
    means the text is valid in that encoding."""
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    bad = cr = lf = 0
    for block in itertools.chain(chunks(), [b""]):
        text = decoder.decode(block, final=not block)
        bad += text.count(REPLACEMENT)
        cr += text.count("\r")
        lf += text.count("\n")
    return bad, cr, lf


def _strict(chunks: Callable[[], Iterator[bytes]], encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        for block in chunks():
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _looks_japanese(chunks: Callable[[], Iterator[bytes]]) -> bool:
    """Chinese text in GB18030 is nearly all GB2312 characters; Shift-JIS kana and kanji read
    through GB18030 fall mostly outside it (and the bytes are valid Shift-JIS)."""
    pairs = gb2312 = 0
    for block in chunks():
        pairs += len(_GBK_PAIR.findall(block))
        gb2312 += len(_GB2312_PAIR.findall(block))
    if pairs < 20 or gb2312 >= 0.5 * pairs:
        return False
    return _strict(chunks, "shift_jis")


def decode(path: Path, staging: Path) -> Decoded:
    """The file as UTF-8 text: the original when it is plain UTF-8 with LF or CRLF line
    ends, else a transcoded copy in ``staging``."""
    chunks, state = _chunks(path)
    head = next(chunks(), b"")
    encoding = _utf16(head)
    if encoding is not None:
        replaced, cr, lf = _survey(chunks, encoding)
    else:
        encoding = "utf-8-sig"
        replaced, cr, lf = _survey(chunks, encoding)
        if replaced:
            gb = _survey(chunks, "gb18030")
            if gb[0] < replaced:  # the reading that needs fewer replacements
                encoding, (replaced, cr, lf) = "gb18030", gb
        if encoding == "gb18030" and _looks_japanese(chunks):
            raise TextError(
                "text is Shift-JIS (Japanese), not GB18030/GBK: read as Chinese it would be "
                "garbage; re-export the file as UTF-8"
            )
    cr_only = cr > 0 and lf == 0  # old Mac line ends
    name = "utf-8" if encoding == "utf-8-sig" else encoding
    gz = path.name.lower().endswith(".gz")
    if encoding == "utf-8-sig" and not replaced and not cr_only and not gz:
        return Decoded(path, name)
    staging.mkdir(parents=True, exist_ok=True)
    out = staging / (hashlib.sha1(str(path).encode()).hexdigest()[:12] + ".csv")
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    with out.open("w", encoding="utf-8", newline="") as dst:
        first = True
        for block in itertools.chain(chunks(), [b""]):
            text = decoder.decode(block, final=not block)
            if first and text:
                text, first = text.lstrip("\ufeff"), False
            dst.write(text.replace("\r", "\n") if cr_only else text)
    return Decoded(out, name, replaced, state["truncated"])


# ---------------------------------------------------------------------------- records


def _lines(path: Path) -> pl.Series:
    """Physical lines, null for a blank one (polars' own line splitting, so that the rows it
    numbers are the rows counted here)."""
    try:
        frame = pl.read_csv(
            path,
            has_header=False,
            separator="\x1f",
            quote_char=None,
            infer_schema=False,
            new_columns=["line"],
            truncate_ragged_lines=True,
            encoding="utf8",
        )
    except pl.exceptions.NoDataError as exc:
        raise TextError("empty file (no header, no rows)") from exc
    return frame.to_series() if frame.width else pl.Series("line", [], dtype=pl.String)


def _records(lines: pl.Series) -> pl.DataFrame:
    """Records (_line: first physical line, text, _stray: a quote that never closes opens
    here): lines joined while a quoted value is open. A quote still open after
    MAX_RECORD_LINES lines, or at the end of the file, is a stray one: its line is marked and
    the lines after it are records of their own again, so that one stray quote costs one
    row, not the rest of the file."""
    frame = pl.DataFrame({"text": lines}).with_row_index("_line")
    if not lines.str.contains('"', literal=True).any():
        return frame.with_columns(pl.lit(False).alias("_stray"))
    odd = pl.col("text").fill_null("").str.count_matches('"', literal=True) % 2
    inside = odd.cum_sum() % 2  # after this line, is a quoted value still open?
    rid = (inside == 0).cast(pl.Int64).shift(1, fill_value=0).cum_sum()
    for _ in range(3):  # each pass takes out the first stray quote of each long run
        sized = frame.with_columns(rid.alias("_rid")).with_columns(
            pl.len().over("_rid").alias("_n"),
            (pl.int_range(pl.len()).over("_rid") == 0).alias("_first"),
            (pl.col("_rid") == pl.col("_rid").max()).alias("_tail"),
        )
        open_at_end = sized.select(inside.last()).item() == 1
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
    stray_line = pl.col("text").str.contains(STRAY, literal=True).fill_null(False)
    return joined.with_columns(
        stray_line.alias("_stray"), pl.col("text").str.replace_all(STRAY, '"', literal=True)
    )


def _split(line: str, sep: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(line), delimiter=sep)) if line else []
    except csv.Error:  # a stray quote: as plain text
        return line.split(sep)


def _field_count(text: pl.Expr, sep: str) -> pl.Expr:
    unquoted = pl.when(text.str.contains('"', literal=True)).then(text.str.replace_all(_QUOTED, ""))
    return unquoted.otherwise(text).str.count_matches(sep, literal=True) + 1


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


def read_csv_rows(
    decoded: Decoded, file: str, source: str, score: Callable[[list[str]], int]
) -> CsvTable:
    """Every record of a decoded CSV file: good ones as text columns (with ``_row``), the
    others as problems naming file, row, field and reason."""
    lines = _lines(decoded.path)
    records = _records(lines)
    present = records.filter(pl.col("text").is_not_null())
    if present.height == 0:
        raise TextError("empty file (no header, no rows)")
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
    header_line = present["_line"][at]
    header = [h.strip() for h in _split(head[at], sep)]
    notes = []
    if at:
        notes.append(
            f"{file}: {at} line(s) above the header skipped: "
            + " / ".join(repr(t[:40]) for t in head[:at])
        )
    body = (
        records.filter(pl.col("_line") > header_line)
        .with_row_index("_row", offset=1)
        .with_columns(pl.col("_row").cast(pl.Int64))
    )
    names = unique_names(header)
    width = len(header)
    text = pl.col("text")
    n = _field_count(text, sep)
    last = body.filter(text.is_not_null()).select(pl.col("_row").max()).item()
    cut = (pl.col("_row") == last) if decoded.truncated and last is not None else pl.lit(False)
    bad_bytes = text.str.contains(REPLACEMENT, literal=True) if decoded.replaced else pl.lit(False)
    stray = pl.col("_stray")
    labels = pl.Series([*header, header[-1] if header else ""], dtype=pl.String)

    def before(mark: str) -> pl.Expr:  # the field a character first appears in
        prefix = text.str.extract(f"^([^{re.escape(mark)}]*){re.escape(mark)}", 1)
        return prefix.str.count_matches(sep, literal=True).clip(upper_bound=width)

    at_field, at_quote = before(REPLACEMENT), before('"')
    enc = decoded.encoding.upper()
    marked = body.filter(text.is_not_null()).with_columns(n.alias("_n"))
    problems_frame = marked.with_columns(
        pl.when(cut)
        .then(pl.format("the file ends in the middle of this row: {}", pl.lit(decoded.truncated)))
        .when(bad_bytes)
        .then(pl.lit(f"bytes that are not {enc} text (shown as {REPLACEMENT}); row not read"))
        .when(stray)
        .then(pl.lit('a quote (") opens in this row and never closes; row not read'))
        .when(pl.col("_n") < width)
        .then(pl.format("row has {} of {} fields: cut short, or a separator missing", "_n", width))
        .when(pl.col("_n") > width)
        .then(
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
        .then(at_field)
        .when(stray)
        .then(at_quote)
        .when(pl.col("_n") < width)
        .then(pl.col("_n"))
        .otherwise(width)
        .alias("_f"),
    )
    bad = problems_frame.filter(pl.col("reason").is_not_null())
    good_rows = problems_frame.filter(pl.col("reason").is_null())
    problems = (
        bad.select(
            pl.lit(source).alias("source"),
            pl.lit(file).alias("file"),
            "_row",
            pl.col("_f")
            .replace_strict(list(range(len(labels))), labels, default=None)
            .alias("field"),
            pl.lit("rejected").alias("severity"),
            "reason",
            text.str.slice(0, 200).alias("value"),
            pl.struct(text.alias("line")).struct.json_encode().alias("record"),
        )
        .rename({"_row": "row"})
        .cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]
        if bad.height
        else empty_problems()
    )
    frame, unquoted = _parse(decoded.path, good_rows, names, sep, header_line, body.height, bad)
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
    return CsvTable(frame, header, problems, good_rows.height + bad.height, notes)


def _parse(
    path: Path,
    good: pl.DataFrame,
    names: list[str],
    sep: str,
    header_line: int,
    records: int,
    bad: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The good records as text columns: the whole file through polars' CSV reader when
    nothing was wrong with it (the fast, usual case), else the good records alone, split on
    the separator where they hold no quotes and through the CSV reader where they do.
    Returns (rows, records whose quotes could not be read)."""
    schema = {n: pl.String for n in names}
    none = good.head(0).select("_row", "text")
    if bad.height == 0 and header_line == 0:
        try:
            frame: pl.DataFrame | None = pl.read_csv(
                path,
                has_header=False,
                skip_rows=1,
                new_columns=names,
                schema_overrides=schema,
                infer_schema=False,
                separator=sep,
                encoding="utf8",
            )
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError):
            frame = None
        if frame is not None and frame.height == records and frame.width == len(names):
            numbered = frame.with_row_index("_row", offset=1).with_columns(
                pl.col("_row").cast(pl.Int64)
            )
            kept = numbered.join(good.select("_row"), on="_row", how="semi", maintain_order="left")
            return kept, none
    has_quote = pl.col("text").str.contains('"', literal=True)
    plain, quoted = good.filter(~has_quote), good.filter(has_quote)
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
