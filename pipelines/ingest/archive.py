"""The payload archive: every payload kept as received, under its sha256, before it is logged
(pipelines/ingest/batches.py archives each payload it receives), in the shared storage every worker
reaches (pipelines/storage.py: ENVMON_STORAGE_URL, default ENVMON_HOME), gzip-compressed; the payload
log records its storage key and the sha256 a re-read is checked against. Nothing here reads the
warehouse."""
from __future__ import annotations

from datetime import datetime

from pipelines import storage
from pipelines.config import Settings


class ArchiveError(OSError):
    """The payload could not be archived (a full disk, a folder without write access, a store that
    does not answer): nothing was logged, so the next collection finds the payload new and tries again."""


def archive(settings: Settings, source: str, payload: bytes, name: str, received_at: datetime) -> tuple[str, str]:
    """Keep the payload as received (compressed) in the shared archive; returns its sha256 and its
    storage key. Written whole or not at all (storage.Storage.write): a full disk leaves no truncated
    file under the archive's name for a later re-ingest to read."""
    try:
        return storage.archive_payload(settings, source, payload, name, received_at)
    except OSError as error:
        where = storage.of(settings).describe(f"{storage.ARCHIVE}/{source}")
        failure = ArchiveError(f"cannot archive {source} payload {name!r} in {where}: {error.strerror or error}")
        failure.errno = error.errno
        raise failure from error


ARCHIVE_NAME_BYTES = storage.ARCHIVE_NAME_BYTES  # with the digest, .gz and the .partial of the write, within 255 bytes
archive_name = storage.archive_name
