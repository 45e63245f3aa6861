"""Stewardship (issue 25): a value withdrawn or re-flagged with a reason (envmon observations
invalidate|flag|restore), a lab file's complete statement, and its report version deciding which of
two files stands. On SQLite and PostgreSQL wherever the warehouse is touched.

Hand-worked from GB 3838-2002 Table 1 (a river section): total phosphorus Ⅲ ≤ 0.2 mg/L, Ⅳ ≤ 0.3.
横塘 (nanliu-hengtang, target Ⅲ) sampled twice on 2026-11-03: tp 0.23 at 09:40 and 0.19 at 15:10,
the day's mean 0.21 → Ⅳ, failed; the 09:40 value withdrawn leaves 0.19 → Ⅲ, compliant. Every other
item of the lab's example sample lies within Ⅲ.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest

from pipelines import clock
from pipelines.ingest.payloads import ingest_file, ingest_files, reingest
from pipelines.cli import commands
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from pipelines.sources import files
from warehouse import db, security_audit

FETCHED = datetime(2027, 1, 1, 2, 0, tzinfo=BUREAU_TZ)
DAY = date(2026, 11, 3)
TEMPLATES = files.Path(files.__file__).parents[1] / "templates"
EXAMPLE = (TEMPLATES / "lab-results-example.csv").read_text(encoding="utf-8").splitlines()
HEADER, HENGTANG = EXAMPLE[0], [line for line in EXAMPLE[1:] if ",nanliu-hengtang," in line]
HEPU = [line for line in EXAMPLE[1:] if ",hepu-reservoir," in line]
SECOND_TP = "GX-LAB-2026-1103-02,nanliu-hengtang,2026-11-03 15:10,玉林市环境监测站,tp,0.19,mg/L,0.01,GB/T 11893-1989"
REASON = "bottle 17 contaminated (lab note 2026-11-05)"


@pytest.fixture
def settings(tmp_path, warehouse_url, monkeypatch):
    monkeypatch.setenv("ENVMON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ENVMON_WAREHOUSE_URL", warehouse_url)
    return load_settings({"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_WAREHOUSE_URL": warehouse_url})


def _file(tmp_path, name: str, lines: list[str], header: str = HEADER):
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def _versioned(lines: list[str], version: int, complete: str = "") -> list[str]:
    return [f"{line},{version},{complete}" for line in lines]


def _day_result(engine, station="nanliu-hengtang", day=DAY) -> dict:
    rows = db.read_table(engine, "assessments")
    row = rows[(rows["station_id"] == station) & (rows["period"] == "day") & (rows["period_start"].astype(str) == str(day))]
    return row.iloc[0].to_dict()


def _values(engine, station="nanliu-hengtang", parameter="tp"):
    rows = db.read_table(engine, "observations")
    rows = rows[(rows["station_id"] == station) & (rows["parameter"] == parameter)]
    return {t.astimezone(BUREAU_TZ).strftime("%H:%M"): (v, f) for t, v, f in
            zip(rows["observed_at"], rows["value"], rows["qc_flag"])}


def _envmon(*args) -> int:
    return commands.main(list(args))


def test_a_withdrawn_value_leaves_the_assessment_is_audited_shown_in_history_and_stays_withdrawn(
        settings, tmp_path, capsys):
    ingest_file("lab", _file(tmp_path, "hengtang.csv", HENGTANG + [SECOND_TP]), FETCHED, settings)
    engine = db.engine_for(settings.warehouse_url)
    before = _day_result(engine)
    assert (before["water_class"], before["is_compliant"]) == ("Ⅳ", False)    # mean tp 0.21 > 0.2
    capsys.readouterr()

    assert _envmon("observations", "invalidate", "--station", "nanliu-hengtang", "--parameter", "tp",
                   "--from", "2026-11-03T09:40", "--to", "2026-11-03T09:40", "--reason", REASON, "--by", "alice") == 0
    told = capsys.readouterr().out
    assert "1 value of tp of nanliu-hengtang" in told and "Ⅳ · failed (assumed target) → Ⅲ · compliant" in told
    after = _day_result(engine)
    assert (after["water_class"], after["is_compliant"]) == ("Ⅲ", True)       # 0.19 alone: Ⅲ
    assert _values(engine) == {"09:40": (0.23, "withdrawn"), "15:10": (0.19, "good")}   # kept, never deleted

    # who, when and why: the stewardship record, the security audit log, the history of the value
    (action,) = db.read_table(engine, "observation_stewardship").to_dict("records")
    assert (action["action"], action["acted_by"], action["reason"], action["values_affected"]) == \
        ("withdraw", "alice", REASON, 1)
    # envmon's clock: the suite's runs on from ENVMON_NOW, so the whole session's length is no error
    assert abs(action["acted_at"] - clock.now()) < timedelta(minutes=10)
    audit = security_audit.events(engine)
    (row,) = audit[audit["event"] == "observation_withdrawn"].to_dict("records")
    assert row["user_name"] == "alice" and REASON in row["detail"] and row["address"].startswith("cli:")
    said = f"withdrawn by alice on {action['acted_at'].astimezone(BUREAU_TZ):%Y-%m-%d %H:%M} (UTC+8): {REASON}"
    assert _envmon("history", "--station", "nanliu-hengtang", "--parameter", "tp") == 0
    history = capsys.readouterr().out.splitlines()
    withdrawn = [line for line in history if "T01:40:00" in line]    # 09:40 in UTC
    assert len(withdrawn) == 2 and withdrawn[0].split(",")[5:9] == ["superseded", "0.23", "0.23", "good"]
    assert withdrawn[0].endswith(said) and ",current,0.23,0.23,withdrawn," in withdrawn[1] and said in withdrawn[1]
    kept = db.read_table(engine, "assessment_history")
    earlier = kept[(kept["period"] == "day") & (kept["station_id"] == "nanliu-hengtang")]
    assert earlier["water_class"].tolist() == ["Ⅳ"] and earlier["superseded_by_stewardship_id"].tolist() == [1]

    # the same payload again, from the archive and as a new payload: the value stays withdrawn
    reingest(1, settings)
    ingest_file("lab", tmp_path / "hengtang.csv", FETCHED, settings)
    assert _values(engine)["09:40"] == (0.23, "withdrawn")
    assert _day_result(engine)["water_class"] == "Ⅲ"

    # restore: the flag QC gave it comes back, and the day's verdict with it
    assert _envmon("observations", "restore", "--station", "nanliu-hengtang", "--parameter", "tp",
                   "--from", "2026-11-03", "--to", "2026-11-03", "--reason", "the lab withdrew its note",
                   "--by", "bob") == 0
    assert _values(engine)["09:40"] == (0.23, "good")
    assert _day_result(engine)["water_class"] == "Ⅳ"
    actions = db.read_table(engine, "observation_stewardship").sort_values("stewardship_id")
    assert actions["lifted_by_id"].tolist()[0] == 2 and actions["action"].tolist() == ["withdraw", "restore"]


def test_a_value_flagged_by_hand_stays_flagged_when_its_partition_is_loaded_again(settings, tmp_path):
    """The nightly load's path (db.load_partition) applies the steward's flag as the archive path does."""
    ingest_file("lab", _file(tmp_path, "hengtang.csv", HENGTANG + [SECOND_TP]), FETCHED, settings)
    engine = db.engine_for(settings.warehouse_url)
    assert _envmon("observations", "flag", "--station", "nanliu-hengtang", "--parameter", "tp", "--flag", "suspect",
                   "--from", "2026-11-03T15:10", "--to", "2026-11-03T15:10", "--reason", "reading drift") == 0
    stored = db.observations_for_partition(engine, "lab", DAY)
    log = db.read_table(engine, "partition_log").to_dict("records")[0]
    good = stored.drop(columns=["source", "partition_day"]).assign(qc_flag="good", stewardship_id=None,
                                                                     qc_flag_tested=None)
    db.load_partition(engine, "lab", DAY, good, db.quarantine_for_partition(engine, "lab", DAY), log)
    assert _values(engine)["15:10"] == (0.19, "suspect")


def _ingest(settings, *paths):
    outcome = ingest_files("lab", list(paths), settings, fetched_at=FETCHED)
    assert not outcome.refused and not outcome.failed
    return outcome.summaries


def test_a_complete_statement_withdraws_the_key_it_no_longer_lists_and_no_other(settings, tmp_path):
    header = HEADER + ",report_version,complete_statement"
    next_day = "GX-LAB-2026-1104-01,nanliu-hengtang,2026-11-04 09:30,玉林市环境监测站,cu,2.9,µg/L,0.08,HJ 700-2014"
    first = _file(tmp_path, "yulin-v1.csv", _versioned(HENGTANG + [next_day] + HEPU, 1), header)
    # version 2 states 横塘's 2026-11-03 sample completely: copper is no longer listed
    statement = _file(tmp_path, "yulin-v2.csv",
                      _versioned([line for line in HENGTANG if ",cu," not in line], 2, "yes"), header)
    _ingest(settings, first)
    (summary,) = _ingest(settings, statement)
    assert summary["complete_statement"] is True and summary["withdrawn"] == 1
    engine = db.engine_for(settings.warehouse_url)
    stored = db.read_table(engine, "observations")
    withdrawn = stored[stored["qc_flag"] == "withdrawn"]
    assert withdrawn[["station_id", "parameter"]].values.tolist() == [["nanliu-hengtang", "cu"]]
    assert withdrawn["observed_at"].iloc[0] == datetime(2026, 11, 3, 9, 40, tzinfo=BUREAU_TZ)
    assert len(stored) == len(HENGTANG) + 1 + len(HEPU)         # kept: nothing deleted
    # the same lab's copper of another day, and another section's, are not covered by the statement
    assert (stored[stored["parameter"] == "cu"]["qc_flag"] != "withdrawn").sum() == 2
    (action,) = db.read_table(engine, "observation_stewardship").to_dict("records")
    assert action["reason"] == "not in the lab's complete statement yulin-v2.csv"
    assert action["origin"] == "complete_statement" and action["payload_id"] == summary["payload_id"]
    audit = security_audit.events(engine)
    assert "yulin-v2.csv" in audit[audit["event"] == "observation_withdrawn"]["detail"].iloc[0]
    # the old workbook saved again brings nothing back: its copper yields to the newer statement
    (again,) = _ingest(settings, _file(tmp_path, "yulin-v1-saved-again.csv", _versioned(HENGTANG, 1), header))
    assert db.read_table(engine, "observations").query("qc_flag == 'withdrawn'")["parameter"].tolist() == ["cu"]
    assert again["sources"]["lab"]["reconciled"]


def test_report_version_2_stands_though_version_1_arrives_after_it(settings, tmp_path):
    header = HEADER + ",report_version"
    correction = [line.replace(",tp,0.23,", ",tp,0.18,") for line in HENGTANG]
    v2 = _file(tmp_path, "hengtang-v2.csv", [f"{line},2" for line in correction], header)
    v1 = _file(tmp_path, "hengtang-v1.csv", [f"{line},1" for line in HENGTANG], header)
    _ingest(settings, v2)
    (late,) = _ingest(settings, v1)                 # arrival order reversed: version 1 last
    engine = db.engine_for(settings.warehouse_url)
    assert _values(engine) == {"09:40": (0.18, "good")}
    counts = late["sources"]["lab"]
    assert (counts["read"], counts["loaded"], counts["quarantined"]) == (len(HENGTANG), 0, len(HENGTANG))
    assert counts["reconciled"]
    held = db.read_table(engine, "quarantine")
    tp = held[held["parameter"] == "tp"].iloc[0]
    assert tp["rule"] == "report_version_superseded" and tp["value"] == 0.23
    assert "report version 1 of hengtang-v1.csv is older than version 2 of hengtang-v2.csv" in tp["reason"]
    # the two in one run, version 2 first: the same outcome within a batch
    hepu_v2 = _file(tmp_path, "hepu-v2.csv", [f"{line.replace(',nh3n,0.21,', ',nh3n,0.25,')},2" for line in HEPU],
                    header)
    hepu_v1 = _file(tmp_path, "hepu-v1.csv", [f"{line},1" for line in HEPU], header)
    _ingest(settings, hepu_v2, hepu_v1)
    assert _values(engine, "hepu-reservoir", "nh3n") == {"10:15": (0.25, "good")}


def test_the_columns_a_lab_fills_in_are_read_or_said_wrong_in_one_reason():
    header = HEADER + ",report_version,complete_statement"
    lines = [f"{HENGTANG[0]},2.0,yes", f"{HENGTANG[1]},v2,YES", f"{HENGTANG[2]},two,yes"]
    parsed = files.parse_payload("lab", "\n".join([header, *lines, ""]).encode(), "f.csv", FETCHED)
    assert [json.loads(d)["report_version"] for d in parsed.observations["detail"]] == [2, 2]
    assert parsed.rejected["reason"].tolist() == ["line 4: report_version 'two' is not a whole number from 1"]
    assert parsed.complete_statement and parsed.report_version == 2 and parsed.reconciled
    mixed = files.parse_payload("lab", "\n".join([header, f"{HENGTANG[0]},1,yes", f"{HENGTANG[1]},1,"]).encode(),
                                "f.csv", FETCHED)
    assert not mixed.complete_statement and "not taken as a complete statement" in mixed.warnings[0]
    plain = files.parse_payload("lab", "\n".join([HEADER, *HENGTANG]).encode(), "f.csv", FETCHED)
    assert plain.format_changes == [] and not plain.complete_statement   # files made before the columns


@pytest.mark.parametrize("options, said", [
    (["invalidate", "--station", "nanliu-hengtang", "--parameter", "tp", "--from", "2026-11-03", "--to", "2026-11-03"],
     "observations invalidate needs --reason"),
    (["invalidate", "--station", "nanliu-hengtang", "--parameter", "tp", "--from", "2026-11-04", "--to", "2026-11-03",
      "--reason", "x"], "--to 2026-11-03 is before --from 2026-11-04"),
    (["flag", "--station", "nanliu-hengtang", "--parameter", "tp", "--from", "2026-11-03", "--to", "2026-11-03",
      "--reason", "x", "--flag", "dubious"], "--flag 'dubious' is not a flag"),
    (["invalidate", "--station", "nanliu-hengtang", "--parameter", "phosphorus", "--from", "2026-11-03", "--to",
      "2026-11-03", "--reason", "x"], "--parameter 'phosphorus' is not a parameter code"),
    (["invalidate", "--station", "nanliu-hengtang", "--parameter", "tp", "--from", "3/11/2026", "--to", "2026-11-03",
      "--reason", "x"], "not an ISO 8601 time or day: '3/11/2026'"),
    (["invalidate", "--station", "hengtang", "--parameter", "tp", "--from", "2026-11-03", "--to", "2026-11-03",
      "--reason", "x"], "--station 'hengtang' is not a station, section or point of the registry"),
    (["invalidate", "--station", "nanliu-hengtang", "--parameter", "tp", "--from", "2026-11-03", "--to", "2026-11-03",
      "--reason", "x"], "no stored values of tp of nanliu-hengtang"),
])
def test_bad_options_get_one_clear_line(tmp_path, monkeypatch, capsys, options, said):
    monkeypatch.setenv("ENVMON_HOME", str(tmp_path))
    monkeypatch.delenv("ENVMON_WAREHOUSE_URL", raising=False)
    assert _envmon("observations", *options) in (1, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("envmon: ") and said in err[0], err
