"""Property-based tests of the parsers (hypothesis): arbitrary bytes, and arbitrary mutations of
payloads in the real formats (the fixtures, the templates and, where ../shared is present, excerpts
of the real samples), never raise anything but the documented refusal, and always reconcile:
what the payload holds = observations + quarantined + out of scope. Example counts are modest so
that the file runs in well under a minute."""
import csv
import io
import json
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from pipelines.observations import BUREAU_TZ
from pipelines.sources import files
from pipelines.sources.reading import REFUSALS, PayloadError
from tests.conftest import FIXTURES, FORMATS

TEMPLATES = Path(__file__).resolve().parents[1] / "pipelines" / "templates"
FETCHED = datetime(2027, 1, 1, 2, tzinfo=BUREAU_TZ)
QUICK = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _excerpt(relative: str, lines: int = 40) -> bytes | None:
    """The first lines of a real sample in ../shared, or None where it is absent."""
    path = FORMATS / relative
    if not path.exists():
        return None
    return b"".join(path.read_bytes().splitlines(keepends=True)[:lines])


def _samples() -> dict[str, list[tuple[str, bytes]]]:
    found = {
        "cnemc-water": [("publish.json", (FIXTURES / "cnemc-water-publish.json").read_bytes()),
                        ("三滩.csv", _excerpt("cnemc-water/by-name-csv-2021-04/三滩.csv"))],
        "cnemc-air": [("hourly.csv", (FIXTURES / "cnemc-air-hourly.csv").read_bytes()),
                      ("beibu6.csv", _excerpt("cnemc-air/beibu6-hourly-2026-03-01-to-03-28.csv")),
                      ("snapshot.geojson", (FORMATS / "cnemc-air" / "beibu6-snapshot-2017-07-07T16.geojson").read_bytes()
                       if (FORMATS / "cnemc-air").exists() else None)],
        "lab": [("results.csv", (TEMPLATES / "lab-results-example.csv").read_bytes())],
        "coastal": [("survey.csv", (TEMPLATES / "coastal-survey-example.csv").read_bytes())],
    }
    return {source: [(name, data) for name, data in items if data] for source, items in found.items()}


SAMPLES = _samples()
CHOICES = [(source, name, data) for source, items in SAMPLES.items() for name, data in items]
BAD_TOKENS = [b"inf", b"-inf", b"nan", b"1e309", b"1e300", b"abc", b"13-45 99:99", b"02-30 08:00", b"1900-01-01T0000",
              b"2099-01-01 00:00", b"", b'"', b",", b"\n", b"\r\n", b"null", b"[", b"}", b"\xe4\xb8", b"\xff",
              b"-9999", b"*", b"--", b"NA", "二十一中".encode(), "二十一中".encode("gbk")]


def _outcome(source: str, payload: bytes, name: str):
    """The parser's answer: a reconciled Parsed, or a refusal of a documented kind, one line."""
    try:
        parsed = files.parse_payload(source, payload, name, FETCHED)
    except PayloadError as refusal:
        assert refusal.kind in REFUSALS, refusal
        assert "\n" not in str(refusal)
        return None
    assert parsed.read == len(parsed.observations) + len(parsed.rejected) + parsed.out_of_scope
    assert parsed.rejected["reason"].str.len().gt(0).all() and parsed.rejected["expectation"].str.len().gt(0).all()
    assert parsed.observations["value"].dropna().abs().le(1e15).all()   # nothing non-finite or absurd is kept
    return parsed


@st.composite
def mutated(draw):
    source, name, data = draw(st.sampled_from(CHOICES))
    payload = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(payload)))
        kind = draw(st.sampled_from(["truncate", "replace", "insert", "delete", "gbk", "random"]))
        if kind == "truncate":
            payload = payload[:at]
        elif kind == "replace":
            payload[at:at + draw(st.integers(1, 12))] = draw(st.sampled_from(BAD_TOKENS))
        elif kind == "insert":
            payload[at:at] = draw(st.sampled_from(BAD_TOKENS))
        elif kind == "delete":
            del payload[at:at + draw(st.integers(1, 80))]
        elif kind == "random":
            payload[at:at] = draw(st.binary(max_size=16))
        else:
            try:
                payload = bytearray(bytes(payload).decode("utf-8").encode("gb18030"))
            except UnicodeError:
                pass
    return source, name, bytes(payload)


@QUICK
@given(source=st.sampled_from(files.FILE_SOURCES), payload=st.binary(max_size=600),
       name=st.sampled_from(["payload.csv", "payload.json", "payload.xlsx"]))
def test_arbitrary_bytes_are_refused_or_reconciled(source, payload, name):
    _outcome(source, payload, name)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations_of_real_format_payloads_are_refused_or_reconciled(case):
    source, name, payload = case
    _outcome(source, payload, name)


@QUICK
@given(row=st.integers(1, 3), column=st.sampled_from(sorted(files.AIR_COLUMNS)),
       text=st.one_of(st.sampled_from(["inf", "nan", "1e309", "1e300", "abc", "", "NA", "-1", "0x10", "1,5"]),
                      st.text(max_size=8)))
def test_one_bad_air_cell_costs_at_most_its_own_value(row, column, text):
    lines = (FIXTURES / "cnemc-air-hourly.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    fields = next(csv.reader([lines[row]]))
    fields[header.index(column)] = text
    buffer = io.StringIO()
    rows = [header, *[next(csv.reader([line])) for line in lines[1:row]], fields,
            *[next(csv.reader([line])) for line in lines[row + 1:]]]
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)  # a cell holding a line break is quoted, as Excel does
    parsed = _outcome("cnemc-air", buffer.getvalue().encode(), "hourly.csv")
    assert parsed is not None and len(parsed.rejected) <= 1
    assert len(parsed.observations) + len(parsed.rejected) == 36


@QUICK
@given(time_text=st.one_of(st.sampled_from(["13-45 99:99", "02-30 08:00", "02-29 08:00", "00-00 00:00", "12-31 24:00"]),
                           st.from_regex(r"\A\d{2}-\d{2} \d{2}:\d{2}\Z"), st.text(max_size=12)))
def test_any_water_time_gives_a_reading_or_a_quarantined_record(time_text):
    document = json.loads((FIXTURES / "cnemc-water-publish.json").read_text(encoding="utf-8"))
    record = next(r for r in document["tbody"] if "横塘" in str(r[2]))
    record[3] = time_text
    parsed = _outcome("cnemc-water", json.dumps(document, ensure_ascii=False).encode(), "publish.json")
    mine = parsed.observations[parsed.observations["station_id"] == "nanliu-hengtang"]
    held = parsed.rejected[parsed.rejected["station_id"] == "nanliu-hengtang"]
    assert (len(mine), len(held)) in {(11, 0), (0, 11), (10, 1)}   # the record whole, or held whole with its reason
    if len(mine) == 11:
        assert mine["observed_at"].dt.year.isin([2026, 2027]).all()
