"""The warehouse's side of a backup and a restore (pipelines/operations/backup.py): a consistent
copy of the database in a file, and that file put back into an empty database.

PostgreSQL: `pg_dump --format=custom` by the pg_dump of the server's major version, run inside an
exported snapshot, so the counts the manifest records are those of the dump to the row; put back
by pg_restore in one transaction. The embedded SQLite: the sqlite3 online backup API, page by
page under SQLite's own locking (a file copy of a live database can catch a half-written page or
miss the WAL). The tables are taken from the database itself, never listed here, so a table a later
migration adds is in every backup."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from warehouse import db

DUMP_FILES = {"postgresql": "warehouse.dump", "sqlite": "warehouse.sqlite"}
PG_TOOL_SECONDS = 6 * 3600  # a dump or restore still running after this is stuck, not slow
POSTGRES_BINARIES = Path("/usr/lib/postgresql")  # Debian's and the PGDG packages' /usr/lib/postgresql/<major>/bin


class BackupStoreError(RuntimeError):
    """The database could not be copied or put back: the message is the one line to show."""


def table_names(connection: Connection) -> list[str]:
    """Every table of the warehouse's schema, as the database lists them. A PostgreSQL partition is
    counted in its partitioned table (observations), not again on its own."""
    names = set(inspect(connection).get_table_names())
    if connection.dialect.name == "postgresql":
        names -= set(connection.execute(text(
            "SELECT relname FROM pg_class WHERE relispartition AND relnamespace = current_schema()::regnamespace"
        )).scalars())
    return sorted(names)


def table_counts(connection: Connection) -> dict[str, int]:
    preparer = connection.dialect.identifier_preparer
    return {name: int(connection.execute(text(f"SELECT count(*) FROM {preparer.quote(name)}")).scalar_one())
            for name in table_names(connection)}


def revision(connection: Connection) -> str | None:
    """The Alembic revision the schema is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def known_revisions() -> list[str]:
    """This envmon's migrations, oldest first."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config(str(db.ALEMBIC_INI))
    config.set_main_option("script_location", str(db.ALEMBIC_INI.parent / "migrations"))
    return [script.revision for script in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))]


def has_tables(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(table_names(connection))


def drop_every_table(engine: Engine) -> None:
    """Empty the target of a forced restore: every table the database lists, whatever made it."""
    with engine.begin() as connection:
        preparer = connection.dialect.identifier_preparer
        cascade = " CASCADE" if connection.dialect.name == "postgresql" else ""
        for name in table_names(connection):
            connection.execute(text(f"DROP TABLE IF EXISTS {preparer.quote(name)}{cascade}"))


def relocate_archive_paths(engine: Engine, old_root: str, new_root: str) -> int:
    """The payload log keeps each archived payload's absolute path: restored under another
    ENVMON_HOME, the paths are moved to the new archive folder, or --payload-id and --resume
    would look for the old machine's files."""
    old_prefix, new_prefix = old_root.rstrip("/") + "/", new_root.rstrip("/") + "/"
    if old_prefix == new_prefix:
        return 0
    with engine.begin() as connection:
        result = connection.execute(
            text("UPDATE payloads SET archive_path = :new || substr(archive_path, :tail) "
                 "WHERE substr(archive_path, 1, :length) = :old"),
            {"new": new_prefix, "old": old_prefix, "tail": len(old_prefix) + 1, "length": len(old_prefix)})
        return result.rowcount


# --- PostgreSQL -----------------------------------------------------------------------------------

def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The SQLAlchemy URL as a libpq URI for pg_dump/pg_restore, its password handed in the
    environment (PGPASSWORD) rather than on a command line any user can read in ps."""
    parsed = make_url(url)
    environment = dict(os.environ)
    if parsed.password:
        environment["PGPASSWORD"] = parsed.password
    return parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False), environment


def server_major(connection: Connection) -> int:
    return int(connection.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def _tool_major(tool: Path) -> int | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        shown = subprocess.run([str(tool), "--version"], capture_output=True, text=True, timeout=30).stdout
        found = re.search(r"\)\s*(\d+)", shown)
        return int(found.group(1)) if found else None
    return None


def pg_tool(name: str, major: int) -> Path:
    """pg_dump or pg_restore of the server's major version where installed, else the oldest newer
    one (they read older servers, never newer), else the one on PATH if new enough."""
    own = POSTGRES_BINARIES / str(major) / "bin" / name
    if own.exists():
        return own
    newer = sorted((int(p.parent.parent.name), p) for p in POSTGRES_BINARIES.glob(f"*/bin/{name}")
                   if p.parent.parent.name.isdigit() and int(p.parent.parent.name) > major)
    if newer:
        return newer[0][1]
    on_path = shutil.which(name)
    found = _tool_major(Path(on_path)) if on_path else None
    if on_path and found is not None and found >= major:
        return Path(on_path)
    shown = f"{name} {found}" if found else f"no {name}"
    raise BackupStoreError(f"the warehouse is PostgreSQL {major} and there is {shown} for it: install "
                           f"postgresql-client-{major} (Debian/PGDG) on this machine")


def _run(command: list[str], environment: dict[str, str], what: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=PG_TOOL_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BackupStoreError(f"{what} failed: {error}") from error
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        raise BackupStoreError(f"{what} failed: {errors[0] if errors else f'exit status {result.returncode}'}")


def _dump_postgres(engine: Engine, url: str, target: Path) -> dict:
    uri, environment = _libpq(url)
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            # the counts below and the dump read the same snapshot: what the manifest says is in the file is
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            major = server_major(connection)
            counts, at_revision = table_counts(connection), revision(connection)
            tool = pg_tool("pg_dump", major)
            _run([str(tool), "--format=custom", f"--snapshot={snapshot}", "--no-password", f"--file={target}",
                  f"--dbname={uri}"], environment, "pg_dump")
    return {"dialect": "postgresql", "server_major": major, "tool": f"{tool.name} {_tool_major(tool)}",
            "counts": counts, "revision": at_revision}


def _restore_postgres(engine: Engine, url: str, source: Path) -> None:
    uri, environment = _libpq(url)
    with engine.connect() as connection:
        major = server_major(connection)
    # objects are owned by the restoring role and take the target's grants (deploy/postgres-init's
    # default privileges give the dashboard's read-only role every table), not the old machine's roles
    _run([str(pg_tool("pg_restore", major)), "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction",
          "--no-password", f"--dbname={uri}", str(source)], environment, "pg_restore")


# --- SQLite ---------------------------------------------------------------------------------------

def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database)


def _dump_sqlite(url: str, target: Path) -> dict:
    source = sqlite3.connect(_sqlite_path(url), timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        copy.close()
        source.close()
    copied = create_engine(f"sqlite:///{target}", poolclass=NullPool)
    try:  # counted from the copy itself: exactly what the backup holds
        with copied.connect() as connection:
            counts, at_revision = table_counts(connection), revision(connection)
    finally:
        copied.dispose()
    return {"dialect": "sqlite", "tool": f"sqlite3 {sqlite3.sqlite_version} online backup",
            "counts": counts, "revision": at_revision}


def _restore_sqlite(url: str, source: Path) -> None:
    path = _sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = sqlite3.connect(source)
    target = sqlite3.connect(path, timeout=30)
    try:
        backup.backup(target)
    finally:
        target.close()
        backup.close()


# --- the two entry points -------------------------------------------------------------------------

def dialect_of(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in DUMP_FILES:
        raise BackupStoreError(f"backups know PostgreSQL and SQLite warehouses, not {name}")
    return name


def dump(url: str, folder: Path) -> dict:
    """Copy the warehouse into folder/DUMP_FILES[dialect]: the file name, the dialect, the tool,
    the counts per table and the Alembic revision, all of the one snapshot the file holds."""
    dialect = dialect_of(url)
    target = folder / DUMP_FILES[dialect]
    info = _dump_postgres(db.engine_for(url), url, target) if dialect == "postgresql" else _dump_sqlite(url, target)
    return {"file": target.name, **info}


def restore(url: str, source: Path, dialect: str) -> None:
    """Put a dump back into the (empty) warehouse at url."""
    if dialect_of(url) != dialect:
        raise BackupStoreError(f"the backup holds a {dialect} warehouse and ENVMON_WAREHOUSE_URL is "
                               f"{dialect_of(url)}: restore it into a {dialect} warehouse")
    if dialect == "postgresql":
        _restore_postgres(db.engine_for(url), url, source)
    else:
        _restore_sqlite(url, source)


def counts_and_revision(url: str) -> tuple[dict[str, int], str | None]:
    with db.engine_for(url).connect() as connection:
        return table_counts(connection), revision(connection)
