"""Bad input never crashes a parser (issue 11): a payload that cannot be read at all is refused with
its reason; one that can be read keeps its good rows and quarantines each bad value or row, with
the reason, at the finest grain; what the payload holds is counted independently of the parser."""
import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from pipelines.observations import BUREAU_TZ
from pipelines.sources import files, reading
from pipelines.sources.reading import PayloadError
from tests.conftest import FIXTURES, FORMATS, real_data

TEMPLATES = Path(__file__).resolve().parents[1] / "pipelines" / "templates"
FETCHED = datetime(2027, 1, 1, 2, 0, tzinfo=BUREAU_TZ)
# the fixture with its out-of-scope station first, so that its last row is a registry station's
_lines = (FIXTURES / "cnemc-air-hourly.csv").read_bytes().splitlines(keepends=True)
AIR = b"".join([_lines[0], _lines[-1], *_lines[1:-1]])
WATER = (FIXTURES / "cnemc-water-publish.json").read_text(encoding="utf-8")
LAB = (TEMPLATES / "lab-results-example.csv").read_bytes()
COASTAL = (TEMPLATES / "coastal-survey-example.csv").read_bytes()
SAMPLES = {"cnemc-water": WATER.encode(), "cnemc-air": AIR, "lab": LAB, "coastal": COASTAL}


def parse(source, payload, name="payload.csv", fetched=FETCHED, basis="the fetch time"):
    parsed = files.parse_payload(source, payload if isinstance(payload, bytes) else payload.encode(), name, fetched,
                                 basis)
    assert parsed.reconciled, (parsed.read, len(parsed.observations), len(parsed.rejected), parsed.out_of_scope)
    return parsed


def air_lines():
    return AIR.decode().splitlines()


def air_with(row: int, column: str, text: str) -> str:
    lines = air_lines()
    header = lines[0].split(",")
    fields = lines[row].split(",")
    fields[header.index(column)] = text
    lines[row] = ",".join(fields)
    return "\n".join(lines) + "\n"


def independent_csv_count(payload: bytes, values_per_row) -> int:
    """Rows of the file by the csv module alone (blank rows are not records), times its values."""
    rows = [r for r in csv.reader(io.StringIO(payload.decode("utf-8-sig"), newline="")) if any(f.strip() for f in r)]
    return (len(rows) - 1) * values_per_row(rows[0])


# --- refused: cannot be read at all ---------------------------------------------------------------

@pytest.mark.parametrize("source", files.FILE_SOURCES)
def test_an_empty_file_is_refused_as_empty(source):
    with pytest.raises(PayloadError, match="^empty: ") as refused:
        files.parse_payload(source, b"", "empty.csv", FETCHED)
    assert refused.value.kind == "empty"


@pytest.mark.parametrize("source", files.FILE_SOURCES)
def test_binary_garbage_is_refused_for_its_encoding(source):
    with pytest.raises(PayloadError, match="^encoding: ") as refused:
        files.parse_payload(source, bytes(range(256)) * 8, "garbage.csv", FETCHED)
    assert "\n" not in str(refused.value)


def test_a_json_that_does_not_close_is_refused_as_truncated():
    with pytest.raises(PayloadError, match="^truncated: a Publish.ashx response that does not close"):
        files.parse_payload("cnemc-water", WATER[: len(WATER) // 2].encode(), "cut.json", FETCHED)


def test_tbody_null_is_refused_as_not_the_feeds_format():
    document = json.loads(WATER) | {"tbody": None}
    with pytest.raises(PayloadError, match="^format: .*tbody is null"):
        files.parse_payload("cnemc-water", json.dumps(document).encode(), "null.json", FETCHED)


def test_an_unterminated_quote_is_refused_as_truncated():
    payload = LAB.decode().rstrip("\n") + '\nS9,nanliu-hengtang,2026-11-03 09:40,"Lab of\n'
    with pytest.raises(PayloadError, match="^truncated: a quoted field opened on line"):
        files.parse_payload("lab", payload.encode(), "quote.csv", FETCHED)


def test_an_xlsx_that_is_not_a_workbook_is_refused():
    with pytest.raises(PayloadError, match="^format: not an XLSX workbook"):
        files.parse_payload("lab", b"PK\x03\x04 not really a zip", "results.xlsx", FETCHED)


# --- encodings -------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, codec", [("cnemc-air", "gbk"), ("coastal", "gb18030")])
def test_a_gbk_csv_as_excel_saves_it_is_read_and_the_encoding_recorded(source, codec):
    utf8 = parse(source, SAMPLES[source])
    chinese = parse(source, SAMPLES[source].decode().encode(codec))
    assert (utf8.encoding, chinese.encoding) == ("utf-8", "gb18030")
    assert chinese.observations.drop(columns="batch_id").equals(utf8.observations.drop(columns="batch_id"))


def test_a_byte_order_mark_is_read_and_recorded():
    assert parse("cnemc-air", b"\xef\xbb\xbf" + AIR).encoding == "utf-8-sig"


def test_a_payload_cut_inside_a_multibyte_character_quarantines_its_last_row_only():
    cut = AIR[: AIR.rindex("环保局".encode()) + 1]   # inside 环 of the last row's station name
    parsed = parse("cnemc-air", cut)
    assert set(parsed.rejected["expectation"]) == {"row_short"} and len(parsed.rejected) == 12
    assert "truncated" in parsed.rejected["reason"].iloc[0]
    assert len(parsed.observations) == 24          # the two complete rows of registry stations


# --- truncation never loads a prefix of a number -------------------------------------------------

def test_a_last_row_cut_inside_a_number_is_quarantined_not_loaded_as_its_prefix():
    lines = air_lines()
    cut = "\n".join(lines[:-1]) + "\n" + lines[-1][: lines[-1].index(",50,60,") + 5]  # ...,50,6 (o3_24h 60)
    parsed = parse("cnemc-air", cut.encode())
    assert len(parsed.rejected) == 12 and parsed.rejected["reason"].str.contains("ends early: 14 of 22 fields "
                                                                                 r"\(the payload is truncated\)").all()
    assert not (parsed.observations["station_id"] == "2521A").any()   # nothing of the cut row, not even 6


def test_a_last_value_without_a_line_break_is_quarantined_as_possibly_cut():
    parsed = parse("cnemc-air", AIR.rstrip(b"\n")[:-1])        # ...,0.7,0. : all 22 fields, the last cut
    (row,) = parsed.rejected.to_dict("records")
    assert row["expectation"] == "value_truncated" and row["original_value"] == "0."
    assert len(parsed.observations) == 35


def test_a_truncated_lab_file_quarantines_its_cut_row():
    parsed = parse("lab", LAB.rstrip(b"\n")[:-40])
    assert len(parsed.rejected) == 1 and parsed.rejected["expectation"].iloc[0] == "row_short"
    assert len(parsed.observations) == parsed.read - 1


# --- one bad cell costs one value ------------------------------------------------------------------

@pytest.mark.parametrize("text, reason", [("inf", "'inf' is not a finite number"),
                                          ("1e309", "1e309 overflows a double"),
                                          ("1e300", "1e300 is beyond any instrument's range"),
                                          ("abc", "'abc' is not a number")])
def test_one_bad_air_cell_quarantines_that_value_alone(text, reason):
    parsed = parse("cnemc-air", air_with(2, "pm10", text).encode())
    (row,) = parsed.rejected.to_dict("records")
    assert row["parameter"] == "pm10" and row["original_value"] == text and reason in row["reason"]
    assert len(parsed.observations) == 35


def test_abc_in_a_water_cell_is_quarantined_not_stored_as_missing():
    payload = WATER.replace("原始值：0.41234'>0.412", "xx'>abc")
    parsed = parse("cnemc-water", payload)
    (row,) = parsed.rejected[parsed.rejected["expectation"] == "number"].to_dict("records")
    assert row["station_id"] == "nanliu-hengtang" and row["parameter"] == "nh3n" and "'abc' is not a number" in row["reason"]


@pytest.mark.parametrize("time_text", ["13-45 99:99", "02-30 08:00"])
def test_an_impossible_water_time_quarantines_that_record_alone(time_text):
    clean = parse("cnemc-water", WATER)
    document = json.loads(WATER)
    record = next(r for r in document["tbody"] if "横塘" in str(r[2]))
    record[3] = time_text
    parsed = parse("cnemc-water", json.dumps(document, ensure_ascii=False))
    held = parsed.rejected[parsed.rejected["expectation"] == "time"]
    assert len(held) == 11 and held["reason"].str.contains(f"impossible time '{time_text}'").all()
    assert len(parsed.observations) == len(clean.observations) - 11


def test_a_water_record_shorter_than_the_header_is_quarantined_alone():
    document = json.loads(WATER)
    record = next(r for r in document["tbody"] if "横塘" in str(r[2]))
    del record[8:]
    parsed = parse("cnemc-water", json.dumps(document, ensure_ascii=False))
    held = parsed.rejected[parsed.rejected["station_id"] == "nanliu-hengtang"]
    assert len(held) == 11 and held["reason"].str.contains("8 cells where the header has 17").all()


def test_a_ragged_lab_row_is_quarantined_and_the_others_kept():
    lines = LAB.decode().splitlines()
    lines[3] += ",one,too,many"
    parsed = parse("lab", ("\n".join(lines) + "\n").encode())
    (row,) = parsed.rejected.to_dict("records")
    assert row["expectation"] == "row_ragged" and "line 4" in row["reason"]
    assert len(parsed.observations) == len(lines) - 2


def test_the_year_1900_is_quarantined():
    parsed = parse("cnemc-air", air_with(2, "timepoint", "1900-01-01T0000").encode())
    assert len(parsed.rejected) == 12 and parsed.rejected["reason"].str.contains("before 1980").all()


def test_a_sampling_time_after_the_fetch_is_quarantined():
    payload = LAB.decode().replace("2026-11-03 09:40", "2099-11-03 09:40", 1).encode()
    parsed = parse("lab", payload)
    (row,) = parsed.rejected.to_dict("records")
    assert "a future reading" in row["reason"]


def test_coastal_rows_with_an_unknown_survey_are_quarantined_not_the_file():
    lines = COASTAL.decode().splitlines()
    lines[1] = lines[1].replace(",spring,", ",winter,")
    parsed = parse("coastal", ("\n".join(lines) + "\n").encode())
    (row,) = parsed.rejected.to_dict("records")
    assert "survey 'winter' is not one of" in row["reason"]


# --- the year of the water feed's times --------------------------------------------------------

def test_the_inferred_year_is_stated_with_what_it_came_from():
    parsed = parse("cnemc-water", WATER, basis="the file's modification time")
    assert parsed.notes == ["year 2026 taken for 监测时间 (printed MM-DD HH:MM, without a year) from the file's "
                            "modification time 2027-01-01 02:00 +0800; 2 readings dated after the fetch were taken "
                            "as 2026's"]


def test_a_fetch_time_before_the_readings_does_not_move_them_back_a_year():
    early = datetime(2026, 10, 1, tzinfo=BUREAU_TZ)    # the readings are of 12-31 and 01-01
    parsed = parse("cnemc-water", WATER, fetched=early, basis="--fetched-at")
    assert parsed.observations.empty
    assert parsed.rejected[parsed.rejected["expectation"] == "time"]["reason"].str.contains(
        "the year cannot be inferred").all()


def test_readings_far_from_the_date_in_the_file_name_are_warned_of():
    parsed = parse("cnemc-water", WATER, name="publish-ashx-2021-04-05.json", basis="the file's modification time")
    assert parsed.warnings and "the file name says 2021-04-05" in parsed.warnings[0]


# --- independent counts --------------------------------------------------------------------------

def test_read_counts_the_rows_of_the_file_not_the_parsers_decisions():
    bad = air_with(2, "timepoint", "garbage").replace("2521A", "", 1)
    for payload in (AIR.decode(), bad):
        parsed = parse("cnemc-air", payload.encode())
        assert parsed.read == independent_csv_count(payload.encode(), lambda h: len(set(h) & set(files.AIR_COLUMNS)))
    assert parse("lab", LAB).read == independent_csv_count(LAB, lambda h: 1)


@pytest.mark.real_data
@pytest.mark.parametrize("relative", ["cnemc-air/national-hourly-2026-03-15T12.csv",
                                      "cnemc-water/by-name-csv-2021-04/叮当.csv",
                                      "cnemc-water/by-name-csv-2021-04/三滩.csv"])
def test_read_equals_an_independent_count_of_each_real_csv_sample(relative):
    payload = real_data(relative).read_bytes()
    per_row = (lambda h: len(set(h) & set(files.AIR_COLUMNS))) if "air" in relative else \
        (lambda h: sum(any(h_.startswith(k) for k in files.WATER_HEADER_CODES) for h_ in h))
    parsed = parse("cnemc-air" if "air" in relative else "cnemc-water", payload,
                   fetched=datetime(2026, 3, 29, tzinfo=BUREAU_TZ) if "air" in relative
                   else datetime(2021, 4, 6, tzinfo=BUREAU_TZ))
    assert parsed.read == independent_csv_count(payload, per_row)


@pytest.mark.real_data
def test_read_equals_the_records_of_the_real_water_json_times_its_value_columns():
    path = real_data("cnemc-water/publish-ashx-2020-05-08.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    parsed = parse("cnemc-water", path.read_bytes(), fetched=datetime(2020, 5, 9, 12, tzinfo=BUREAU_TZ))
    assert parsed.read == len(document["tbody"]) * 11


# --- registry drift --------------------------------------------------------------------------

@pytest.mark.real_data
def test_dingdang_of_nanning_is_reported_as_a_section_the_registry_lacks():
    path = real_data("cnemc-water/publish-ashx-2020-05-08.json")
    parsed = parse("cnemc-water", path.read_bytes(), fetched=datetime(2020, 5, 9, 12, tzinfo=BUREAU_TZ))
    (unknown,) = parsed.unknown_stations
    assert (unknown["name_zh"], unknown["city"], unknown["water_body"]) == ("叮当", "南宁市", "武鸣河")


def test_a_tooltip_in_a_registry_city_names_an_unknown_section():
    payload = WATER.replace("所在地市:密云区&#10;所属河流:潮河'>古北口<", "所在地市:南宁市&#10;所属河流:武鸣河'>叮当<")
    names = {u["name_zh"]: u for u in parse("cnemc-water", payload).unknown_stations}
    assert names["叮当"]["city_basis"] == "the payload's tooltip" and names["叮当"]["water_body"] == "武鸣河"


def test_an_air_station_of_a_registry_city_missing_from_the_registry_is_reported():
    parsed = parse("cnemc-air", AIR.decode().replace("9999A", "4999A").replace(",阿坝藏族羌族自治州,", ",南宁市,").encode())
    assert [u["station_key"] for u in parsed.unknown_stations] == ["4999A"]


def test_a_refusal_is_one_line_naming_its_reason():
    with pytest.raises(PayloadError) as refused:
        files.parse_payload("cnemc-air", b"\n\n \n", "blank.csv", FETCHED)
    assert str(refused.value) == "empty: the file holds only blanks" and reading.REFUSALS[refused.value.kind]
