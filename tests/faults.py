"""Fault scenarios with real processes, shared by tests/test_faults.py (each one a test) and
bench/faults.py (the table of faults injected, survived and the time to recover).

Each scenario injects one fault into a real run of envmon (an `envmon` command or a collection in a
process of its own, a real PostgreSQL or SQLite warehouse, a real filesystem, a real HTTP feed on
loopback), lets envmon recover the way an operator or the next scheduled run would, and then checks
that no batch is left partial and that the warehouse holds what a clean run of the same payloads
holds (counts per day of observations, quarantine, rollups and assessments, a checksum of the
values, the watermark) with every payload `loaded`. A scenario returns what it injected and how long
the recovery took; a check that fails raises AssertionError.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from pipelines.observations import BUREAU_TZ

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "cnemc-air"
STATIONS = 4
FETCHED = "2026-04-01T09:00:00+08:00"
HEADER = "timepoint,stationcode,positionname,primarypollutant,aqi,pm10,pm2_5,o3,no2,so2,co"
PROCESS_TIMEOUT = 300


@dataclass
class Recovery:
    injected: str
    recover_seconds: float
    detail: str = ""


# --- payloads -------------------------------------------------------------------------------

def air_csv(first_day: date, hours, stations: int = STATIONS) -> bytes:
    """An hourly CNEMC air CSV of some registry air stations: hour h is the hour ending h hours
    after the bureau midnight that begins `first_day` (hour 24 is 00:00 of the next day, still the
    first day's partition)."""
    from pipelines.reference import registry

    lines = [HEADER]
    for hour in hours:
        stamp = datetime.combine(first_day, datetime.min.time()) + timedelta(hours=hour)
        for n, station in enumerate(registry.air_stations().index[:stations]):
            wobble = (hour + n) % 5
            lines.append(f"{stamp:%Y-%m-%dT%H%M},{station},,,,{50 + wobble},{30 + wobble},{60 + wobble},"
                         f"{20 + wobble},{6 + wobble % 2},{0.7 + wobble / 10:.1f}")
    return ("\n".join(lines) + "\n").encode()


def write_payload(folder: Path, name: str, payload: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(payload)
    return path


# --- processes ------------------------------------------------------------------------------

def environment(home: Path, url: str, **extra) -> dict:
    return {**os.environ, "ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **extra}


def envmon_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", *args]


def start(command: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(command: list[str], env: dict, timeout: float = PROCESS_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def finished(process: subprocess.Popen, timeout: float = PROCESS_TIMEOUT) -> subprocess.CompletedProcess:
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def ingest_command(path: Path) -> list[str]:
    return envmon_command("ingest", "--source", SOURCE, "--file", str(path), "--fetched-at", FETCHED)


def collect_command(source: str = SOURCE) -> list[str]:
    return [sys.executable, "-c", "import json, sys; from pipelines.ingest.collect import collect_inbox; "
            f"print(json.dumps(collect_inbox({source!r}), default=str))"]


def assert_succeeded(result: subprocess.CompletedProcess, what: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    last = lines[-1][:300] if lines else ""
    assert result.returncode == 0, f"{what} exited {result.returncode}: {last}\n{result.stderr.strip()[-3000:]}"


def assert_one_line_error(result: subprocess.CompletedProcess, what: str, expected_code: int | None = None) -> str:
    """A failed command says why in one line on stderr, with no traceback."""
    assert result.returncode != 0, f"{what} should have failed"
    if expected_code is not None:
        assert result.returncode == expected_code, f"{what} exited {result.returncode}: {result.stderr}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr and len(lines) == 1, f"{what} printed:\n{result.stderr[-3000:]}"
    return lines[0]


# --- what a warehouse holds ------------------------------------------------------------------

def settings_for(home: Path, url: str, **extra):
    from pipelines.config import load_settings

    return load_settings({"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url, **extra})


ASSESSED = {"cnemc-air": "air", "simulated-air": "air", "simulated-water": "surface_water",
            "simulated-coastal": "seawater"}  # the assessments' domain of a source's stations


def holdings(url: str, source: str = SOURCE, assessed_before: date | None = None) -> dict:
    """What the warehouse holds of a source, as comparable counts: observations, quarantined rows
    and partition-log rows per day with a checksum of the values, the day rollups and the day
    assessments per day (those before `assessed_before`, if given), and the watermark."""
    from warehouse import schema

    engine = create_engine(url)
    o, q, log, r, a, w = (schema.observations, schema.quarantine, schema.partition_log, schema.rollups,
                          schema.assessments, schema.watermarks)
    with engine.connect() as connection:
        observations = {str(day): (count, round(total or 0, 6)) for day, count, total in connection.execute(
            select(o.c.partition_day, func.count(), func.sum(o.c.value)).where(o.c.source == source)
            .group_by(o.c.partition_day)).all()}
        quarantined = dict(connection.execute(select(q.c.partition_day, func.count()).where(q.c.source == source)
                                              .group_by(q.c.partition_day)).all())
        logged = {str(day): loaded for day, loaded in connection.execute(
            select(log.c.partition_day, log.c.rows_loaded).where(log.c.source == source)).all()}
        days = [date.fromisoformat(d) for d in observations]
        days = [d for d in days if assessed_before is None or d < assessed_before]
        rollups = {str(day): n for day, n in connection.execute(
            select(r.c.period_start, func.count()).where(r.c.period == "day", r.c.period_start.in_(days))
            .group_by(r.c.period_start)).all()}
        assessments = {str(day): n for day, n in connection.execute(
            select(a.c.period_start, func.count()).where(a.c.period == "day", a.c.domain == ASSESSED[source],
                                                         a.c.status == "assessed", a.c.period_start.in_(days))
            .group_by(a.c.period_start)).all()}
        watermark = connection.execute(select(w.c.last_observed_at).where(w.c.source == source)).scalar()
    engine.dispose()
    return {"observations": observations, "quarantined": {str(k): v for k, v in quarantined.items()},
            "partition_log": logged, "rollups": rollups, "assessments": assessments,
            "watermark": watermark.isoformat() if watermark else None}


def payload_statuses(url: str) -> list[tuple]:
    from warehouse import schema

    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(select(schema.payloads.c.payload_id, schema.payloads.c.status,
                                         schema.payloads.c.retryable, schema.payloads.c.error)
                                  .order_by(schema.payloads.c.payload_id)).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def clean_holdings(payloads: list[bytes], assessed_before: date | None = None) -> dict:
    """What a clean run holds: the payloads ingested one after the other, with no fault, into a
    warehouse of their own."""
    from pipelines.ingest.payloads import ingest_payload

    with tempfile.TemporaryDirectory(prefix="envmon-clean-") as folder:
        url = f"sqlite:///{folder}/warehouse.db"
        settings = settings_for(Path(folder) / "home", url)
        fetched = datetime.fromisoformat(FETCHED)
        for number, payload in enumerate(payloads):
            ingest_payload(SOURCE, payload, f"clean-{number}.csv", fetched, settings)
        held = holdings(url, assessed_before=assessed_before)
        from warehouse import db

        db.engine_for(url).dispose()
    return held


def assert_same_as_clean(url: str, clean: dict, assessed_before: date | None = None) -> None:
    held = holdings(url, assessed_before=assessed_before)
    for key in clean:
        assert held[key] == clean[key], f"{key} differs from a clean run:\n held  {held[key]}\n clean {clean[key]}"
    unfinished = [row for row in payload_statuses(url) if row[1] not in ("loaded", "failed")
                  or (row[1] == "failed" and row[2])]
    assert not unfinished, f"payloads left unfinished: {unfinished}"


def assert_nothing_stored(url: str) -> None:
    held = holdings(url)
    assert not held["observations"] and not held["partition_log"] and held["watermark"] is None, \
        f"a partial batch is visible: {held}"


# --- PostgreSQL: waiting on a lock, terminating a backend ------------------------------------

@contextlib.contextmanager
def holding_partition(url: str, day: date, source: str = SOURCE):
    """Hold the advisory lock of a (source, day) partition in a transaction of our own: a load that
    reaches that day waits there, in the middle of its transaction, with its earlier days written
    but not committed."""
    from warehouse import db

    engine = create_engine(url)
    connection = engine.connect()
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": db.lock_key("observations", source, day)})
    try:
        yield
    finally:
        connection.rollback()
        connection.close()
        engine.dispose()


def backend_waiting_for(url: str, day: date, process: subprocess.Popen, timeout: float = 180,
                        source: str = SOURCE) -> int:
    """The PostgreSQL backend that waits for the partition lock held by holding_partition."""
    from warehouse import db

    key = db.lock_key("observations", source, day) & 0xFFFFFFFFFFFFFFFF
    engine = create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                out, err = process.communicate()
                raise AssertionError(f"the load ended before it reached {day}: {err[-3000:]}")
            with engine.connect() as connection:
                pid = connection.execute(text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND classid = :high AND objid = :low"), {"high": key >> 32, "low": key & 0xFFFFFFFF}).scalar()
            if pid:
                return int(pid)
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise AssertionError(f"no backend waited for the partition {day} within {timeout} s")


def wait_for_lock_release(url: str, *key, timeout: float = 30) -> None:
    from warehouse import db

    value = db.lock_key(*key) & 0xFFFFFFFFFFFFFFFF
    engine = create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                if not connection.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                               "AND classid = :high AND objid = :low"),
                                          {"high": value >> 32, "low": value & 0xFFFFFFFF}).scalar():
                    return
            time.sleep(0.1)
    finally:
        engine.dispose()
    raise AssertionError(f"the lock {key} was not released within {timeout} s")


def terminate_backend(url: str, pid: int) -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    engine.dispose()


# --- the scenarios -----------------------------------------------------------------------------

FIRST_DAY = date(2026, 3, 15)
THREE_DAYS = air_csv(FIRST_DAY, range(1, 73))  # one payload across three partitions


def _resume(home: Path, url: str) -> float:
    started = time.monotonic()
    result = run(envmon_command("ingest", "--resume"), environment(home, url))
    assert_succeeded(result, "envmon ingest --resume")
    return time.monotonic() - started


def connection_killed_mid_load(workdir: Path, url: str) -> Recovery:
    """The database connection of a load is terminated (pg_terminate_backend from another session)
    while the load has written its first day and waits for its second; `envmon ingest` fails with
    one line, nothing of the payload is visible, and `envmon ingest --resume` finishes it."""
    home, path = workdir / "home", write_payload(workdir / "in", "three-days.csv", THREE_DAYS)
    with holding_partition(url, FIRST_DAY + timedelta(days=1)):
        process = start(ingest_command(path), environment(home, url))
        terminate_backend(url, backend_waiting_for(url, FIRST_DAY + timedelta(days=1), process))
        result = finished(process)
    line = assert_one_line_error(result, "the load whose connection was killed")
    assert "--resume" in line, line
    assert_nothing_stored(url)
    [(_, status, retryable, error)] = payload_statuses(url)
    assert status == "failed" and retryable and error, (status, retryable, error)
    seconds = _resume(home, url)
    assert_same_as_clean(url, clean_holdings([THREE_DAYS]))
    return Recovery("pg_terminate_backend of the load's connection between its 1st and 2nd day", seconds, line)


def killed_mid_load(workdir: Path, url: str) -> Recovery:
    """The ingest process is SIGKILLed in the middle of its load transaction (PostgreSQL: its first
    day written, waiting for its second); nothing is visible, the payload stays `received`, and
    `envmon ingest --resume` finishes it."""
    home, path = workdir / "home", write_payload(workdir / "in", "three-days.csv", THREE_DAYS)
    with holding_partition(url, FIRST_DAY + timedelta(days=1)):
        process = start(ingest_command(path), environment(home, url))
        backend_waiting_for(url, FIRST_DAY + timedelta(days=1), process)
        process.send_signal(signal.SIGKILL)
        process.wait(60)
    assert_nothing_stored(url)
    [(payload_id, status, _, _)] = payload_statuses(url)
    assert status == "received", status
    wait_for_lock_release(url, "payload", payload_id)  # the killed process's session ends with it
    seconds = _resume(home, url)
    assert_same_as_clean(url, clean_holdings([THREE_DAYS]))
    return Recovery("SIGKILL of `envmon ingest` inside its load transaction", seconds)


def killed_mid_collection(workdir: Path, url: str) -> Recovery:
    """A collection of an inbox of three payloads is SIGKILLed once its first payload is stored;
    the next collection finishes what was begun and collects the rest."""
    home, inbox = workdir / "home", workdir / "inbox"
    payloads = [air_csv(FIRST_DAY + timedelta(days=n), range(1, 25)) for n in range(3)]
    for number, payload in enumerate(payloads):
        write_payload(inbox / SOURCE, f"day-{number}.csv", payload)
    env = environment(home, url, ENVMON_INBOX=str(inbox))
    process = start(collect_command(), env)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if any(status in ("stored", "loaded") for _, status, _, _ in payload_statuses(url)):
                break
        assert process.poll() is None, f"the collection ended before it was killed: {process.stderr.read()[-2000:]}"
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait(60)
    statuses = [status for _, status, _, _ in payload_statuses(url)]
    assert statuses and statuses != ["loaded"] * 3, f"killed too late to mean anything: {statuses}"
    started = time.monotonic()
    assert_succeeded(run(collect_command(), env), "the next collection")
    seconds = time.monotonic() - started
    assert_same_as_clean(url, clean_holdings(payloads))
    return Recovery(f"SIGKILL of a collection of 3 payloads (statuses then: {', '.join(statuses)})", seconds)


def archive_disk_full(workdir: Path, url: str) -> Recovery:
    """The archive's filesystem is full (a real 1 MiB tmpfs, filled): `envmon ingest` fails with one
    line, logs nothing and leaves no partial file; with space again, the same command loads it."""
    home = workdir / "home"
    archive = home / "archive"
    archive.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(archive)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        raise FaultNotInjectable(f"cannot mount a small tmpfs here ({mounted.stderr.strip() or 'not root'})")
    try:
        filler = archive / "filler"
        with open(filler, "wb", buffering=0) as handle:  # to the last byte: big writes, then smaller
            for size in (65536, 4096, 1):
                with contextlib.suppress(OSError):
                    while handle.write(b"\0" * size):
                        pass
        path = write_payload(workdir / "in", "three-days.csv", THREE_DAYS)
        env = environment(home, url)
        line = assert_one_line_error(run(ingest_command(path), env), "an ingest onto a full disk")
        assert "No space left on device" in line, line
        assert payload_statuses(url) == [], "a payload that could not be archived was logged"
        leftovers = [p for p in archive.rglob("*") if p.is_file() and p != filler]
        assert not leftovers, f"partial files in the archive: {leftovers}"
        assert_nothing_stored(url)
        filler.unlink()
        started = time.monotonic()
        assert_succeeded(run(ingest_command(path), env), "the same ingest with space again")
        seconds = time.monotonic() - started
        assert_same_as_clean(url, clean_holdings([THREE_DAYS]))
    finally:
        subprocess.run(["umount", "-l", str(archive)], capture_output=True)
    return Recovery("the archive's 1 MiB tmpfs filled to the last byte", seconds, line)


class FaultNotInjectable(RuntimeError):
    """This machine cannot inject the fault (e.g. no right to mount a filesystem)."""


def hours_after_first_midnight(timepoint: datetime) -> int:
    """The feed's hours as air_csv(FIRST_DAY, ...) numbers them, so its files hold the values a
    clean payload of the same hours holds."""
    return int((timepoint - datetime.combine(FIRST_DAY, datetime.min.time())).total_seconds() // 3600)


class AirFeed:
    """The CNEMC hourly air feed on loopback: any hour's file, or 503 while `down`."""

    def __init__(self):
        self.down, self.requests = False, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                """Quiet."""

            def do_GET(self):
                outer.requests.append(self.path)
                if outer.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                timepoint = datetime.strptime(self.path.rsplit("/", 1)[1].removesuffix(".csv"), "%Y-%m-%dT%H%M")
                body = air_csv(FIRST_DAY, [hours_after_first_midnight(timepoint)])
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/air/{{timepoint}}.csv"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def source_down_three_nights(workdir: Path, url: str) -> Recovery:
    """The air feed answers 503 at the collections of three nights, then comes back: each of those
    collections succeeds (issue 21: a missing hour never fails a run), records every hour it asked
    as failed with its reason in the collection ledger, and moves nothing; the first collection
    after it catches up every missed hour (none has reached ENVMON_COLLECT_MAX_TRIES, 6)."""
    from pipelines.ingest import collect
    from pipelines.ingest.payloads import ingest_payload
    from pipelines.observations import BUREAU_TZ
    from pipelines.sources.live import RetryPolicy
    from warehouse import collection_ledger, db

    feed = AirFeed()
    try:
        settings = settings_for(workdir / "home", url, ENVMON_SOURCE_MODE="live", ENVMON_CNEMC_AIR_URL=feed.url,
                                ENVMON_CNEMC_WATER_URL="http://127.0.0.1:9/unused")
        fast = RetryPolicy(attempts=2, first_wait_seconds=0.01, max_wait_seconds=0.05)
        night = datetime.combine(FIRST_DAY, datetime.min.time(), BUREAU_TZ) + timedelta(hours=23)
        # the watermark before the outage: the feed's hour ending at 23:00 of the first day
        ingest_payload(SOURCE, air_csv(FIRST_DAY, [23]), "seed.csv", night, settings)
        feed.down = True
        for number in range(3):  # three nights: the collections at 02:00 of three mornings get nothing
            now = night + timedelta(hours=3 + 24 * number)
            result = collect.collect_live(SOURCE, settings, now, retry=fast)
            asked = result["ledger"]["asked"]
            assert asked > 0 and result["ledger"]["failed"] == asked and not result["payloads"], result["ledger"]
            assert db.watermark(db.engine_for(url), SOURCE) == night, "the watermark moved while the feed was down"
        entries = collection_ledger.ledger(db.engine_for(url), SOURCE)
        assert set(entries["status"]) == {"failed"} and entries["last_error"].str.contains("503").all()
        feed.down = False  # back an hour after the third night's failed collection
        back = night + timedelta(hours=3 + 24 * 2 + 1, minutes=20)
        started = time.monotonic()
        caught_up = collect.collect_live(SOURCE, settings, back, retry=fast)
        seconds = time.monotonic() - started
        hours = int((back.replace(minute=0) - night).total_seconds() // 3600)
        assert len(caught_up["payloads"]) == hours, (len(caught_up["payloads"]), hours)
        today = back.date()
        clean = clean_holdings([air_csv(FIRST_DAY, range(23, 23 + hours + 1))], assessed_before=today)
        assert_same_as_clean(url, clean, assessed_before=today)
    finally:
        feed.close()
    return Recovery(f"the air feed answered 503 for 3 nights; {hours} hours caught up", seconds)


def _nightly_steps_command(source: str, day: date) -> list[str]:
    return [sys.executable, "-c",
            "import sys; from datetime import date; from pipelines import nightly; "
            f"day = date.fromisoformat({day.isoformat()!r}); nightly.prepare_warehouse(); "
            f"nightly.ingest({source!r}, day); nightly.validate({source!r}, day); nightly.load({source!r}, day); "
            "nightly.assess(day)"]


def two_runs_of_one_partition(workdir: Path, url: str, rounds: int = 2) -> Recovery:
    """Two processes run the nightly steps of the same (source, day) at once (a manual re-run
    while the scheduled one is still going), twice: both succeed, and the day holds what one run
    leaves."""
    source, day = "simulated-coastal", date(2026, 3, 15)
    env = environment(workdir / "home", url)
    started = time.monotonic()
    for _ in range(rounds):
        processes = [start(_nightly_steps_command(source, day), env) for _ in range(2)]
        for process in processes:
            assert_succeeded(finished(process), "a nightly run of the partition")
    seconds = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="envmon-clean-") as folder:
        clean_url = f"sqlite:///{folder}/warehouse.db"
        assert_succeeded(run(_nightly_steps_command(source, day), environment(Path(folder) / "home", clean_url)),
                         "a clean run")
        assert holdings(url, source) == holdings(clean_url, source)
    return Recovery(f"{rounds} × two nightly runs of ({source}, {day}) at once", seconds)


def two_ingests_at_once(workdir: Path, url: str, rounds: int = 2) -> Recovery:
    """Two `envmon ingest` processes of one source and day at once, repeated: both land whole."""
    env = environment(workdir / "home", url)
    payloads, started = [], time.monotonic()
    for number in range(rounds):
        day = FIRST_DAY + timedelta(days=number)
        pair = [air_csv(day, range(1 + w, 25, 2)) for w in range(2)]
        payloads += pair
        paths = [write_payload(workdir / "in", f"{day}-part{w}.csv", p) for w, p in enumerate(pair)]
        processes = [start(ingest_command(path), env) for path in paths]
        for process in processes:
            assert_succeeded(finished(process), "one of two ingests at once")
    seconds = time.monotonic() - started
    assert_same_as_clean(url, clean_holdings(payloads))
    return Recovery(f"{rounds} × two ingests of one source and day at once", seconds)


class _Silent:
    """A TCP server on loopback that accepts connections and never answers: a warehouse host that
    hangs, as a firewall that drops packets would."""

    def __init__(self):
        import socket

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]

    def close(self):
        self.socket.close()


UNREACHABLE_LIMIT_SECONDS = 20  # connect timeout 5 s, plus the interpreter's start


def warehouse_unreachable(workdir: Path, url: str | None = None) -> Recovery:
    """`envmon ingest`, `export` and `run` against a warehouse that refuses connections, and one
    that never answers: each fails within seconds with one line and exit status 3."""
    from tests.conftest import free_port

    path = write_payload(workdir / "in", "three-days.csv", THREE_DAYS)
    silent = _Silent()
    slowest, lines = 0.0, []
    try:
        commands = (ingest_command(path)[3:], ["export", "observations"], ["run", "--date", "2026-03-15"])
        # every command against a server that refuses; the connect timeout against one that hangs
        for host, tried in ((f"127.0.0.1:{free_port()}", commands), (f"127.0.0.1:{silent.port}", commands[:1])):
            env = environment(workdir / "home", f"postgresql+psycopg://envmon@{host}/envmon")
            for args in tried:
                started = time.monotonic()
                result = run(envmon_command(*args), env, timeout=120)
                elapsed = time.monotonic() - started
                line = assert_one_line_error(result, f"envmon {args[0]} with the warehouse at {host}", expected_code=3)
                assert "cannot reach the warehouse" in line, line
                assert elapsed < UNREACHABLE_LIMIT_SECONDS, f"envmon {args[0]} took {elapsed:.0f} s to fail"
                slowest, lines = max(slowest, elapsed), lines + [line]
    finally:
        silent.close()
    return Recovery("warehouse refusing connections, and one accepting but never answering; "
                    "ingest, export, run", slowest, lines[-1])


SCENARIOS = {  # name: (function, backends)
    "the database connection killed in the middle of a load": (connection_killed_mid_load, ("postgresql",)),
    "the process SIGKILLed inside its load, then resumed": (killed_mid_load, ("postgresql",)),
    "a collection SIGKILLed mid-run, then run again": (killed_mid_collection, ("sqlite",)),
    "the archive disk full": (archive_disk_full, ("sqlite",)),
    "a source down for three nights, then back": (source_down_three_nights, ("sqlite",)),
    "two runs of the same partition at once": (two_runs_of_one_partition, ("sqlite", "postgresql")),
    "two ingests of one source and day at once, repeated": (two_ingests_at_once, ("sqlite", "postgresql")),
    "the warehouse unreachable at start": (warehouse_unreachable, ("postgresql",)),
}


def summary_json(outcome: Recovery) -> str:
    return json.dumps(outcome.__dict__, ensure_ascii=False)
