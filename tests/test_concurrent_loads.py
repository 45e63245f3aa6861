"""Parallel ingests of one (source, day) partition, as hourly collection with parallel workers
does: OS processes ingest different payloads of the same source and day at once, and afterwards
every observation of every payload is stored, none failed, and the day's rollups and assessments
are there once. The processes meet at a barrier just before each stores its payload (the one
transaction that merges its partitions) and before each recomputes the day, so the
read-modify-writes really overlap. tests/test_faults.py does the same with `envmon ingest`
processes."""
import multiprocessing
import traceback
from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from pipelines import nightly
from pipelines.reference import registry
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from pipelines.sources import files
from warehouse import db

SOURCE = "cnemc-air"
FIRST_DAY = date(2026, 3, 15)
ROUNDS = 3
WORKERS = 2
STATIONS = 4  # of the registry's air stations: enough rows to overlap, few enough to stay quick
BARRIER_TIMEOUT = 120  # generous: only a worker that has stopped makes the others wait this long
HEADER = "timepoint,stationcode,positionname,primarypollutant,aqi,pm10,pm2_5,o3,no2,so2,co"


def _payload(day: date, hours) -> bytes:
    """An hourly CNEMC air CSV of some registry air stations at `hours` of the bureau's `day`:
    hour h is the mean of h-1 to h, so hour 24 is 00:00 of the next day (still this partition).
    Hourly columns only, so every observation belongs to `day`."""
    lines = [HEADER]
    for hour in hours:
        stamp = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)
        for n, station in enumerate(registry.air_stations().index[:STATIONS]):
            wobble = (hour + n) % 5
            lines.append(f"{stamp:%Y-%m-%dT%H%M},{station},,,,{50 + wobble},{30 + wobble},{60 + wobble},"
                         f"{20 + wobble},{6 + wobble % 2},{0.7 + wobble / 10:.1f}")
    return ("\n".join(lines) + "\n").encode()


def _rounds() -> list[list[tuple[str, bytes]]]:
    """Per round a fresh day, its 24 hours split between the workers."""
    rounds = []
    for r in range(ROUNDS):
        day = FIRST_DAY + timedelta(days=r)
        shares = [range(1 + w, 25, WORKERS) for w in range(WORKERS)]
        rounds.append([(f"{day}-part{w}.csv", _payload(day, hours)) for w, hours in enumerate(shares)])
    return rounds


def _worker(url: str, home: str, payloads: list[tuple[str, bytes]], barrier, results) -> None:
    """Ingest this worker's payload of each round; report each outcome (or the error) per round."""
    from pipelines.ingest import batches
    from pipelines.ingest.payloads import ingest_payload
    from warehouse import bulk

    settings = load_settings({"ENVMON_HOME": home, "ENVMON_WAREHOUSE_URL": url})
    merge, assess = bulk.store_batch, batches.assess_days  # the payload's one transaction; its days' recomputation

    def merge_together(*args, **kwargs):
        barrier.wait(BARRIER_TIMEOUT)
        return merge(*args, **kwargs)

    def assess_together(*args, **kwargs):
        barrier.wait(BARRIER_TIMEOUT)
        return assess(*args, **kwargs)

    bulk.store_batch, batches.assess_days = merge_together, assess_together
    fetched = datetime(2026, 4, 1, tzinfo=BUREAU_TZ)
    for number, (name, payload) in enumerate(payloads):
        try:
            summary = ingest_payload(SOURCE, payload, name, fetched, settings)
            results.put((number, name, summary["sources"][SOURCE], None))
        except BaseException as error:  # noqa: BLE001 - reported to the test, which fails on it
            results.put((number, name, None, _described(error)))
            barrier.abort()  # the others must not wait for a worker that has stopped
            return


def _described(error: BaseException) -> str:
    """The error's first line and the innermost line of envmon's own code it came from."""
    own = [frame for frame in traceback.extract_tb(error.__traceback__) if "site-packages" not in frame.filename]
    where = f" (at {own[-1].filename}:{own[-1].lineno} in {own[-1].name})" if own else ""
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}{where}"


def _keys(frame) -> set:
    return set(zip(frame["station_id"], frame["parameter"], frame["averaging_period"],
                   pd.to_datetime(frame["observed_at"], utc=True)))


def _ingest_in_parallel(url: str, home) -> None:
    settings = load_settings({"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url})
    nightly.prepare_warehouse(settings)  # migrating is not part of this: a deployment migrates once
    rounds = _rounds()
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(WORKERS), context.Queue()
    workers = [context.Process(target=_worker, args=(url, str(home), [r[w] for r in rounds], barrier, results))
               for w in range(WORKERS)]
    for worker in workers:
        worker.start()
    outcomes, running = [], WORKERS
    try:  # each worker reports every round, or its rounds up to the one that failed
        while running:
            outcomes.append(results.get(timeout=BARRIER_TIMEOUT * 2))
            running -= outcomes[-1][3] is not None or outcomes[-1][0] == ROUNDS - 1
    finally:
        for worker in workers:
            worker.join(timeout=BARRIER_TIMEOUT)
            if worker.is_alive():
                worker.kill()
    errors = sorted((f"round {n} {name}: {error}" for n, name, _, error in outcomes if error is not None),
                    key=lambda e: "BrokenBarrierError" in e)  # the cause first, then the workers it stopped
    assert not errors, "\n".join(errors)
    assert len(outcomes) == WORKERS * ROUNDS

    engine = db.engine_for(url)
    for number, payloads in enumerate(rounds):
        day = FIRST_DAY + timedelta(days=number)
        expected = set()
        for name, payload in payloads:
            parsed = files.parse_payload(SOURCE, payload, name, datetime(2026, 4, 1, tzinfo=BUREAU_TZ))
            expected |= _keys(parsed.observations)
        summaries = [s for n, _, s, _ in outcomes if n == number]
        assert sum(s["loaded"] for s in summaries) == len(expected)
        assert sum(s["quarantined"] for s in summaries) == 0
        stored = db.observations_for_partition(engine, SOURCE, day)
        assert len(stored) == len(expected), f"{day}: {len(expected) - len(stored)} observations lost"
        assert _keys(stored) == expected
        logged = [row for row in db.partition_log_for_days(engine, [day]) if row["source"] == SOURCE]
        assert [row["rows_loaded"] for row in logged] == [len(expected)]
        pairs = {(station, parameter) for station, parameter, _, _ in expected}
        rolled = db.rollups_for(engine, "day", day)
        assert not rolled.duplicated(subset=["station_id", "parameter", "averaging_period"]).any()
        assert set(zip(rolled["station_id"], rolled["parameter"])) == pairs
        # the day's rollups count every stored observation of both payloads
        usable = stored[stored["qc_flag"].isin(["good", "not_evaluated"]) & stored["value"].notna()]
        per_pair = usable.groupby(["station_id", "parameter"]).size()
        counted = rolled.set_index(["station_id", "parameter"])["values_assessable"]
        assert counted.reindex(per_pair.index).fillna(0).astype(int).to_dict() == per_pair.to_dict()
        air = [a for a in db.assessments_for_day(engine, day) if a["domain"] == "air"]
        assessed = [a["station_id"] for a in air]
        assert len(assessed) == len(set(assessed)) and {station for station, _ in pairs} <= set(assessed)
    newest = datetime.combine(FIRST_DAY + timedelta(days=ROUNDS), datetime.min.time(), BUREAU_TZ)
    assert db.watermark(engine, SOURCE) == newest  # the newest hour of all, whichever payload came last


def test_parallel_ingests_of_one_partition_on_postgresql(postgres_url, tmp_path):
    _ingest_in_parallel(postgres_url, tmp_path)


def test_parallel_ingests_of_one_partition_on_sqlite(tmp_path):
    _ingest_in_parallel(f"sqlite:///{tmp_path / 'warehouse.db'}", tmp_path)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_months_assessment_waits_for_the_one_under_way(backend, tmp_path, request):
    """nightly.assess reads a day and writes its month afterwards: a second computation in the same
    month must wait for the first (db.day_lock), or it may write from a read that missed a payload."""
    import threading

    url = f"sqlite:///{tmp_path / 'warehouse.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = db.engine_for(url)
    db.migrate(engine)
    order, first_holds, release = [], threading.Event(), threading.Event()

    def first():
        with db.day_lock(engine, "assess", date(2026, 4, 1)):
            order.append("first acquired")
            first_holds.set()
            release.wait(30)
            order.append("first released")

    def second():
        first_holds.wait(30)
        with db.day_lock(engine, "assess", date(2026, 4, 1)):
            order.append("second acquired")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_holds.wait(30)
    threads[1].join(1.0)  # the second is blocked while the first holds the month
    assert threads[1].is_alive() and order == ["first acquired"]
    release.set()
    for thread in threads:
        thread.join(30)
    assert order == ["first acquired", "first released", "second acquired"]
