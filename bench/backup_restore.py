"""Times `envmon backup` and `envmon restore` (the functions they call) on a warehouse of N simulated
days, on PostgreSQL (a database made for the run on the test server, ENVMON_TEST_POSTGRES_URL or
127.0.0.1:5432, dropped after) and on the embedded SQLite: the figures of README "Operating: backup
and restore".

    .venv/bin/python bench/backup_restore.py --days 30 [--dialect postgresql|sqlite]

The warehouse is filled by pipelines.ingest.history.backfill (the same rows as N nightly runs) plus the
real fixture payloads (tests/fixtures), archived as received."""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SERVER = os.environ.get("ENVMON_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _database(admin, name: str) -> str:
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(SERVER).set(database=name).render_as_string(hide_password=False)


def _populate(settings, days: int) -> None:
    from pipelines.ingest import history
    from pipelines.ingest.payloads import ingest_payload

    last = date(2026, 12, 30)
    history.backfill(last - timedelta(days=days - 1), last, settings, workers=0)
    fetched = datetime(2027, 1, 1, tzinfo=timezone.utc)
    for source, name in (("cnemc-water", "cnemc-water-publish.json"), ("cnemc-air", "cnemc-air-hourly.csv")):
        ingest_payload(source, (FIXTURES / name).read_bytes(), name, fetched, settings)


def measure(dialect: str, days: int) -> dict:
    from pipelines.config import load_settings
    from pipelines.operations import backup

    folder = Path(tempfile.mkdtemp(prefix="envmon-bench-backup-"))
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    names = [f"envmon_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    try:
        urls = ([_database(admin, name) for name in names] if dialect == "postgresql" else
                [f"sqlite:///{folder / side / 'warehouse.db'}" for side in ("source", "target")])
        source = load_settings({"ENVMON_HOME": str(folder / "source"), "ENVMON_WAREHOUSE_URL": urls[0]})
        target = load_settings({"ENVMON_HOME": str(folder / "target"), "ENVMON_WAREHOUSE_URL": urls[1]})
        _populate(source, days)
        started = time.perf_counter()
        made = backup.backup(folder / "backup", source, users_path=folder / "no-users.json")
        backup_seconds = time.perf_counter() - started
        started = time.perf_counter()
        restored = backup.restore(folder / "backup", target, users_path=folder / "restored-users.json")
        restore_seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in (folder / "backup").rglob("*") if p.is_file())
        return {"dialect": dialect, "days": days, "rows": restored["rows"], "backup_bytes": size,
                "backup_seconds": round(backup_seconds, 1), "restore_seconds": round(restore_seconds, 1),
                "files": len(made["files"])}
    finally:
        if dialect == "postgresql":
            with admin.connect() as connection:
                for name in names:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--dialect", choices=("postgresql", "sqlite"), action="append")
    args = parser.parse_args()
    for dialect in args.dialect or ("postgresql", "sqlite"):
        print(measure(dialect, args.days), flush=True)


if __name__ == "__main__":
    main()
