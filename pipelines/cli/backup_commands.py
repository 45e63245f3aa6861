"""`envmon backup DEST` and `envmon restore SRC` (pipelines/operations/backup.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

COMMANDS = ("backup", "restore")


def add_parsers(commands) -> None:
    backup = commands.add_parser(
        "backup", help="back up the warehouse, the payload archive, the issued documents and the users file",
        description="Writes DEST (a new or empty folder): the warehouse (pg_dump --format=custom of the PostgreSQL "
                    "database by the server's own pg_dump, or the embedded SQLite through its online backup API), "
                    "ENVMON_HOME/archive, ENVMON_HOME/reports, the dashboard's users file and manifest.json (envmon's "
                    "version, the Alembic revision, the time, the rows of every table and every file's sha256).")
    backup.add_argument("destination", type=Path, metavar="DEST", help="the backup folder to write")
    backup.add_argument("--json", action="store_true", help="print the manifest (and path, seconds) as JSON")
    restore = commands.add_parser(
        "restore", help="restore a backup into the configured warehouse and ENVMON_HOME",
        description="Verifies every file of SRC against its manifest's sha256 first, then restores the warehouse "
                    "(ENVMON_WAREHOUSE_URL), the archive, the documents and the users file, checks the warehouse's "
                    "counts against the manifest and migrates it to this envmon's newest revision. A target that "
                    "holds data is refused unless --force.")
    restore.add_argument("source", type=Path, metavar="SRC", help="the backup folder")
    restore.add_argument("--force", action="store_true",
                         help="replace what the warehouse, ENVMON_HOME/archive, ENVMON_HOME/reports and the users "
                              "file hold now")
    restore.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(settings, args) -> int:
    from sqlalchemy.engine import make_url

    from pipelines.operations import backup
    from warehouse import backup_store, db

    db.check_reachable(settings.warehouse_url)
    try:
        summary = (backup.backup(args.destination, settings) if args.command == "backup"
                   else backup.restore(args.source, settings, force=args.force))
    except (backup.BackupError, backup_store.BackupStoreError) as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
        return 0
    if args.command == "backup":
        documents = sum(1 for name in summary["files"] if name.startswith("reports/"))
        payloads = sum(1 for name in summary["files"] if name.startswith("archive/"))
        users = "the users file" if backup.USERS in summary["files"] else "no users file"
        print(f"backup written to {summary['path']} in {summary['seconds']} s: the {summary['warehouse']['dialect']} "
              f"warehouse at revision {summary['alembic_revision']} ({len(summary['counts'])} tables, "
              f"{sum(summary['counts'].values())} rows), {payloads} archived payloads, {documents} document files, "
              f"{users}")
        return 0
    shown = make_url(settings.warehouse_url).render_as_string(hide_password=True)
    files = summary["files"]
    migrated = (f"migrated from {summary['revision_of_backup']} to {summary['revision']}"
                if summary["revision_of_backup"] != summary["revision"] else f"at revision {summary['revision']}")
    print(f"restored {summary['source']} (made {summary['created_at']} by envmon {summary['envmon_version']}) "
          f"into {shown} and {settings.home} in {summary['seconds']} s: {summary['tables']} tables, "
          f"{summary['rows']} rows, as the manifest counts them; {files['archive']} archived payloads, "
          f"{files['reports']} document files{', the users file' if files.get('users') else ''}; {migrated}")
    return 0
