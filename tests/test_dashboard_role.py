"""The read-only role for the dashboards: deploy/postgres-init/01-envmon.sh run against the real
PostgreSQL (under names of its own), then the warehouse migrated and loaded by the owner and read,
but never written, by the dashboard role."""
import os
import shutil
import subprocess
import uuid
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from pipelines import nightly
from pipelines.config import load_settings
from tests.conftest import postgres_server_url

INIT_SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "postgres-init" / "01-envmon.sh"
DAY = date(2026, 11, 20)


@pytest.fixture
def deployed_database():
    """The init script's database and roles, dropped afterwards."""
    assert shutil.which("psql"), "the init script needs the psql client"
    server_url = postgres_server_url()
    server = make_url(server_url)
    suffix = uuid.uuid4().hex[:8]
    names = {"ENVMON_DB_NAME": f"envmon_{suffix}", "ENVMON_DB_USER": f"envmon_owner_{suffix}",
             "ENVMON_DASHBOARD_DB_USER": f"envmon_dashboard_{suffix}"}
    environment = {**os.environ, **names, "POSTGRES_USER": server.username, "POSTGRES_DB": server.database,
                   "PGHOST": server.host, "PGPORT": str(server.port or 5432), "ENVMON_DB_PASSWORD": "owner-secret",
                   "ENVMON_DASHBOARD_DB_PASSWORD": "reader-secret"}
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        result = subprocess.run(["bash", str(INIT_SCRIPT)], env=environment, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        base = server.set(username=None, database=names["ENVMON_DB_NAME"])
        yield (base.set(username=names["ENVMON_DB_USER"]).render_as_string(hide_password=False),
               base.set(username=names["ENVMON_DASHBOARD_DB_USER"]).render_as_string(hide_password=False))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{names["ENVMON_DB_NAME"]}" WITH (FORCE)'))
            for role in (names["ENVMON_DASHBOARD_DB_USER"], names["ENVMON_DB_USER"]):
                connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_the_dashboard_role_reads_every_table_and_writes_none(deployed_database, tmp_path, monkeypatch):
    owner_url, reader_url = deployed_database
    settings = load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_WAREHOUSE_URL": owner_url,
                              "ENVMON_DASHBOARD_WAREHOUSE_URL": reader_url})
    nightly.prepare_warehouse(settings)
    for source in ("simulated-coastal",):
        nightly.ingest(source, DAY, settings)
        nightly.validate(source, DAY, settings)
        nightly.load(source, DAY, settings)
    nightly.assess(DAY, settings)
    owner = create_engine(owner_url)
    with owner.connect() as connection:  # every table the owner has, partitions included
        tables = connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars().all()
    owner.dispose()
    assert {"observations", "observations_y2026m11", "rollups", "assessments", "alerts", "stations"} <= set(tables)
    reader = create_engine(reader_url)
    try:
        with reader.connect() as connection:
            # each of them readable, the monthly partition the owner created after the grants too
            counts = {table: connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar() for table in tables}
            assert counts["observations"] > 0 and counts["observations_y2026m11"] > 0 and counts["rollups"] > 0
        for statement in ("DELETE FROM observations", "UPDATE assessments SET status = 'x'",
                          "INSERT INTO alerts (alert_key) VALUES ('x')", "DROP TABLE rollups",
                          "CREATE TABLE intruder (x int)"):
            with reader.connect() as connection, pytest.raises(ProgrammingError, match="permission denied|must be owner"):
                connection.execute(text(statement))
    finally:
        reader.dispose()
    # the nightly dashboard step reads through the read-only URL
    from dashboards import report
    users = []
    original = report.write_report
    monkeypatch.setattr(report, "write_report", lambda engine, *a, **k: users.append(engine.url.username)
                        or original(engine, *a, **k))
    written = nightly.refresh_dashboard(settings)
    assert users == [make_url(reader_url).username]
    assert "模拟数据" in Path(written["dashboard"]).read_text(encoding="utf-8")  # the page, in Chinese, says simulated
