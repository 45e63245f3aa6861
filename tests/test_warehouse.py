from datetime import date, datetime, timezone

import pandas as pd
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, func, insert, select, text

from pipelines.observations import with_partition_day
from pipelines.sources import simulator
from pipelines.quality.validation import validate
from warehouse import db, schema

DAY = date(2026, 11, 20)


def _engine(url):
    engine = create_engine(url)
    db.migrate(engine)
    return engine


def _batch(day=DAY):
    outcome = validate(simulator.simulate_coastal(day, 1), "coastal")
    good = with_partition_day(outcome.good)
    log = {"source": "simulated-coastal", "partition_day": day, "domain": "coastal", "batch_id": good["batch_id"][0],
           "rows_read": len(good), "rows_loaded": len(good), "rows_quarantined": 0, "suite_name": outcome.suite_name,
           "loaded_at": datetime.now(timezone.utc)}
    return good, outcome.quarantined.assign(partition_day=day), log


def _schema_differences(engine):
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts={"include_name": schema.include_name}),
                                schema.metadata)


def _snapshot(engine, table):
    with engine.connect() as connection:
        return sorted(map(tuple, connection.execute(select(table)).all()), key=repr)


def test_migrations_create_exactly_the_declared_schema(warehouse_url):
    assert _schema_differences(_engine(warehouse_url)) == []


def test_loading_a_partition_twice_changes_nothing(warehouse_url):
    engine = _engine(warehouse_url)
    good, held, log = _batch()
    assert db.load_partition(engine, "simulated-coastal", DAY, good, held, log) is True
    before = _snapshot(engine, schema.observations), _snapshot(engine, schema.partition_log)
    assert db.load_partition(engine, "simulated-coastal", DAY, good, held, {**log, "loaded_at": datetime.now(timezone.utc)}) is False
    assert (_snapshot(engine, schema.observations), _snapshot(engine, schema.partition_log)) == before


def test_a_changed_partition_replaces_the_old_rows(warehouse_url):
    engine = _engine(warehouse_url)
    good, held, log = _batch()
    db.load_partition(engine, "simulated-coastal", DAY, good, held, log)
    smaller = good.iloc[:-8]
    assert db.load_partition(engine, "simulated-coastal", DAY, smaller, held, {**log, "rows_loaded": len(smaller)})
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(schema.observations)).scalar()
    assert count == len(smaller)


def test_times_come_back_as_the_same_utc_instants(warehouse_url):
    engine = _engine(warehouse_url)
    good, held, log = _batch()
    db.load_partition(engine, "simulated-coastal", DAY, good, held, log)
    stored = db.observations_for_day(engine, DAY)
    assert set(pd.to_datetime(stored["observed_at"], utc=True)) == set(good["observed_at"])
    assert all(t.tzinfo is not None for t in stored["observed_at"])


def test_reference_tables_are_synchronised_from_the_registry(warehouse_url):
    engine = _engine(warehouse_url)
    from pipelines.reference import registry, standards
    with engine.begin() as connection:
        db.sync_reference_tables(connection, registry.all_stations(), standards.parameters())
    stations = db.read_table(engine, "stations")
    assert len(stations) == len(registry.sections()) + len(registry.air_stations())
    assert stations.set_index("station_id").loc["jiuzhou-wenchequiao", "name_zh"] == "鼠岭(文车桥)"


def _load_day(engine, day):
    good, held, log = _batch(day)
    db.load_partition(engine, "simulated-coastal", day, good, held, log)
    return len(good)


def test_postgres_observations_are_partitioned_by_month(postgres_url):
    engine = _engine(postgres_url)
    november = _load_day(engine, DAY)
    december = _load_day(engine, date(2026, 12, 1))
    with engine.connect() as connection:
        kind = connection.execute(text("SELECT relkind FROM pg_class WHERE oid = 'observations'::regclass")).scalar()
        partitions = dict(connection.execute(text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'observations'::regclass")).all())
        counts = {name: connection.execute(text(f"SELECT count(*) FROM ONLY {name}")).scalar() for name in partitions}
    assert kind == "p"
    assert partitions == {"observations_y2026m11": "FOR VALUES FROM ('2026-11-01') TO ('2026-12-01')",
                          "observations_y2026m12": "FOR VALUES FROM ('2026-12-01') TO ('2027-01-01')"}
    assert counts == {"observations_y2026m11": november, "observations_y2026m12": december}


def test_a_reload_of_a_partitioned_day_upserts_in_place(postgres_url):
    engine = _engine(postgres_url)
    good, held, log = _batch()
    db.load_partition(engine, "simulated-coastal", DAY, good, held, log)
    revised = good.copy()
    revised.loc[0, "value"] = revised.loc[0, "value"] + 1
    assert db.load_partition(engine, "simulated-coastal", DAY, revised, held, log) is True
    stored = db.observations_for_partition(engine, "simulated-coastal", DAY)
    key = {k: revised.loc[0, k] for k in ("station_id", "parameter", "layer")}
    row = stored[(stored[list(key)] == pd.Series(key)).all(axis=1)
                 & (pd.to_datetime(stored["observed_at"], utc=True) == revised.loc[0, "observed_at"])]
    assert row["value"].tolist() == [revised.loc[0, "value"]]
    assert len(stored) == len(good)


def test_migration_to_the_partitioned_table_keeps_every_observation(warehouse_url):
    from sqlalchemy import MetaData, Table, inspect

    engine = create_engine(warehouse_url)
    db.migrate(engine, "0005")
    # the columns release 0005 had, as the database at 0005 has them (later migrations, 0019's
    # stewardship among them, add their own), with the types the schema gives them
    at_0005 = {c["name"] for c in inspect(engine).get_columns("observations")}
    table = Table("observations", MetaData(), *(c._copy() for c in schema.observations.c if c.name in at_0005))
    assert {"station_id", "parameter", "value", "qc_flag"} <= at_0005 and len(table.c) == len(at_0005)
    rows = []
    for day in (DAY, date(2026, 12, 1)):  # written as release 0005 did: one plain table
        good = _batch(day)[0]
        rows += db.records(good.assign(source="simulated-coastal"), [c.name for c in table.c])
    with engine.begin() as connection:
        connection.execute(insert(table), rows)
    loaded = len(rows)
    before = _snapshot(engine, table)
    db.migrate(engine)
    assert len(before) == loaded
    assert _snapshot(engine, table) == before
    assert _schema_differences(engine) == []


def test_two_sources_loading_a_new_month_at_once_both_land(postgres_url):
    from concurrent.futures import ThreadPoolExecutor
    engine = _engine(postgres_url)
    good, held, log = _batch()
    sources = ["simulated-coastal", "coastal"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda source: db.load_partition(engine, source, DAY, good, held, {**log, "source": source}),
                                sources))
    assert results == [True, True]
    for source in sources:
        assert len(db.observations_for_partition(engine, source, DAY)) == len(good)
