"""A replay of recorded real feeds: the CNEMC feeds played back from a folder of payloads, each at
its own fetch time, through the live collection path (pipelines/ingest/collect.py and the httpx clients of
pipelines/sources/live.py, retries and checks included) and the real nightly DAG.

The folder holds the payloads and `manifest.csv` (file, source, channel, fetched_at); replay/ in the
repository is one, cut from real archives (replay/README.md). Channels:

- `feed`: served by a local HTTP server (`ReplayFeed`) standing in for the CNEMC endpoints: the air
  URL template answers an hour's file once its fetch time has come on envmon's clock
  (pipelines.clock.now), 404 for an hour the recording lacks or has not reached; the water
  Publish.ashx answers the latest snapshot fetched by then. The environment picks the feed as in a
  deployment: ENVMON_SOURCE_MODE=live with ENVMON_CNEMC_WATER_URL / ENVMON_CNEMC_AIR_URL at it.
- `inbox`: a file a bureau downloads (the per-section CSV exports): put into the replay's inbox,
  dated its fetch time, when that time comes, and collected as the inbox collection collects.

`envmon run --replay DIR` (run_replay) plays the days: before each day's nightly run (02:00 the
next morning) every payload fetched by then is collected, in fetch-time order, with envmon's clock
set to its fetch time; then the nightly DAG runs for the day, as the scheduler runs it. A
collection that fails (a feed hour the recording lacks) is reported and the replay goes on, as the
scheduler goes on to the next run. `python -m pipelines.sources.replay DIR --port N` serves a
folder on its own, for an Airflow deployment's collection DAGs.
"""
from __future__ import annotations

import contextlib
import csv
import os
import shutil
import threading
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pipelines import clock
from pipelines.clock import BUREAU_TZ, bureau_date, nightly_run_time

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("file", "source", "channel", "fetched_at")
CHANNELS = {"cnemc-air": ("feed",), "cnemc-water": ("feed", "inbox")}


def first_run_hours() -> int:
    """How far back the air collection's first run asks: the collection ledger's look-back
    (ENVMON_COLLECT_LOOKBACK_HOURS, pipelines/ingest/collect.py)."""
    from pipelines.config import collection_rules

    return collection_rules()[1]


class ReplayError(ValueError):
    """A replay folder that cannot be played: said in one line."""


@dataclass(frozen=True)
class Recorded:
    file: str
    source: str
    channel: str
    fetched_at: datetime

    @property
    def timepoint(self) -> str:
        """An air file's hour, as the feed's URL names it (its file name: YYYY-MM-DDTHH00)."""
        return Path(self.file).stem


def read_manifest(folder: Path) -> list[Recorded]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ReplayError(f"{folder} is not a replay folder: it has no {MANIFEST}")
    recorded = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != MANIFEST_COLUMNS:
            raise ReplayError(f"{path}: the columns must be {', '.join(MANIFEST_COLUMNS)}, not {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            if row["channel"] not in CHANNELS.get(row["source"], ()):
                raise ReplayError(f"{path}:{line}: {row['source']} cannot be replayed through {row['channel']!r}")
            try:
                fetched = datetime.fromisoformat(row["fetched_at"])
            except ValueError:
                raise ReplayError(f"{path}:{line}: fetched_at {row['fetched_at']!r} is not an ISO 8601 time") from None
            if fetched.tzinfo is None:
                raise ReplayError(f"{path}:{line}: fetched_at {row['fetched_at']!r} has no UTC offset")
            if not (Path(folder) / row["file"]).is_file():
                raise ReplayError(f"{path}:{line}: no such payload {row['file']}")
            recorded.append(Recorded(row["file"], row["source"], row["channel"], fetched))
    return sorted(recorded, key=lambda r: (r.fetched_at, r.file))


def nightly_day_of(fetched_at: datetime) -> date:
    """The day whose nightly run first sees a payload: the run at 02:00 fires after every payload
    fetched up to that instant (a payload fetched at 01:20 belongs to the day before)."""
    return bureau_date(fetched_at - timedelta(hours=2, microseconds=1))


class ReplayFeed:
    """The CNEMC endpoints, answering from a replay folder by envmon's clock (`now`)."""

    def __init__(self, folder: Path, recorded: list[Recorded], now=clock.now, port: int = 0):
        self.folder = Path(folder)
        self.now = now
        self.air = {r.timepoint: r for r in recorded if r.source == "cnemc-air" and r.channel == "feed"}
        self.water = [r for r in recorded if r.source == "cnemc-water" and r.channel == "feed"]
        self.served: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def water_url(self) -> str:
        return f"{self.base}/GJZ/Ajax/Publish.ashx"

    @property
    def air_url(self) -> str:
        return f"{self.base}/air/{{timepoint}}.csv"

    def answer(self, method: str, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of a request at envmon's current time."""
        now = self.now()
        if method == "POST" and path.startswith("/GJZ/Ajax/Publish.ashx"):
            served = [r for r in self.water if r.fetched_at <= now]
            if not served:
                return 404, "text/plain", f"no water snapshot recorded by {now.isoformat()}".encode()
            return self._payload(served[-1], "application/json; charset=utf-8")
        if method == "GET" and path.startswith("/air/") and path.endswith(".csv"):
            recorded = self.air.get(path[len("/air/"):-len(".csv")])
            if recorded is None or recorded.fetched_at > now:
                return 404, "text/plain", f"{path}: not in the recording at {now.isoformat()}".encode()
            return self._payload(recorded, "text/csv; charset=utf-8")
        return 404, "text/plain", b"not a CNEMC endpoint"

    def _payload(self, recorded: Recorded, content_type: str) -> tuple[int, str, bytes]:
        self.served.append(recorded.file)
        return 200, content_type, (self.folder / recorded.file).read_bytes()

    def _handler(self):
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)  # the form (action, AreaID...): the recording is Guangxi's already
                status, content_type, body = feed.answer(method, self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 - http.server's name
                self._reply("GET")

            def do_POST(self):  # noqa: N802
                self._reply("POST")

            def log_message(self, *args):  # quiet: the collection logs what it fetched
                pass

        return Handler

    def __enter__(self) -> "ReplayFeed":
        self._thread = threading.Thread(target=self._server.serve_forever, name="replay-feed", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def environment(self) -> dict[str, str]:
        """What points a deployment's live mode at this feed."""
        return {"ENVMON_SOURCE_MODE": "live", "ENVMON_CNEMC_WATER_URL": self.water_url,
                "ENVMON_CNEMC_AIR_URL": self.air_url}


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _collections(recorded: list[Recorded], days: list[date], air_watermark: datetime | None) -> list[tuple]:
    """(time, source, channel, payloads) of each collection the replay runs, in time order: one at
    each payload's fetch time. A first air collection (no watermark yet) looks back first_run_hours()
    hours, so it runs at the fetch time of the run's hour that far in: the collection switched on then,
    taking the recorded hours before it in one go (earlier, it would ask for hours the recording
    does not hold)."""
    wanted = set(days)
    playing = [r for r in recorded if nightly_day_of(r.fetched_at) in wanted]
    air = [r for r in playing if r.source == "cnemc-air"]
    first_air = air[min(first_run_hours(), len(air)) - 1].fetched_at if air and air_watermark is None else None
    groups: dict[tuple, list[Recorded]] = {}
    for r in playing:
        if r.source == "cnemc-air" and first_air is not None and r.fetched_at < first_air:
            continue  # taken by the first air collection
        groups.setdefault((r.fetched_at, r.source, r.channel), []).append(r)
    return [(when, source, channel, payloads) for (when, source, channel), payloads in sorted(groups.items())]


def replay_days(recorded: list[Recorded]) -> list[date]:
    """Every day whose nightly run a payload of the replay reaches."""
    return sorted({nightly_day_of(r.fetched_at) for r in recorded})


def run_replay(settings, folder: Path, days: list[date] | None, log_path: Path) -> dict:
    """Play a replay folder over `days` (default: every day a collection of it runs on): the
    collections at their fetch times, each day's nightly DAG run after them. Returns what was collected and what failed."""
    from pipelines import nightly
    from pipelines.ingest import collect
    from pipelines.runner import DagRunFailed, configure_airflow, load_dag, output_to
    from warehouse import db

    folder = Path(folder)
    recorded = read_manifest(folder)
    if not recorded:
        raise ReplayError(f"{folder}: the manifest lists no payload")
    db.check_reachable(settings.warehouse_url)
    inbox = settings.home / "replay-inbox"
    collected, failed, states = [], [], []
    with ReplayFeed(folder, recorded) as feed, _environment(feed.environment()):
        live = replace(settings, source_mode="live", cnemc_water_url=feed.water_url, cnemc_air_url=feed.air_url,
                       inbox=inbox)
        nightly.prepare_warehouse(live)
        watermark = db.watermark(db.engine_for(live.warehouse_url), "cnemc-air")
        plan = _collections(recorded, sorted(days) if days else replay_days(recorded), watermark)
        # default: the days a collection runs before (a day whose payloads the first air collection
        # takes later is assessed by that collection, as a late day)
        days = sorted(days) if days else sorted({nightly_day_of(step[0]) for step in plan})
        configure_airflow(live)
        with output_to(log_path):
            from airflow.utils import db as airflow_db

            airflow_db.upgradedb()
            dag = load_dag()
            for day in days:
                due = [step for step in plan if nightly_day_of(step[0]) == day]
                for when, source, channel, payloads in due:
                    with clock.set_to(when):
                        outcome = _collect(collect, live, inbox, folder, when, source, channel, payloads)
                    (failed if "error" in outcome else collected).append(outcome)
                with clock.set_to(nightly_run_time(day)):
                    run = dag.test(logical_date=nightly_run_time(day))
                states.append(str(getattr(run.state, "value", run.state)))
                if states[-1] != "success":
                    raise DagRunFailed(f"the nightly run for {day} ended {states[-1]}; see {log_path}")
    return {"replay": str(folder), "days": [d.isoformat() for d in days], "collections": len(collected),
            "payloads_served": len(feed.served), "collected": collected, "failed_collections": failed}


def _collect(collect, settings, inbox: Path, folder: Path, when: datetime, source: str, channel: str,
             payloads: list[Recorded]) -> dict:
    outcome = {"at": when.isoformat(), "source": source, "channel": channel, "files": [p.file for p in payloads]}
    try:
        if channel == "feed":
            result = collect.collect_live(source, settings=settings, now=when)
        else:
            target = inbox / source
            target.mkdir(parents=True, exist_ok=True)
            for payload in payloads:  # the file arrives, dated when it was fetched
                copy = target / Path(payload.file).name
                shutil.copyfile(folder / payload.file, copy)
                os.utime(copy, (when.timestamp(), when.timestamp()))
            result = collect.collect_inbox(source, settings=settings, now=when)
    except Exception as error:  # noqa: BLE001 - a failed collection is the scheduler's failed task: noted, and on
        return {**outcome, "error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"}
    return {**outcome, "payloads": len(result.get("payloads", [])), "days": result.get("days", [])}


def main(argv: list[str] | None = None) -> int:
    """Serve a replay folder's feeds on envmon's clock until interrupted (for a deployment)."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m pipelines.sources.replay", description=main.__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with ReplayFeed(args.folder, read_manifest(args.folder), port=args.port) as feed:
        for key, value in feed.environment().items():
            print(f"{key}={value}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
