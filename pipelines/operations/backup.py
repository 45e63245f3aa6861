"""`envmon backup DEST` and `envmon restore SRC`: everything a bureau cannot get again, in one folder.

A backup folder holds
  warehouse.dump | warehouse.sqlite   the warehouse (warehouse/backup_store.py: pg_dump --format=custom
                                      in one snapshot, or SQLite's online backup API)
  archive/                            the raw payloads as received (archive/ of the shared storage,
                                      pipelines/storage.py: ENVMON_STORAGE_URL, default ENVMON_HOME), gzip:
                                      the only copy of the CNEMC water snapshots, which the feed never serves again
  reports/                            the issued documents (reports/ of the shared storage), superseded issues too
  dashboard-users.json                the dashboard's users (ENVMON_DASHBOARD_USERS), if there is one
  manifest.json                       envmon's version, the Alembic revision, the time, the counts per
                                      table of the dump, and every file's sha256 and size

The warehouse is copied first: a payload is archived before it is logged (pipelines/ingest/archive.py), so
every payload the copy logs has its file in the archive copied after it. The folder is written under
a hidden .partial name and renamed when complete: a backup cut short never looks like one.

A restore verifies every file against the manifest before it touches anything, refuses a target
that holds data unless forced, puts the warehouse back, checks its counts against the manifest,
points the payload log at the new archive folder and migrates to this envmon's newest revision."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from importlib import metadata
from pathlib import Path

from pipelines import clock, storage
from pipelines.config import Settings
from warehouse import backup_store, db

FORMAT = 1
MANIFEST = "manifest.json"
USERS = "dashboard-users.json"
FOLDERS = ("archive", "reports")  # of the shared storage (pipelines/storage.py), copied whole
SCHEDULED_PREFIX = "envmon-backup-"
CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup or restore that cannot go on: the message is the one line to show."""


def _users_file() -> Path:
    from dashboards.app.users import users_file

    return users_file()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _entry(path: Path) -> dict:
    return {"sha256": _sha256(path), "bytes": path.stat().st_size}


def envmon_version() -> str:
    try:
        return metadata.version("envmon")
    except metadata.PackageNotFoundError:
        return "unknown"


# --- backup -----------------------------------------------------------------------------------------

def backup(destination: Path, settings: Settings, users_path: Path | None = None) -> dict:
    """Write a backup to `destination` (a new or empty folder); returns its manifest. The users file
    is ENVMON_DASHBOARD_USERS's unless `users_path` is given."""
    destination = Path(destination).absolute()
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise BackupError(f"{destination} is not an empty folder: a backup goes to a new one")
    started = time.monotonic()
    partial = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True, mode=0o700)  # the users file's password hashes are in it
    try:
        warehouse = backup_store.dump(settings.warehouse_url, partial)
        files = {warehouse["file"]: _entry(partial / warehouse["file"])}
        store = storage.of(settings)
        for folder in FOLDERS:
            for key in store.keys(folder):   # read through the storage: a folder or an object store
                (partial / key).parent.mkdir(parents=True, exist_ok=True)
                (partial / key).write_bytes(store.read(key))
                files[key] = _entry(partial / key)
        users = users_path or _users_file()
        if users.exists():
            shutil.copy2(users, partial / USERS)
            files[USERS] = _entry(partial / USERS)
        manifest = {
            "format": FORMAT, "envmon_version": envmon_version(), "created_at": clock.now().isoformat(),
            "alembic_revision": warehouse["revision"], "warehouse": {k: v for k, v in warehouse.items()
                                                                    if k not in ("counts", "revision")},
            "counts": warehouse["counts"], "home": str(settings.home), "files": files,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True),
                                        encoding="utf-8")
        if destination.exists():
            destination.rmdir()
        os.replace(partial, destination)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return {**manifest, "path": str(destination), "seconds": round(time.monotonic() - started, 2)}


def scheduled_backup(root: Path, keep: int, settings: Settings, users_path: Path | None = None) -> dict:
    """The daily backup (dags/envmon_backup.py): a new folder in `root` named for the time, then the
    oldest complete backups beyond `keep` removed, and any backup a crash left .partial."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob(f".{SCHEDULED_PREFIX}*.partial"):
        shutil.rmtree(leftover, ignore_errors=True)
    made = backup(root / f"{SCHEDULED_PREFIX}{clock.now().astimezone(clock.BUREAU_TZ):%Y%m%dT%H%M%S%z}", settings,
                  users_path)
    complete = sorted(p for p in root.glob(f"{SCHEDULED_PREFIX}*") if (p / MANIFEST).exists())
    removed = complete[:-keep] if keep > 0 else []
    for old in removed:
        shutil.rmtree(old)
    return {"path": made["path"], "seconds": made["seconds"], "files": len(made["files"]),
            "rows": sum(made["counts"].values()), "removed": [p.name for p in removed]}


# --- verify and restore -----------------------------------------------------------------------------

def read_manifest(source: Path) -> dict:
    path = Path(source) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{source} is not an envmon backup: it has no {MANIFEST}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BackupError(f"the backup {source} is damaged: {MANIFEST} cannot be read ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "files" not in manifest:
        raise BackupError(f"{source} is not an envmon backup of format {FORMAT}: {MANIFEST} says otherwise")
    return manifest


def verify(source: Path) -> dict:
    """Every file the manifest lists, present with its size and sha256; returns the manifest."""
    source = Path(source)
    manifest = read_manifest(source)
    for relative, expected in sorted(manifest["files"].items()):
        path = source / relative
        if not path.is_file():
            raise BackupError(f"the backup {source} is incomplete: {relative} is missing; nothing was restored")
        if path.stat().st_size != expected["bytes"] or _sha256(path) != expected["sha256"]:
            raise BackupError(f"the backup {source} is damaged: {relative} does not match the sha256 its "
                              f"{MANIFEST} records; nothing was restored")
    return manifest


def _what_the_target_holds(settings: Settings, users: Path) -> list[str]:
    held = []
    tables = backup_store.has_tables(db.engine_for(settings.warehouse_url))
    if tables:
        held.append(f"the warehouse holds {tables} tables")
    store = storage.of(settings)
    for folder in FOLDERS:
        if store.keys(folder):
            held.append(f"{store.describe(folder)} holds files")
    if users.exists():
        held.append(f"the users file {users} exists")
    return held


def restore(source: Path, settings: Settings, force: bool = False, users_path: Path | None = None) -> dict:
    """Restore a backup into the configured warehouse, ENVMON_HOME and users file; returns what was done."""
    started = time.monotonic()
    source = Path(source).absolute()
    manifest = verify(source)
    known = backup_store.known_revisions()
    revision = manifest["alembic_revision"]
    if revision is not None and revision not in known:
        raise BackupError(f"the backup's warehouse is at revision {revision}, which this envmon "
                          f"({envmon_version()}, newest revision {known[-1]}) does not know: restore it with the "
                          f"envmon {manifest['envmon_version']} that made it, or a newer one")
    users = users_path or _users_file()
    held = _what_the_target_holds(settings, users)
    if held and not force:
        raise BackupError(f"the target is not empty ({'; '.join(held)}): restore into a fresh database and "
                          "folder, or give --force to replace what is there")
    engine = db.engine_for(settings.warehouse_url)
    if held:
        backup_store.drop_every_table(engine)
    backup_store.restore(settings.warehouse_url, source / manifest["warehouse"]["file"],
                         manifest["warehouse"]["dialect"])
    counts, _ = backup_store.counts_and_revision(settings.warehouse_url)
    if counts != manifest["counts"]:
        differing = sorted(t for t in counts.keys() | manifest["counts"].keys()
                           if counts.get(t) != manifest["counts"].get(t))
        raise BackupError(f"the restored warehouse does not hold what the backup counted: {', '.join(differing)}")
    restored_files = _restore_files(source, manifest, settings, users, replace=bool(held))
    relocated = 0
    if "payloads" in counts:
        relocated = backup_store.relocate_archive_paths(engine, str(Path(manifest["home"]) / "archive"),
                                                        str(settings.home / "archive"))
    db.migrate(engine)
    _, now_at = backup_store.counts_and_revision(settings.warehouse_url)
    return {"source": str(source), "created_at": manifest["created_at"], "envmon_version": manifest["envmon_version"],
            "dialect": manifest["warehouse"]["dialect"], "tables": len(counts), "rows": sum(counts.values()),
            "files": restored_files, "archive_paths_moved": relocated,
            "revision_of_backup": revision, "revision": now_at, "seconds": round(time.monotonic() - started, 2)}


def _restore_files(source: Path, manifest: dict, settings: Settings, users: Path, replace: bool) -> dict:
    store = storage.of(settings)
    if replace:
        for folder in FOLDERS:
            store.remove(folder)
    restored = {folder: 0 for folder in FOLDERS}
    for relative in sorted(manifest["files"]):
        top = relative.split("/", 1)[0]
        if top in FOLDERS:   # written through the storage: a folder or an object store
            store.write(relative, (source / relative).read_bytes())
            restored[top] += 1
        elif relative == USERS:
            users.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / relative, users)
            os.chmod(users, 0o600)  # as dashboards/app/users.py writes it: its owner only
            restored["users"] = 1
    return restored
