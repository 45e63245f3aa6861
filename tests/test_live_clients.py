"""The live CNEMC clients against a local HTTP server that replays recorded payloads and injects
the faults real feeds have. No test needs the internet."""
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.observations import BUREAU_TZ
from pipelines.sources import files
from pipelines.sources.files import PayloadError
from pipelines.sources.live import CnemcAirClient, CnemcWaterClient, RetryPolicy
from tests.conftest import FIXTURES

WATER = (FIXTURES / "cnemc-water-publish.json").read_bytes()
AIR = (FIXTURES / "cnemc-air-hourly.csv").read_bytes()
FAST = RetryPolicy(attempts=3, first_wait_seconds=0.01, max_wait_seconds=0.05)


class ReplayServer:
    """Serves `script`: a list of faults, one per request, then the recorded payload."""

    def __init__(self, body: bytes, content_type: str):
        self.body, self.content_type, self.script, self.requests = body, content_type, [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                """Quiet: the tests read `requests`, not the server's log."""

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                outer.requests.append((self.command, self.path, self.rfile.read(length).decode()))
                fault = outer.script.pop(0) if outer.script else "ok"
                if fault == "503":
                    self.send_response(503)
                    self.end_headers()
                elif fault == "404":
                    self.send_response(404)
                    self.end_headers()
                    self.wfile.write(b"not found")
                elif fault == "slow":
                    time.sleep(0.6)
                    self._send(outer.body)
                elif fault == "reset":
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                elif fault == "html":
                    self._send(b"<!DOCTYPE html><html><body>maintenance</body></html>", "text/html")
                elif fault == "truncated":
                    self._send(outer.body[: len(outer.body) // 2])
                else:
                    self._send(outer.body)

            def _send(self, body, content_type=None):
                self.send_response(200)
                self.send_header("Content-Type", content_type or outer.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def water_server():
    server = ReplayServer(WATER, "application/json")
    yield server
    server.close()


@pytest.fixture
def air_server():
    server = ReplayServer(AIR, "text/csv")
    yield server
    server.close()


def _water(server, timeout=2.0):
    return CnemcWaterClient(f"{server.url}/GJZ/Ajax/Publish.ashx", timeout_seconds=timeout, retry=FAST)


def test_water_client_posts_the_real_time_query_and_gets_a_parsable_payload(water_server):
    body = _water(water_server).fetch()
    method, path, form = water_server.requests[0]
    assert method == "POST" and path == "/GJZ/Ajax/Publish.ashx"
    assert "action=getRealDatas" in form and "AreaID=450000" in form
    parsed = files.parse_cnemc_water(body, datetime(2027, 1, 1, 2, tzinfo=BUREAU_TZ))
    assert len(parsed.observations) > 0


@pytest.mark.parametrize("fault", ["503", "reset", "html", "truncated"])
def test_transient_faults_are_retried(water_server, fault):
    water_server.script = [fault]
    assert _water(water_server).fetch() == WATER
    assert len(water_server.requests) == 2


def test_a_timeout_is_retried(water_server):
    water_server.script = ["slow"]
    assert _water(water_server, timeout=0.3).fetch() == WATER
    assert len(water_server.requests) == 2


@pytest.mark.parametrize("fault, message", [("503", "answered 503"), ("html", "HTML page instead of JSON"),
                                            ("truncated", "truncated")])
def test_persistent_faults_end_in_a_clear_error(water_server, fault, message):
    water_server.script = [fault] * 3
    with pytest.raises(PayloadError, match=message):
        _water(water_server).fetch()
    assert len(water_server.requests) == 3


def test_a_client_error_is_not_retried(water_server):
    water_server.script = ["404"]
    with pytest.raises(PayloadError, match="404"):
        _water(water_server).fetch()
    assert len(water_server.requests) == 1


def test_air_client_fetches_each_hour_by_its_timepoint(air_server):
    client = CnemcAirClient(f"{air_server.url}/air/{{timepoint}}.csv", timeout_seconds=2, retry=FAST)
    body = client.fetch_hour(datetime(2026, 3, 15, 1, tzinfo=BUREAU_TZ))
    assert air_server.requests[0][1] == "/air/2026-03-15T0100.csv"
    assert files.parse_cnemc_air(body).observations["station_id"].nunique() == 2


def test_air_client_retries_a_truncated_csv(air_server):
    air_server.script = ["truncated"]
    client = CnemcAirClient(f"{air_server.url}/air/{{timepoint}}.csv", timeout_seconds=2, retry=FAST)
    assert client.fetch_hour(datetime(2026, 3, 15, 1, tzinfo=BUREAU_TZ)) == AIR


def test_a_missed_night_is_caught_up_from_the_watermark():
    client = CnemcAirClient("http://unused/{timepoint}")
    watermark = datetime(2026, 3, 14, 22, tzinfo=BUREAU_TZ)
    hours = client.hours_since(watermark, datetime(2026, 3, 16, 2, 30, tzinfo=BUREAU_TZ))
    assert hours[0] == watermark + timedelta(hours=1) and hours[-1] == datetime(2026, 3, 16, 2, tzinfo=BUREAU_TZ)
    assert len(hours) == 28


class HourlyAirServer(ReplayServer):
    """Answers each /air/<timepoint>.csv with the recorded rows relabelled to that hour."""

    def __init__(self):
        super().__init__(AIR, "text/csv")
        handler = self.server.RequestHandlerClass
        original = handler._serve

        def serve(this):
            timepoint = this.path.rsplit("/", 1)[-1].removesuffix(".csv")
            lines = AIR.decode().splitlines()
            rows = [lines[0]] + [f"{timepoint}," + line.split(",", 1)[1] for line in lines[1:3]]
            self.body = ("\n".join(rows) + "\n").encode()
            original(this)

        handler.do_GET = serve


def test_live_mode_ingests_every_hour_since_the_watermark_and_then_only_new_ones(tmp_path, water_server, monkeypatch):
    from pipelines.ingest import collect
    from pipelines.config import load_settings
    from warehouse import db

    air = HourlyAirServer()
    monkeypatch.setenv("ENVMON_COLLECT_LOOKBACK_HOURS", "24")  # the first collection asks the look-back window
    try:
        settings = load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_SOURCE_MODE": "live",
                                  "ENVMON_CNEMC_WATER_URL": f"{water_server.url}/GJZ/Ajax/Publish.ashx",
                                  "ENVMON_CNEMC_AIR_URL": f"{air.url}/air/{{timepoint}}.csv"})
        now = datetime(2026, 3, 16, 2, 30, tzinfo=BUREAU_TZ)
        first = collect.collect_live("cnemc-air", settings, now)
        assert len(air.requests) == 24 and len(first["payloads"]) == 24
        engine = db.engine_for(settings.warehouse_url)
        assert db.watermark(engine, "cnemc-air") == datetime(2026, 3, 16, 2, tzinfo=BUREAU_TZ)
        later = collect.collect_live("cnemc-air", settings, now + timedelta(hours=3))
        # the 3 new hours are ingested; the window's 21 others are asked again (issue 21: late stations and
        # revisions) and, unchanged, not ingested
        assert len(later["payloads"]) == 3 and len(air.requests) == 48 and later["ledger"]["unchanged"] == 21
        # the water snapshot's readings are dated 12-31 20:00 (no year): fetched on New Year's night they
        # are 2026-12-31; fetched in March they would be 75 days old, and the year could not be inferred
        water_now = datetime(2027, 1, 1, 2, 30, tzinfo=BUREAU_TZ)
        water = collect.collect_live("cnemc-water", settings, water_now)
        assert water["sources"]["cnemc-water"]["loaded"] > 0
        assert len(db.read_table(engine, "payloads")) == 28
        # the feed serves the same snapshot until it republishes: content already logged is skipped
        again = collect.collect_live("cnemc-water", settings, water_now + timedelta(hours=2))
        assert again["unchanged_payloads"] == 1 and again["payloads"] == []
        assert len(db.read_table(engine, "payloads")) == 28
    finally:
        air.close()
