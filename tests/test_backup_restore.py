"""The restore drill (issue 25): a populated warehouse, payload archive, issued bulletin and users
file are backed up with `envmon backup`, restored with `envmon restore` into a fresh database and a
fresh folder, and found equal there: every table's rows, the assessments and observations as
exported, each archived payload's sha256, each document's, the users file; then envmon works on the
restored copy (exports, re-ingesting a payload from the restored archive). On the real PostgreSQL
(a database of the test's own, dropped after) and on the embedded SQLite."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.conftest import FIXTURES, postgres_server_url

ENVMON = str(Path(sys.executable).parent / "envmon")
PASSWORD = "Restore-drill-2027-Beibu!"
EXPORTED = ("assessments", "observations", "quarantine", "published", "rollups")


def envmon(env: dict, *args, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([ENVMON, *args], capture_output=True, text=True, input=stdin, timeout=300,
                            env={**os.environ, **env})
    if check:
        assert result.returncode == 0, f"envmon {' '.join(args)}: {result.stderr[-3000:]}"
    return result


@pytest.fixture
def new_database():
    """new_database() -> the URL of an empty PostgreSQL database of this test's own, dropped after."""
    server = make_url(postgres_server_url())
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    made = []

    def create() -> str:
        name = f"envmon_drill_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    yield create
    with admin.connect() as connection:
        for name in made:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _environment(home: Path, url: str) -> dict:
    return {"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url,
            "ENVMON_DASHBOARD_USERS": str(home / "users" / "dashboard-users.json")}


PAYLOADS = {"cnemc-water": "cnemc-water-publish.json", "cnemc-air": "cnemc-air-hourly.csv"}
FETCHED_AT = "2027-01-01T02:00:00+08:00"  # when the fixtures were fetched (tests/conftest.py SUITE_NOW)


def _populate(env: dict, sources, formats) -> None:
    """Real payloads (archived as received), their days assessed, the month's bulletin issued, and a
    dashboard user."""
    for source in sources:
        envmon(env, "ingest", "--source", source, "--file", str(FIXTURES / PAYLOADS[source]),
               "--fetched-at", FETCHED_AT)
    envmon(env, "bulletin", "--month", "2026-12", *[f"--format={fmt}" for fmt in formats])
    envmon(env, "users", "add", "drill-regional", "--role", "regional", "--bureau", "gx-dept", "--password-stdin",
           stdin=PASSWORD + "\n")


def _files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _state(env: dict) -> dict:
    """What must survive: the rows of every table, the exports people read, the archive's and the
    documents' files by sha256, the users file."""
    from pipelines.cli.exports import export_frame
    from warehouse import backup_store

    engine = create_engine(env["ENVMON_WAREHOUSE_URL"], poolclass=NullPool)
    with engine.connect() as connection:
        counts = backup_store.table_counts(connection)
    exports = {table: export_frame(engine, table).to_csv(index=False) for table in EXPORTED}  # `envmon export`'s
    engine.dispose()
    home = Path(env["ENVMON_HOME"])
    return {"counts": counts, "exports": exports,
            "archive": _files(home / "archive"), "documents": _files(home / "reports"),
            "users": Path(env["ENVMON_DASHBOARD_USERS"]).read_bytes()}


def _drill(tmp_path: Path, source_url: str, target_url: str, sources, formats) -> tuple[dict, dict, dict]:
    source = _environment(tmp_path / "home", source_url)
    _populate(source, sources, formats)
    before = _state(source)
    backup = tmp_path / "backups" / "drill"
    envmon(source, "backup", str(backup))
    target = _environment(tmp_path / "restored-home", target_url)
    restored = json.loads(envmon(target, "restore", str(backup), "--json").stdout)
    return before, _state(target), {"source": source, "target": target, "backup": backup, "summary": restored}


def _assert_equal(before: dict, after: dict, payloads: int, suffixes: set) -> None:
    assert after["counts"] == before["counts"]
    assert before["counts"]["observations"] > 0 and before["counts"]["assessments"] > 0
    assert before["counts"]["payloads"] == payloads
    for table in EXPORTED:
        assert after["exports"][table] == before["exports"][table], table
    assert len(before["exports"]["assessments"].splitlines()) > 10
    assert after["archive"] == before["archive"] and len(before["archive"]) == payloads
    assert after["documents"] == before["documents"]
    assert {Path(name).suffix for name in before["documents"]} >= suffixes | {".json"}  # and the manifest
    assert after["users"] == before["users"] and b"drill-regional" in after["users"]


@pytest.mark.postgres
def test_a_postgresql_warehouse_restores_into_a_fresh_database_and_folder_equal(tmp_path, new_database):
    before, after, drill = _drill(tmp_path, new_database(), new_database(), PAYLOADS, ("html", "xlsx"))
    _assert_equal(before, after, payloads=2, suffixes={".html", ".xlsx"})
    manifest = json.loads((drill["backup"] / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["warehouse"]["file"] == "warehouse.dump" and manifest["counts"] == before["counts"]
    assert (drill["backup"] / "warehouse.dump").read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    # the old machine is lost; the restored copy works: a payload is re-ingested from the restored
    # archive (the payload log names storage keys, relative to the storage: nothing to move), and exported
    shutil.rmtree(tmp_path / "home")
    target = drill["target"]
    assert drill["summary"]["archive_paths_moved"] == 0
    again = json.loads(envmon(target, "ingest", "--payload-id", "1", "--json").stdout.strip().splitlines()[-1])
    assert sum(entry["read"] for entry in again["sources"].values()) > 0
    assert envmon(target, "export", "assessments").stdout == before["exports"]["assessments"]


def test_a_sqlite_warehouse_restores_into_a_fresh_folder_equal(tmp_path):
    before, after, drill = _drill(tmp_path, f"sqlite:///{tmp_path / 'home' / 'warehouse.db'}",
                                  f"sqlite:///{tmp_path / 'restored-home' / 'warehouse.db'}", ["cnemc-air"], ["html"])
    _assert_equal(before, after, payloads=1, suffixes={".html"})
    assert (drill["backup"] / "warehouse.sqlite").read_bytes()[:16] == b"SQLite format 3\x00"
    target = drill["target"]
    # a second restore onto the restored copy is refused, naming what is there, unless forced
    refused = envmon(target, "restore", str(drill["backup"]), check=False)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "not empty" in refused.stderr and "--force" in refused.stderr
    envmon(target, "restore", str(drill["backup"]), "--force")
    assert _state(target) == after
    # the dashboard app on the restored copy: healthy, and the restored user signs in and reads a page
    from dashboards.app import create_app
    from tests.dashboard_app_fixture import sign_in

    app = create_app(target["ENVMON_WAREHOUSE_URL"], Path(target["ENVMON_DASHBOARD_USERS"]),
                     Path(target["ENVMON_HOME"]), secret_key="test", cache_seconds=0)
    client = app.server.test_client()
    assert client.get("/healthz").get_data(as_text=True) == "ok"
    assert sign_in(client, "drill-regional", PASSWORD).status_code == 302
    assert client.get("/").status_code == 200


def test_a_backup_with_one_byte_changed_is_refused_with_one_line_and_nothing_restored(tmp_path):
    from pipelines.config import load_settings
    from pipelines.operations import backup
    from warehouse import db

    source = load_settings({"ENVMON_HOME": str(tmp_path / "home")})
    db.migrate(db.engine_for(source.warehouse_url))
    (tmp_path / "home" / "archive" / "cnemc-water").mkdir(parents=True)
    (tmp_path / "home" / "archive" / "cnemc-water" / "snapshot.json").write_bytes(b'{"rows": []}')
    backup.backup(tmp_path / "backup", source, users_path=tmp_path / "no-users.json")
    damaged = tmp_path / "backup" / "warehouse.sqlite"
    content = bytearray(damaged.read_bytes())
    content[len(content) // 2] ^= 0x01
    damaged.write_bytes(bytes(content))
    target = _environment(tmp_path / "restored-home", f"sqlite:///{tmp_path / 'restored-home' / 'warehouse.db'}")
    result = envmon(target, "restore", str(tmp_path / "backup"), check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"envmon: the backup {tmp_path / 'backup'} is damaged: warehouse.sqlite does not match the sha256 its "
        "manifest.json records; nothing was restored"]
    assert not (tmp_path / "restored-home" / "archive").exists()
    engine = create_engine(target["ENVMON_WAREHOUSE_URL"], poolclass=NullPool)
    with engine.connect() as connection:
        from warehouse import backup_store

        assert backup_store.table_names(connection) == []
    engine.dispose()


def test_a_backup_of_an_older_schema_is_migrated_to_the_newest_revision_on_restore(tmp_path):
    from pipelines.config import load_settings
    from pipelines.operations import backup
    from warehouse import backup_store, db

    revisions = backup_store.known_revisions()
    older = revisions[-3]
    source = load_settings({"ENVMON_HOME": str(tmp_path / "home")})
    db.migrate(db.engine_for(source.warehouse_url), older)
    made = backup.backup(tmp_path / "backup", source, users_path=tmp_path / "no-users.json")
    assert made["alembic_revision"] == older and "warehouse.sqlite" in made["files"]
    target = load_settings({"ENVMON_HOME": str(tmp_path / "restored")})
    summary = backup.restore(tmp_path / "backup", target, users_path=tmp_path / "restored-users.json")
    assert (summary["revision_of_backup"], summary["revision"]) == (older, revisions[-1])
    # the tables the newer migrations add are there: taken from the database, not listed by hand
    assert set(backup_store.counts_and_revision(target.warehouse_url)[0]) > set(made["counts"])


def test_a_backup_goes_to_a_new_folder_only(tmp_path):
    from pipelines.config import load_settings
    from pipelines.operations import backup

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "something").write_text("kept")
    with pytest.raises(backup.BackupError, match="is not an empty folder"):
        backup.backup(tmp_path / "taken", load_settings({"ENVMON_HOME": str(tmp_path / "home")}))
    assert (tmp_path / "taken" / "something").read_text() == "kept"


def test_the_scheduled_backup_keeps_the_newest_and_clears_what_a_crash_left(tmp_path, set_clock):
    from datetime import datetime, timedelta

    from pipelines import clock
    from pipelines.config import load_settings
    from pipelines.operations import backup
    from warehouse import db

    settings = load_settings({"ENVMON_HOME": str(tmp_path / "home")})
    db.migrate(db.engine_for(settings.warehouse_url))
    root = tmp_path / "backups"
    (root / ".envmon-backup-20270101T030000+0800.partial").mkdir(parents=True)
    first = datetime(2027, 1, 2, 3, 30, tzinfo=clock.BUREAU_TZ)
    made = []
    for day in range(3):
        set_clock(first + timedelta(days=day))
        made.append(backup.scheduled_backup(root, keep=2, settings=settings, users_path=tmp_path / "none.json"))
    assert sorted(p.name for p in root.iterdir()) == ["envmon-backup-20270103T033000+0800",
                                                      "envmon-backup-20270104T033000+0800"]
    assert made[-1]["removed"] == ["envmon-backup-20270102T033000+0800"]


def test_the_backup_dag_runs_daily_at_five_where_a_backup_folder_is_set(monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    from pipelines.runner import DAGS_FOLDER
    from warehouse import db

    monkeypatch.delenv("ENVMON_BACKUP_DIR", raising=False)
    assert DagBag(dag_folder=str(DAGS_FOLDER / "envmon_backup.py")).dags == {}
    monkeypatch.setenv("ENVMON_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("ENVMON_BACKUP_KEEP", "3")
    monkeypatch.setenv("ENVMON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ENVMON_DASHBOARD_USERS", str(tmp_path / "none.json"))
    monkeypatch.delenv("ENVMON_WAREHOUSE_URL", raising=False)
    bag = DagBag(dag_folder=str(DAGS_FOLDER / "envmon_backup.py"))
    assert bag.import_errors == {}
    dag = bag.dags["envmon_backup"]
    assert dag.timetable.expression == "0 5 * * *" and dag.catchup is False and dag.max_active_runs == 1
    (task,) = dag.tasks
    assert task.owner == "envmon" and task.on_failure_callback
    db.migrate(db.engine_for(f"sqlite:///{tmp_path / 'home' / 'warehouse.db'}"))
    made = task.python_callable()  # what the worker runs: a backup in the folder, the manifest in it
    assert Path(made["path"]).parent == tmp_path / "backups" and (Path(made["path"]) / "manifest.json").exists()


@pytest.mark.postgres
def test_the_postgres_init_gives_airflow_a_database_and_a_role_of_its_own():
    """deploy/postgres-init/00-airflow.sh, run as the postgres service's first start runs it: Airflow's
    metadata in a database that its own role owns, a role that is no superuser."""
    script = Path(__file__).resolve().parents[1] / "deploy" / "postgres-init" / "00-airflow.sh"
    server = make_url(postgres_server_url())
    suffix = uuid.uuid4().hex[:8]
    names = {"AIRFLOW_DB_NAME": f"airflow_{suffix}", "AIRFLOW_DB_USER": f"airflow_owner_{suffix}"}
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        result = subprocess.run(["bash", str(script)], capture_output=True, text=True, env={
            **os.environ, **names, "POSTGRES_USER": server.username, "POSTGRES_DB": server.database,
            "PGHOST": server.host, "PGPORT": str(server.port or 5432), "AIRFLOW_DB_PASSWORD": "metadata-secret"})
        assert result.returncode == 0, result.stderr
        with admin.connect() as connection:
            owner = connection.execute(text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :name"),
                                       {"name": names["AIRFLOW_DB_NAME"]}).scalar_one()
            superuser = connection.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :name"),
                                           {"name": names["AIRFLOW_DB_USER"]}).scalar_one()
        assert (owner, superuser) == (names["AIRFLOW_DB_USER"], False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{names["AIRFLOW_DB_NAME"]}" WITH (FORCE)'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{names["AIRFLOW_DB_USER"]}"'))
        admin.dispose()
