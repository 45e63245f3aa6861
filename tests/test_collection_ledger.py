"""Collection as a ledger, not a watermark (issue 21): a fake CNEMC air feed (a local HTTP server
serving the real hourly CSV format) with a missing hour, a station that sends its hour late and an
hour CNEMC revises. Collection moves past the missing hour; the hour is recorded as a gap after
ENVMON_COLLECT_MAX_TRIES collections and told once (one operational episode, waiting out the
operators' quiet hours); the late and revised hours are ingested at the next collection (the
warehouse and observation_history show it); `envmon collect status` lists it all."""
from __future__ import annotations

import json
import shutil
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines import clock
from pipelines.ingest import collect
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from pipelines.sources.live import RetryPolicy
from tests.conftest import FIXTURES
from warehouse import db

HEADER = (FIXTURES / "cnemc-air-hourly.csv").read_text(encoding="utf-8").splitlines()[0]
STATIONS = {  # the feed's own rows (tests/fixtures/cnemc-air-hourly.csv), relabelled to each hour
    "1401A": "1401A,108.3098,22.788,南宁市,二十一中,,40,38,55,{pm25},28,38,80,58,70,20,22,6,7,0.7,0.8",
    "2521A": "2521A,107.3473,22.4137,崇左市,市环保局江州分局,,20,20,22,8,9,50,60,55,58,9,10,4,4,0.5,0.5",
    "1402A": "1402A,108.3135,22.8529,南宁市,北湖,,30,28,40,21,20,45,70,50,60,15,18,5,6,0.6,0.7",
}
FAST = RetryPolicy(attempts=2, first_wait_seconds=0.01, max_wait_seconds=0.02)
NOW = datetime(2026, 3, 16, 2, 30, tzinfo=BUREAU_TZ)   # within the operators' quiet hours (22:00-07:30)
MISSING, LATE, REVISED = "2026-03-15T2000", "2026-03-15T2100", "2026-03-15T2200"


class FakeAirFeed:
    """/air/<timepoint>.csv: 404 for the hours in `missing`; each hour's stations (1401A and 2521A,
    and 1402A where `late_station_sent` holds the hour), 1401A's PM2.5 from `pm25` (default 28)."""

    def __init__(self):
        self.missing, self.late_station_sent, self.pm25, self.requests = {MISSING}, set(), {}, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                """Quiet: the tests read `requests`."""

            def do_GET(self):
                timepoint = self.path.rsplit("/", 1)[-1].removesuffix(".csv")
                outer.requests.append(timepoint)
                if timepoint in outer.missing:
                    self.send_response(404)
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                body = outer.csv(timepoint)
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/air/{{timepoint}}.csv"

    def csv(self, timepoint: str) -> bytes:
        codes = ["1401A", "2521A"] + (["1402A"] if timepoint in self.late_station_sent else [])
        rows = [f"{timepoint}," + STATIONS[code].format(pm25=self.pm25.get(timepoint, 28)) for code in codes]
        return ("\n".join([HEADER, *rows]) + "\n").encode()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed():
    server = FakeAirFeed()
    yield server
    server.close()


@pytest.fixture
def environment(tmp_path, feed, monkeypatch, warehouse_url):
    """Live mode against the fake feed, on SQLite and on PostgreSQL; two tries before a gap, a
    one-day look-back; operators with quiet hours (the packaged routing file, plus quiet hours)."""
    routing = tmp_path / "routing.toml"
    shutil.copy(Path(collect.__file__).parents[1] / "reference" / "data" / "alert_routing.toml", routing)
    with routing.open("a", encoding="utf-8") as out:
        out.write('\nquiet_hours = "22:00-07:30"\n')  # the file's last table is the operators'
    env = {"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_WAREHOUSE_URL": warehouse_url, "ENVMON_SOURCE_MODE": "live", "ENVMON_CNEMC_AIR_URL": feed.url,
           "ENVMON_CNEMC_WATER_URL": "http://127.0.0.1:9/unused", "ENVMON_ALERT_ROUTING": str(routing),
           "ENVMON_COLLECT_MAX_TRIES": "2", "ENVMON_COLLECT_LOOKBACK_HOURS": "24"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def _collect(settings, now: datetime) -> dict:
    """A collection at `now`, on envmon's clock (the outbox asks the clock whether quiet hours hold)."""
    with clock.set_to(now):
        return collect.collect_live("cnemc-air", settings, now, retry=FAST)


def _ledger(settings) -> dict:
    frame = db.read_table(db.engine_for(settings.warehouse_url), "collection_ledger")
    return {f"{t.astimezone(BUREAU_TZ):%Y-%m-%dT%H00}": row for t, row in
            zip(frame["expected_at"], frame.to_dict("records"))}


def _operational(settings, kind: str) -> list[dict]:
    notices = db.read_table(db.engine_for(settings.warehouse_url), "alert_notices")
    return notices[notices["kind"] == kind].to_dict("records")


def _station_rows(settings, station: str, sql_filter: str = "") -> list[dict]:
    from sqlalchemy import text

    with db.engine_for(settings.warehouse_url).connect() as connection:
        return [dict(r) for r in connection.execute(text(
            "SELECT parameter, value, observed_at FROM observations WHERE station_id = :s AND parameter = 'pm2_5'"
            + sql_filter), {"s": station}).mappings()]


def test_a_missing_hour_becomes_a_gap_told_once_and_late_and_revised_hours_come_in(environment, feed, capsys):
    settings = environment
    # 1. the feed answers 404 for 20:00: the hours after it are fetched all the same, and the run succeeds
    first = _collect(settings, NOW)
    ledger = _ledger(settings)
    assert len(ledger) == 24 and ledger[MISSING]["status"] == "failed" and ledger[MISSING]["tries"] == 1
    assert ledger["2026-03-16T0200"]["status"] == "fetched" and ledger[LATE]["stations"] == 2
    assert first["ledger"]["fetched"] == 23 and first["ledger"]["failed"] == 1 and first["feed_outage"] is None
    assert len(first["payloads"]) == 23

    # between the runs a station sends its 21:00 hour late, and CNEMC revises 1401A's PM2.5 of 22:00
    feed.late_station_sent.add(LATE)
    feed.pm25[REVISED] = 95
    assert not _station_rows(settings, "1402A")
    # 2. an hour later: the missing hour's second try makes it a gap (collection moves on), the
    # look-back window brings the late station and the revision in
    feed.requests.clear()
    second = _collect(settings, NOW + timedelta(hours=1))
    ledger = _ledger(settings)
    assert ledger[MISSING]["status"] == "gap" and ledger[MISSING]["tries"] == 2 and "404" in ledger[MISSING]["last_error"]
    assert ledger[LATE]["status"] == "late" and ledger[LATE]["stations"] == 3
    assert ledger[REVISED]["status"] == "revised"
    assert ledger["2026-03-16T0300"]["status"] == "fetched"
    assert second["ledger"]["new_gaps"] == [datetime(2026, 3, 15, 20, tzinfo=BUREAU_TZ).isoformat()]
    assert second["feed_outage"] == "opened"
    late_rows = _station_rows(settings, "1402A")
    assert sorted(r["value"] for r in late_rows) == [20, 21]  # its hour (1 h and 24 h means) is in the warehouse
    history = db.read_table(db.engine_for(settings.warehouse_url), "observation_history")
    replaced = history[(history["station_id"] == "1401A") & (history["parameter"] == "pm2_5")]
    assert list(replaced["value"]) == [28]  # the revised hour's earlier value, kept
    assert 95 in [r["value"] for r in _station_rows(settings, "1401A")]
    # told once, as one episode, and not at 03:30: the operators' quiet hours end at 07:30
    outage = _operational(settings, "feed_outage")
    assert len(outage) == 1 and json.loads(outage[0]["facts"])["first_gap"].startswith("2026-03-15T20:00")
    deliveries = db.read_table(db.engine_for(settings.warehouse_url), "alert_deliveries")
    told = deliveries[deliveries["notice_id"] == outage[0]["notice_id"]]
    assert len(told) == 1 and told.iloc[0]["status"] == "pending"
    assert told.iloc[0]["not_before"].astimezone(BUREAU_TZ).strftime("%H:%M") == "07:30"

    # 3. the gap is not asked for again; the feed delivers: the episode ends, with one notice
    feed.requests.clear()
    third = _collect(settings, NOW + timedelta(hours=2))
    assert MISSING not in feed.requests and third["feed_outage"] == "ended"
    assert len(_operational(settings, "feed_outage")) == 1 and len(_operational(settings, "feed_back")) == 1
    assert _operational(settings, "dag_failed") == []
    # 4. hours unchanged twice have settled: only the new hour and the recent re-fetches are asked
    feed.requests.clear()
    fourth = _collect(settings, NOW + timedelta(hours=3))
    assert "2026-03-15T0300" not in feed.requests and "2026-03-16T0500" in feed.requests
    assert fourth["feed_outage"] is None and len(_operational(settings, "feed_outage")) == 1

    # `envmon collect status` shows the ledger with its totals
    from pipelines.cli.commands import main

    capsys.readouterr()
    assert main(["collect", "status", "--source", "cnemc-air", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    totals = status["totals"]["cnemc-air"]
    assert totals["gap"] == 1 and totals["late"] == 1 and totals["revised"] == 1 and totals["fetched"] == 24
    gap = next(e for e in status["entries"] if e["status"] == "gap")
    assert gap["tries"] == 2 and gap["sha256"] is None and status["outages"]["cnemc-air"] is None
    late = next(e for e in status["entries"] if e["status"] == "late")
    assert late["rows"] > 0 and len(late["sha256"]) == 64 and late["first_fetched_at"] < late["last_fetched_at"]
    assert main(["collect", "status", "--source", "cnemc-air"]) == 0
    text = capsys.readouterr().out
    assert "cnemc-air: fetched 24, late 1, revised 1, gap 1" in text
    assert "2026-03-15 20:00\tgap\t2\t—\t—\t—\t—" in text

    # the app's Data quality page lists the gap, on the bureaus' clock, with its tries and reason
    from dashboards.app import create_app, users

    users.add_user(settings.home / "users.json", "region", "correct horse battery", "regional", "gx-dept")
    app = create_app(settings.warehouse_url, settings.home / "users.json", settings.home, secret_key="test",
                     cache_seconds=0)
    client = app.server.test_client()
    from tests.dashboard_app_fixture import sign_in

    assert sign_in(client, "region", "correct horse battery").status_code == 302
    body = {"output": "page.children", "outputs": {"id": "page", "property": "children"},
            "inputs": [{"id": "url", "property": "pathname", "value": "/quality"}],
            "state": [{"id": "url", "property": "search", "value": "?lang=en"}], "changedPropIds": ["url.pathname"]}
    page = client.post("/_dash-update-component", json=body).get_data(as_text=True)
    assert "Collection gaps" in page and "2026-03-15 20:00 (UTC+8)" in page
    download = client.get("/download/quality/gaps.csv?lang=en").get_data(as_text=True).splitlines()
    assert download[0].lstrip("\ufeff").startswith("Source,Expected hour,Tries,Last tried,Error")
    assert len(download) == 2 and download[1].startswith("cnemc-air,2026-03-15 20:00 (UTC+8),2,")
    assert "404" in download[1] and "nan" not in download[1] and "None" not in download[1]


def test_a_feed_down_for_hours_is_one_episode_not_a_notice_per_run(environment, feed):
    """Every hour missing for three collections: each run succeeds, the hours become gaps one
    after the other, and the operators hear of it once when it opens and once when it ends."""
    settings = environment
    _collect(settings, NOW)
    feed.missing = {f"2026-03-16T{h:02d}00" for h in range(3, 8)}
    states = [_collect(settings, NOW + timedelta(hours=n))["feed_outage"]
              for n in (1, 2, 3, 4)]
    assert states == [None, "opened", "continuing", "continuing"]
    feed.missing = set()
    ended = _collect(settings, NOW + timedelta(hours=5))
    assert ended["feed_outage"] == "ended"
    ledger = _ledger(settings)
    assert [ledger[f"2026-03-16T{h:02d}00"]["status"] for h in range(3, 8)] == ["gap", "gap", "gap", "fetched", "fetched"]
    assert len(_operational(settings, "feed_outage")) == 1 and len(_operational(settings, "feed_back")) == 1
    assert json.loads(_operational(settings, "feed_back")[0]["facts"])["gaps"] == 3


def test_the_collection_settings_are_checked():
    from pipelines.config import collection_rules

    assert collection_rules({}) == (6, 48)
    assert collection_rules({"ENVMON_COLLECT_MAX_TRIES": "3", "ENVMON_COLLECT_LOOKBACK_HOURS": "72"}) == (3, 72)
    with pytest.raises(ValueError, match="24-72"):
        collection_rules({"ENVMON_COLLECT_LOOKBACK_HOURS": "12"})
    with pytest.raises(ValueError, match="at least 1"):
        collection_rules({"ENVMON_COLLECT_MAX_TRIES": "0"})


def test_water_snapshots_fill_their_four_hour_slots_and_a_slot_never_published_becomes_a_gap(tmp_path, monkeypatch):
    """The water feed serves only its current snapshot (readings of 12-31 20:00 in the recorded
    payload): fetched at 02:30 it fills the 20:00 slot; the same snapshot at 04:30 and 06:30 leaves
    the 00:00 and 04:00 slots unpublished, gaps at their second try (one outage told once); the
    snapshot of 08:00 fills its own slot. The same content is never ingested twice."""
    from tests.test_live_clients import WATER, ReplayServer

    server = ReplayServer(WATER, "application/json")
    try:
        for name, value in {"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_SOURCE_MODE": "live",
                            "ENVMON_CNEMC_AIR_URL": "http://127.0.0.1:9/{timepoint}",
                            "ENVMON_CNEMC_WATER_URL": f"{server.url}/GJZ/Ajax/Publish.ashx",
                            "ENVMON_COLLECT_MAX_TRIES": "2"}.items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        night = datetime(2027, 1, 1, 2, 30, tzinfo=BUREAU_TZ)

        def water(now):
            with clock.set_to(now):
                return collect.collect_live("cnemc-water", settings, now, retry=FAST)

        def slots():
            frame = db.read_table(db.engine_for(settings.warehouse_url), "collection_ledger")
            return {f"{t.astimezone(BUREAU_TZ):%m-%d %H:%M}": s for t, s in zip(frame["expected_at"], frame["status"])}

        first = water(night)
        assert slots() == {"12-31 20:00": "fetched"} and len(first["payloads"]) == 1
        assert water(night + timedelta(hours=2))["payloads"] == []
        assert slots() == {"12-31 20:00": "fetched", "01-01 00:00": "failed", "01-01 04:00": "failed"}
        third = water(night + timedelta(hours=4))
        assert slots() == {"12-31 20:00": "fetched", "01-01 00:00": "gap", "01-01 04:00": "gap"}
        assert third["ledger"]["new_gaps"] == [datetime(2027, 1, 1, h, tzinfo=BUREAU_TZ).isoformat() for h in (0, 4)]
        assert third["feed_outage"] == "opened" and third["ledger"]["unchanged"] == 1
        server.body = WATER.replace("12-31 20:00".encode(), "01-01 08:00".encode())
        fourth = water(night + timedelta(hours=6))
        assert slots() == {"12-31 20:00": "fetched", "01-01 00:00": "gap", "01-01 04:00": "gap", "01-01 08:00": "fetched"}
        assert len(fourth["payloads"]) == 1 and fourth["sources"]["cnemc-water"]["loaded"] > 0
        assert len(_operational(settings, "feed_outage")) == 1
    finally:
        server.close()


def test_the_outage_notices_name_the_feed_its_first_gap_and_where_to_look():
    from pipelines.alerts import messages

    opened = {"category": "operational", "kind": "feed_outage", "subject_id": "cnemc-air", "source": "cnemc-air",
              "first_gap": "2026-03-15T20:00:00+08:00", "gaps": 1, "gap_hours": ["2026-03-15T20:00:00+08:00"]}
    zh, en = messages.render(opened, "zh"), messages.render(opened, "en")
    assert "数据源缺时" in zh.subject and "2026-03-15T20:00:00+08:00" in zh.text and "envmon collect status" in zh.text
    assert "feed outage" in en.subject and "1 expected hours never arrived" in en.text
    ended = {"category": "operational", "kind": "feed_back", "subject_id": "cnemc-air", "source": "cnemc-air",
             "first_gap": "2026-03-15T20:00:00+08:00", "opened_at": "2026-03-15T19:30:00+00:00", "gaps": 3}
    assert "数据源缺时结束" in messages.render(ended, "zh").subject
    assert "3 gaps recorded" in messages.render(ended, "en").text
