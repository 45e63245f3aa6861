"""The payload archive: every payload kept as received, under its sha256, before it is logged
(pipelines/ingest/batches.py archives each payload it receives). Nothing here reads the warehouse."""
from __future__ import annotations

import contextlib
import hashlib
import os
from datetime import datetime
from pathlib import Path

from pipelines.config import Settings


class ArchiveError(OSError):
    """The payload could not be archived (a full disk, a folder without write access): nothing
    was logged, so the next collection finds the payload new and tries again."""


def archive(settings: Settings, source: str, payload: bytes, name: str, received_at: datetime) -> tuple[str, Path]:
    """Keep the payload as received. Written to a temporary name and renamed: a full disk leaves
    no truncated file under the archive's name for a later re-ingest to read."""
    digest = hashlib.sha256(payload).hexdigest()
    folder = settings.home / "archive" / source / f"{received_at:%Y}" / f"{received_at:%m}"
    path = folder / f"{digest[:16]}-{archive_name(name)}"
    partial = path.with_name(f".{path.name}.partial")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            with open(partial, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink()
        failure = ArchiveError(f"cannot archive {source} payload {name!r} in {folder}: {error.strerror or error}")
        failure.errno = error.errno
        raise failure from error
    return digest, path


ARCHIVE_NAME_BYTES = 200  # with the digest and the .partial of the write, within a file name's 255 bytes


def archive_name(name: str) -> str:
    """The payload's own file name, shortened where it is too long for the archive's file system
    (80 Chinese characters are 240 bytes): the start of its stem and its suffix are kept."""
    name = Path(name).name
    if len(name.encode()) <= ARCHIVE_NAME_BYTES:
        return name
    suffix = Path(name).suffix if len(Path(name).suffix.encode()) < 16 else ""
    stem = name[:len(name) - len(suffix)] if suffix else name
    while len(f"{stem}…{suffix}".encode()) > ARCHIVE_NAME_BYTES:
        stem = stem[:-1]
    return f"{stem}…{suffix}"
