"""The inboxes after a collection: each file the payload log holds, with its copy in the archive, is
moved out of the way, so the next scan reads only new files instead of re-reading and re-hashing
every file ever dropped.

    ENVMON_INBOX/<source>/processed/<YYYY-MM-DD>/<name>   taken (loaded, or in the log to be resumed)
    ENVMON_INBOX/<source>/refused/<YYYY-MM-DD>/<name>     refused for its content; <name>.reason.txt says why

The day is the bureau day it was moved. Moved, not deleted: an operator sees at once what was
taken and what was refused, and a refused file can be corrected and dropped again (a new content
is a new payload). Nothing in these folders is needed any more: every file in them is in the
payload archive (archive/ of the shared storage, pipelines/storage.py), so `envmon_maintenance`
deletes the day folders older than ENVMON_INBOX_KEEP_DAYS (pipelines/operations/retention.py). A
file whose archived copy is not there (a storage this worker does not reach) is left where it is."""
from __future__ import annotations

import hashlib
import shutil
from datetime import datetime
from pathlib import Path

from pipelines.clock import bureau_date

PROCESSED = "processed"
REFUSED = "refused"


def _destination(folder: Path, kind: str, now: datetime, name: str, digest: str) -> Path | None:
    """Where the file goes; None when the same content is there already under that name."""
    target = folder / kind / bureau_date(now).isoformat() / name
    if target.exists():
        if hashlib.sha256(target.read_bytes()).hexdigest() == digest:
            return None
        stem, dot, suffix = name.rpartition(".")
        target = target.with_name(f"{stem}-{digest[:12]}{dot}{suffix}" if dot else f"{name}-{digest[:12]}")
    return target


def set_aside(folder: Path, scanned: dict[Path, str], logged, now: datetime,
              archived=lambda archive_path: Path(archive_path).is_file()) -> dict[str, list[str]]:
    """Move each scanned file (path → sha256) whose content `logged(sha256)` finds in the payload
    log with its archived copy: to processed/, or refused/ with the reason when its content was
    refused. `logged` answers None or the log's row (status, retryable, error, archive_path);
    `archived(archive_path)` whether its archived copy is there (storage.archived_exists)."""
    moved = {PROCESSED: [], REFUSED: []}
    for path, digest in scanned.items():
        row = logged(digest)
        if row is None or not path.is_file() or not archived(row["archive_path"]):
            continue
        kind = REFUSED if row["status"] == "failed" and row["retryable"] is not True else PROCESSED
        target = _destination(folder, kind, now, path.name, digest)
        if target is None:
            path.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
            if kind == REFUSED:
                target.with_name(target.name + ".reason.txt").write_text((row["error"] or "refused") + "\n",
                                                                         encoding="utf-8")
        moved[kind].append(path.name)
    return moved
