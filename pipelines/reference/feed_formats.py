"""Each feed's expected header, as data (pipelines/reference/data/feed_formats.csv): per feed and
format, every column as the feed prints it, the parameter and averaging period a value column
holds, the unit its header states (or, where the feed prints none, the unit its documentation
gives), its role and the period the layout is valid for, with the sample it was taken from.

A payload's header is compared with the layout in force on its fetch day (`check`). A column the
table does not hold is *unknown*; one it holds that the payload lacks is *missing*; an unknown
column whose name is an expected one's with another unit is a *changed unit*. The parsers decide
what each difference costs: a missing key column (without it no row can be placed) refuses the
payload; a missing value column means its values cannot be read, and is said in the summary
(`format_changes`) and told to the operators once; an unknown column's values, or those of a column in another unit, are
quarantined, never read as something they may not be (a renamed `氨氮(mg/L)` in the JSON is not
taken for 氨氮: it is named as unknown, and 氨氮 as missing).

Roles: `key` (identifies the record: missing refuses the payload), `value` (a measurement),
`descriptive` (read when present: names, coordinates, the publisher's class or AQI), `optional`
(read when present, and its absence is no change: a template column added later, such as the lab's
report_version, that files made before it rightly lack)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

import pandas as pd

from pipelines.reference.standards import DATA_DIR

TABLE = DATA_DIR / "feed_formats.csv"
ROLES = ("key", "value", "descriptive", "optional")
TAG = re.compile(r"<[^>]+>")
NAME_AND_UNIT = re.compile(r"(?P<name>.*?)\s*[(（](?P<unit>[^()（）]*)[)）]\s*")
# Units written two ways for one unit (the feed's μ, U+03BC, and the micro sign µ, U+00B5).
SAME_UNIT = {"μ": "µ", "ug": "µg", "℃": "°C"}


@cache
def table() -> pd.DataFrame:
    frame = pd.read_csv(TABLE, dtype=str, keep_default_na=False)
    bad = sorted(set(frame["role"]) - set(ROLES))
    if bad:
        raise ValueError(f"feed_formats.csv: unknown roles {bad}; known: {list(ROLES)}")
    return frame


def layout(feed: str, format_id: str, at: date | datetime | None = None) -> pd.DataFrame:
    """The columns of `format_id` of `feed` valid on `at` (its fetch day; today without one). An
    empty valid_from is 'as far back as the samples show', an empty valid_to 'still in force'."""
    day = _day(at)
    rows = table()[(table()["feed"] == feed) & (table()["format"] == format_id)]
    if rows.empty:
        raise KeyError(f"feed_formats.csv has no format {format_id!r} of {feed!r}")
    starts = rows["valid_from"].map(lambda t: date.fromisoformat(t) if t else date.min)
    ends = rows["valid_to"].map(lambda t: date.fromisoformat(t) if t else date.max)
    valid = rows[(starts <= day) & (day <= ends)]
    return (valid if len(valid) else rows[ends == ends.max()]).reset_index(drop=True)


def _day(at) -> date:
    if at is None:
        from pipelines import clock
        return clock.today()
    if isinstance(at, datetime):
        from pipelines.observations import BUREAU_TZ
        return (at.astimezone(BUREAU_TZ) if at.tzinfo else at).date()
    return at


def name_and_unit(header: str) -> tuple[str, str]:
    """('氨氮', 'mg/L') of `氨氮<br/><span class='unit'>(mg/L)</span>` or `氨氮(mg/L)`; (name, '')
    where the header prints no unit."""
    text = TAG.sub("", str(header)).strip()
    match = NAME_AND_UNIT.fullmatch(text)
    return (match["name"].strip(), match["unit"].strip()) if match else (text, "")


def _same_unit(a: str, b: str) -> bool:
    def plain(unit: str) -> str:
        for other, canonical in SAME_UNIT.items():
            unit = unit.replace(other, canonical)
        return unit.replace(" ", "").lower()
    return plain(a) == plain(b)


@dataclass
class HeaderCheck:
    """The payload's header against the layout: where each expected column is, and what differs."""
    feed: str
    format: str
    positions: dict[str, int] = field(default_factory=dict)        # expected column → its position
    unknown: dict[int, dict] = field(default_factory=dict)         # position → its change (kind, parameter, ...)
    changes: list[dict] = field(default_factory=list)              # every difference, named

    def position(self, column: str) -> int | None:
        return self.positions.get(column)

    @property
    def missing_keys(self) -> list[str]:
        return [c["column"] for c in self.changes if c["kind"] == "missing" and c["role"] == "key"]

    def summary(self) -> str:
        """One line naming every difference (for a refusal, a warning and the notice)."""
        return "; ".join(change["said"] for change in self.changes)

    def as_changes(self) -> list[dict]:
        """Every difference with its feed and format: the summary's `format_changes`, and what the
        operators' notice is keyed by (operational.format_change_key: once per change)."""
        return [{"feed": self.feed, "format": self.format, **c} for c in self.changes]


def check(feed: str, format_id: str, header: list[str], at=None) -> HeaderCheck:
    """Compare a payload's header with the layout in force at `at`. Each difference is named:
    missing (an expected column absent), unknown (a column the layout does not hold), unit changed
    (an unknown column carrying an expected one's name with another unit). A renamed column shows
    as one unknown and one missing, with the likely pairing said."""
    expected = layout(feed, format_id, at)
    found = HeaderCheck(feed, format_id)
    columns = {row["column"]: row for row in expected.to_dict("records")}
    for position, text in enumerate(header):
        if text in columns and text not in found.positions:
            found.positions[text] = position
    absent = [row for column, row in columns.items() if column not in found.positions and row["role"] != "optional"]
    unmatched = [(p, t) for p, t in enumerate(header) if p not in found.positions.values()]
    for position, text in unmatched:
        name, unit = name_and_unit(text)
        twin = next((row for row in absent if row["name"] == name and row["role"] == "value"), None)
        if twin is not None and unit and not _same_unit(unit, twin["unit"]):
            change = {"kind": "unit_changed", "column": text, "expected": twin["column"], "role": "value",
                      "parameter": twin["parameter"], "averaging_period": twin["averaging_period"],
                      "unit": unit, "expected_unit": twin["unit"],
                      "said": f"unit changed: {text!r} where {twin['column']!r} ({twin['unit'] or 'its unit'}) is "
                              f"expected"}
            absent.remove(twin)
        else:
            guess = next((row for row in absent if row["name"] and (row["name"] in name or name in row["name"]) and name),
                         None)
            change = {"kind": "unknown", "column": text, "role": "", "parameter": "", "averaging_period": "",
                      "unit": unit, "expected_unit": "",
                      "said": f"unknown column {text!r}" + (f" (perhaps {guess['column']!r} renamed)" if guess else "")}
        found.unknown[position] = change
        found.changes.append(change)
    for row in absent:
        consequence = {"key": "no record can be placed without it", "value": "its values cannot be read",
                       "descriptive": "read without it"}[row["role"]]
        found.changes.append({"kind": "missing", "column": row["column"], "role": row["role"],
                              "parameter": row["parameter"], "averaging_period": row["averaging_period"],
                              "unit": row["unit"], "expected_unit": row["unit"],
                              "said": f"missing column {row['column']!r}"
                                      + (f" ({row['parameter']})" if row["parameter"] else "") + f": {consequence}"})
    return found
