"""Reading a payload as received, before any source's rules: its bytes as text, its CSV rows, its
numbers and its times. Nothing here raises anything but PayloadError, the documented refusal.

A payload that cannot be read at all is refused with one reason of REFUSALS. A payload that can be
read keeps its good rows; each row or value that cannot be stored faithfully is rejected with a
rule id and a reason in words (`Rejection`), and the parsers quarantine it at the finest grain the
format allows: a value, then a row. Every payload says which encoding it was read in.
"""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# What a refusal is about; the payload log's error starts with one of them.
REFUSALS = {
    "empty": "the file is empty",
    "encoding": "not text in UTF-8 or GB18030/GBK",
    "truncated": "the payload is cut short",
    "format": "not this source's format",
}

# Times a reading cannot have: before any record the sources hold (a year 1900 is Excel's zero
# date or a default, not a sample), or later than the fetch plus this margin for clock skew.
EARLIEST_OBSERVATION = datetime(1980, 1, 1)
CLOCK_MARGIN = timedelta(days=1)
# Beyond every instrument range of pipelines/reference/data/qc_parameters.csv (the largest is
# 1e10 cells/L of algae); a larger number is a fault, and the standards' decimal rounding
# (GB/T 8170 through decimal.Decimal) cannot even represent it.
LARGEST_MEASUREMENT = 1e15
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
NOT_FINITE = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan", "+nan", "-nan"}


class PayloadError(ValueError):
    """The payload cannot be read at all: refused as a whole, with one line naming the reason.

    `kind` is one of REFUSALS (or "source" for a feed that answered with an error)."""

    def __init__(self, message: str, kind: str = "format"):
        super().__init__(" ".join(str(message).split()))  # one line, whatever the detail held
        self.kind = kind


def refuse(kind: str, detail: str) -> PayloadError:
    return PayloadError(f"{kind}: {detail}", kind=kind)


@dataclass
class Text:
    text: str
    encoding: str            # utf-8, utf-8-sig (with a byte-order mark) or gb18030
    cut_character: bool      # the bytes ended inside a multi-byte character: the end is lost

    @property
    def ends_cleanly(self) -> bool:
        """The last line ends with a line break (every real CSV sample does): a last row without
        one may have been cut anywhere, even at a field boundary."""
        return not self.cut_character and self.text.endswith(("\n", "\r"))


def decode(payload: bytes | str) -> Text:
    """The payload as text: UTF-8 with or without a byte-order mark, else GB18030 (a superset of
    GBK, what Excel on a Chinese Windows PC saves). Bytes that end inside a multi-byte character
    are read up to it and the text is marked cut. Refused: empty, binary, neither encoding."""
    if isinstance(payload, str):
        return _checked(Text(payload.lstrip("\ufeff"), "utf-8", False))
    if not payload.strip() or payload.strip() in (b"\xef\xbb\xbf",):
        raise refuse("empty", "the file has no content" if not payload else "the file holds only blanks")
    if payload.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise refuse("encoding", "UTF-16 text (Excel's 'Unicode text'): save it as CSV UTF-8 or CSV")
    nul = payload.count(b"\x00")
    if nul > max(8, len(payload) // 100):
        first = payload.find(bytes(1))
        raise refuse("encoding", f"binary data, not text ({nul} NUL bytes, the first at offset {first})")
    encoding = "utf-8-sig" if payload.startswith(b"\xef\xbb\xbf") else "utf-8"
    for codec in (encoding, "gb18030"):
        try:
            return _checked(Text(_no_nul(payload.decode(codec)), codec, False))
        except UnicodeDecodeError as error:
            if error.reason == "unexpected end of data" and error.end == len(payload):
                # the last character was cut: keep what precedes it, and say so
                return _checked(Text(_no_nul(payload[:error.start].decode(codec)), codec, True))
            failure = error
    raise refuse("encoding", f"neither UTF-8 nor GB18030/GBK (byte 0x{payload[failure.start]:02x} at offset "
                             f"{failure.start} is not valid UTF-8)")


def _no_nul(text: str) -> str:
    """A stray NUL byte in a text payload becomes U+FFFD: the cell that holds it is quarantined as
    not a number, and the rest of the payload is read (the csv module stops at a NUL)."""
    return text.replace("\x00", "\ufffd")


def _checked(text: Text) -> Text:
    body = text.text.lstrip("\ufeff")
    if not body.strip():
        raise refuse("empty", "the file holds only blanks")
    controls = sum(1 for c in body[:4096] if ord(c) < 32 and c not in "\t\r\n")
    if controls > 8:
        raise refuse("encoding", f"binary data, not text ({controls} control characters in its first 4 KiB)")
    return Text(body, text.encoding, text.cut_character)


@dataclass
class Row:
    line: int                 # where the row starts in the file (1 = the header)
    fields: list[str]
    problem: str = ""         # why the row cannot be read as the header says; "" when it can
    rule: str = ""


@dataclass
class Table:
    header: list[str]
    rows: list[Row] = field(default_factory=list)

    def record(self, row: Row) -> dict[str, str]:
        return dict(zip(self.header, row.fields))


def csv_table(text: Text, normalise=lambda name: name.strip()) -> Table:
    """The header and every non-blank row of a CSV text. A row whose fields do not match the
    header is kept with its problem (the parsers quarantine it); a last row cut by truncation is
    marked so; a quoted field that never closes refuses the payload (everything after it would be
    one field). Rows whose fields are all blank are not records (Excel leaves them at the end)."""
    unclosed = _unclosed_quote_line(text.text)
    if unclosed is not None:
        raise refuse("truncated", f"a quoted field opened on line {unclosed} never closes")
    reader = csv.reader(io.StringIO(text.text, newline=""))
    rows, line = [], 1
    try:
        header = next(reader)
        line = reader.line_num + 1
        for fields in reader:
            if any(f.strip() for f in fields):
                rows.append(Row(line, fields))
            line = reader.line_num + 1
    except StopIteration:
        raise refuse("empty", "the file has no header line") from None
    except csv.Error as error:
        raise refuse("format", f"not CSV (line {reader.line_num}: {error})") from None
    header = [normalise(name) for name in header]
    if not any(header):
        raise refuse("format", "the first line is not a header")
    duplicated = sorted({name for name in header if name and header.count(name) > 1})
    if duplicated:
        raise refuse("format", f"the header repeats columns {duplicated}")
    table = Table(header, rows)
    width = len(header)
    for index, row in enumerate(rows):
        last = index == len(rows) - 1
        while len(row.fields) > width and not row.fields[-1].strip():
            row.fields.pop()  # trailing empty fields (a spreadsheet's extra commas) hold nothing
        if len(row.fields) < width:
            cut = " (the payload is truncated)" if last and not text.ends_cleanly else ""
            row.problem, row.rule = f"the row ends early: {len(row.fields)} of {width} fields{cut}", "row_short"
        elif len(row.fields) > width:
            row.problem, row.rule = f"ragged row: {len(row.fields)} fields where the header has {width}", "row_ragged"
        elif last and text.cut_character:
            row.problem, row.rule = "the payload ends inside a character of this row (truncated)", "row_truncated"
    return table


def _unclosed_quote_line(text: str) -> int | None:
    if text.count('"') % 2 == 0:
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for _ in reader:
            start = reader.line_num + 1
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            return start
    return None


@dataclass
class Number:
    value: float | None
    problem: str = ""        # why the text is not a value envmon can store; "" when it is


def number(text) -> Number:
    """A measurement as printed: a plain decimal number (no thousands separators, no words).
    Non-finite, overflowing and unparseable texts are problems, never exceptions."""
    shown = str(text).strip()
    if shown.lower() in NOT_FINITE:
        return Number(None, f"{shown!r} is not a finite number")
    if not NUMBER.fullmatch(shown):
        return Number(None, f"{_short(shown)!r} is not a number")
    value = float(shown)
    if math.isinf(value):
        return Number(None, f"{_short(shown)} overflows a double (beyond 1.8e308)")
    if abs(value) > LARGEST_MEASUREMENT:
        return Number(None, f"{_short(shown)} is beyond any instrument's range (more than {LARGEST_MEASUREMENT:g})")
    return Number(value)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def time_problem(when: datetime, fetched_at: datetime) -> str:
    """Why a reading cannot have this time ("" when it can): before any record, or after the fetch."""
    naive = when.replace(tzinfo=None)
    if naive < EARLIEST_OBSERVATION:
        return (f"time {when:%Y-%m-%d %H:%M} is before {EARLIEST_OBSERVATION:%Y}, earlier than any record "
                f"(a default or zero date?)")
    if when > fetched_at + CLOCK_MARGIN:
        return f"time {when:%Y-%m-%d %H:%M} is after the payload was fetched ({fetched_at:%Y-%m-%d %H:%M}): a future reading"
    return ""


def date_clues(name: str) -> list[datetime]:
    """Dates a file's name gives (2021-04-05, 20210405, 2026-03-15T0100): the file's own clues to
    the year of readings printed without one."""
    clues = []
    for match in re.finditer(r"(?<!\d)(20\d{2}|19\d{2})-?(\d{2})-?(\d{2})(?!\d)", name or ""):
        try:
            clues.append(datetime(int(match[1]), int(match[2]), int(match[3])))
        except ValueError:
            continue
    return clues
