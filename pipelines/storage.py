"""Shared storage (issue 25): where the payload archive, the issued documents and the Data Docs live,
so that every worker and the app reach the same copy. This module is the only place that knows its
URL; everything else names a storage key, a path relative to it (`archive/cnemc-water/2026/12/...`).

ENVMON_STORAGE_URL           an fsspec URL: a folder (a volume every worker mounts, /srv/envmon-storage)
                             or an S3-compatible object store (s3://bucket/prefix, through s3fs; MinIO in
                             docker-compose.yml). Default: ENVMON_HOME itself, so a single machine keeps
                             ENVMON_HOME/archive, ENVMON_HOME/reports and ENVMON_HOME/data_docs as before.
ENVMON_STORAGE_ENDPOINT_URL  an S3-compatible store's endpoint (http://minio:9000); unset: AWS's own.
                             The store's credentials are the usual AWS_ACCESS_KEY_ID and
                             AWS_SECRET_ACCESS_KEY, read by botocore, never by envmon.

The archive keeps each payload gzip-compressed (`<sha256[:16]>-<name>.gz`, no time in the gzip
header, so the same payload makes the same bytes); the payload log keeps the sha256 of the payload as
received, and every re-read (`envmon ingest --resume`, `--payload-id`) checks it: a damaged archived
payload is refused with one line, never ingested. Rows logged before (an absolute path of a worker's
disk, uncompressed) are read as they were."""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath

ENV_URL = "ENVMON_STORAGE_URL"
ENV_ENDPOINT = "ENVMON_STORAGE_ENDPOINT_URL"
ARCHIVE = "archive"
REPORTS = "reports"
DATA_DOCS = "data_docs"
COMPRESSED_SUFFIX = ".gz"
GZIP_LEVEL = 6
ARCHIVE_NAME_BYTES = 200  # with the digest, .gz and the .partial of the write, within a file name's 255 bytes


class ArchiveDamaged(ValueError):
    """An archived payload whose bytes are not the ones received: refused, never ingested."""


@dataclass(frozen=True)
class Storage:
    """The shared storage: an fsspec file system and the root path in it."""
    url: str
    endpoint_url: str | None = None

    @property
    def fs(self):
        return _filesystem(self.url, self.endpoint_url)[0]

    @property
    def root(self) -> str:
        return _filesystem(self.url, self.endpoint_url)[1].rstrip("/")

    @property
    def is_local(self) -> bool:
        return "file" in _protocols(self.fs)

    def path(self, key: str) -> str:
        """The file system path of a key (for fs calls)."""
        return f"{self.root}/{_clean(key)}" if key else self.root

    def local_path(self, key: str = "") -> Path | None:
        """The key as a local path when the storage is a folder of this machine, else None."""
        return Path(self.path(key)) if self.is_local else None

    def root_path(self):
        """The root as a path object: a pathlib.Path for a folder, a universal_pathlib UPath (the
        pathlib API over fsspec) for an object store."""
        if self.is_local:
            return Path(self.root)
        from upath import UPath

        return UPath(self.url, **(_options(self.endpoint_url) if _protocols(self.fs)[0] in ("s3", "s3a") else {}))

    # --- bytes -------------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        return self.fs.isfile(self.path(key))

    def read(self, key: str) -> bytes:
        return self.fs.cat_file(self.path(key))

    def write(self, key: str, data: bytes) -> None:
        """Write whole or not at all: a folder's file is written under a hidden temporary name,
        synced and renamed (a full disk leaves no truncated file under the key); an object store's
        PUT is atomic already."""
        path = self.path(key)
        if not self.is_local:
            self.fs.pipe_file(path, data)
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(partial_name(target.name))
        try:
            with open(partial, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise

    def keys(self, prefix: str) -> list[str]:
        """Every file's key under a prefix (a folder), hidden temporaries left out, sorted."""
        base = self.path(prefix)
        if not self.fs.isdir(base):
            return []
        found = []
        for path in self.fs.find(base):
            relative = _relative(self.root, path)
            if relative is not None and not any(part.startswith(".") for part in PurePosixPath(relative).parts):
                found.append(relative)
        return sorted(found)

    def size(self, key: str) -> int:
        return int(self.fs.size(self.path(key)))

    def sizes(self, prefix: str) -> dict[str, int]:
        """Every file's key under a prefix and its size, from one listing (hidden temporaries left out)."""
        base = self.path(prefix)
        if not self.fs.isdir(base):
            return {}
        found = {}
        for path, info in self.fs.find(base, detail=True).items():
            relative = _relative(self.root, path)
            if relative is not None and not any(part.startswith(".") for part in PurePosixPath(relative).parts):
                found[relative] = int(info.get("size") or 0)
        return found

    def put(self, key: str, local: Path) -> None:
        """A local file copied under the key, whole or not at all (an object store streams it)."""
        if self.is_local:
            self.write(key, Path(local).read_bytes())
        else:
            self.fs.put_file(str(local), self.path(key))

    def remove(self, key: str) -> None:
        path = self.path(key)
        if self.fs.isdir(path):
            self.fs.rm(path, recursive=True)
        elif self.fs.exists(path):
            self.fs.rm_file(path)

    def describe(self, key: str = "") -> str:
        """The key as an operator reads it: the folder path, or the object's URL."""
        local = self.local_path(key)
        return str(local) if local is not None else f"{self.url.rstrip('/')}/{_clean(key)}"


def partial_name(name: str) -> str:
    """A hidden temporary name to write `name` under before renaming it: the pid and a uuid, since
    two containers sharing a volume run processes of the same pid (1, most often)."""
    return f".{name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.partial"


def _clean(key: str) -> str:
    key = str(key).replace("\\", "/").strip("/")
    if any(part in ("..", "") for part in key.split("/")) and key:
        raise ValueError(f"not a storage key: {key!r}")
    return key


def _relative(root: str, path: str) -> str | None:
    root, path = root.rstrip("/"), path.rstrip("/")
    if path.startswith(root + "/"):
        return path[len(root) + 1:]
    # fsspec's local paths come back without a leading slash on some versions; match by suffix
    stripped = root.lstrip("/")
    if path.lstrip("/").startswith(stripped + "/"):
        return path.lstrip("/")[len(stripped) + 1:]
    return None


def _protocols(fs) -> tuple[str, ...]:
    protocol = fs.protocol
    return tuple(protocol) if isinstance(protocol, (tuple, list)) else (protocol,)


def _options(endpoint_url: str | None) -> dict:
    """s3fs's options: the endpoint, and no cached listings (another worker writes to the store:
    what it wrote must be seen at the next look)."""
    return {"use_listings_cache": False, **({"endpoint_url": endpoint_url} if endpoint_url else {})}


@lru_cache(maxsize=16)
def _filesystem(url: str, endpoint_url: str | None):
    import fsspec

    options = _options(endpoint_url) if url.split("://", 1)[0] in ("s3", "s3a") else {}
    fs, root = fsspec.core.url_to_fs(url, **options)
    return fs, root


def of(settings) -> Storage:
    """The storage of these settings (ENVMON_STORAGE_URL, else ENVMON_HOME)."""
    url = getattr(settings, "storage_url", None) or str(settings.home)
    return Storage(_normal(url), getattr(settings, "storage_endpoint_url", None))


def from_env(home: Path | str | None = None, environ: dict | None = None) -> Storage:
    """The storage as the environment names it, for a process that has no Settings (the app)."""
    env = os.environ if environ is None else environ
    url = env.get(ENV_URL) or str(home or env.get("ENVMON_HOME") or Path.cwd() / ".envmon")
    return Storage(_normal(url), env.get(ENV_ENDPOINT) or None)


def _normal(url: str) -> str:
    if "://" in url:
        return url.rstrip("/")
    return str(Path(url).expanduser().resolve())


# --- the payload archive --------------------------------------------------------------------------

def archive_name(name: str) -> str:
    """The payload's own file name, shortened where it is too long for a file system (80 Chinese
    characters are 240 bytes): the start of its stem and its suffix are kept."""
    name = PurePosixPath(str(name).replace("\\", "/")).name
    if len(name.encode()) <= ARCHIVE_NAME_BYTES:
        return name
    suffix = PurePosixPath(name).suffix if len(PurePosixPath(name).suffix.encode()) < 16 else ""
    stem = name[:len(name) - len(suffix)] if suffix else name
    while len(f"{stem}…{suffix}".encode()) > ARCHIVE_NAME_BYTES:
        stem = stem[:-1]
    return f"{stem}…{suffix}"


def archive_key(source: str, digest: str, name: str, received_at: datetime) -> str:
    return f"{ARCHIVE}/{source}/{received_at:%Y}/{received_at:%m}/{digest[:16]}-{archive_name(name)}{COMPRESSED_SUFFIX}"


def compress(payload: bytes) -> bytes:
    """gzip without a time or a name in its header: the same payload, the same archived bytes."""
    return gzip.compress(payload, compresslevel=GZIP_LEVEL, mtime=0)


def archive_payload(settings, source: str, payload: bytes, name: str, received_at: datetime) -> tuple[str, str]:
    """Keep the payload as received, compressed, in the shared archive; returns its sha256 and its
    storage key (what the payload log records). The same payload again is not written twice: the
    copy already under its key is kept where its sha256 (of the payload, decompressed) is this one's,
    and written again where it differs or cannot be decompressed (a damaged or truncated copy)."""
    digest = hashlib.sha256(payload).hexdigest()
    key = archive_key(source, digest, name, received_at)
    store = of(settings)
    if not store.exists(key) or _stored_digest(store, key) != digest:
        store.write(key, compress(payload))
    return digest, key


def _stored_digest(store: Storage, key: str) -> str | None:
    """The sha256 of the payload an archived copy holds; None where it cannot be decompressed."""
    try:
        return hashlib.sha256(gzip.decompress(store.read(key))).hexdigest()
    except (EOFError, zlib.error, gzip.BadGzipFile):
        return None


def archived_name(archive_path: str) -> str:
    """The payload's own file name from its archive key (or an old row's absolute path)."""
    name = PurePosixPath(str(archive_path)).name
    if name.endswith(COMPRESSED_SUFFIX):
        name = name[:-len(COMPRESSED_SUFFIX)]
    return name.split("-", 1)[1] if "-" in name else name


def _is_legacy(archive_path: str) -> bool:
    """A row logged before shared storage: the absolute path of a worker's own disk."""
    return PurePosixPath(str(archive_path)).is_absolute()


def archived_exists(settings, archive_path: str) -> bool:
    if _is_legacy(archive_path):
        return Path(archive_path).is_file()
    return of(settings).exists(archive_path)


def archived_size(settings, archive_path: str) -> int:
    """The stored (compressed) size; 0 when it cannot be told."""
    try:
        return Path(archive_path).stat().st_size if _is_legacy(archive_path) else of(settings).size(archive_path)
    except (OSError, ValueError):
        return 0


def read_archived(settings, archive_path: str, sha256: str | None) -> bytes:
    """The archived payload as received, its sha256 checked against the one the payload log kept:
    ArchiveDamaged when it differs (or the gzip stream is broken), OSError when it cannot be read."""
    if _is_legacy(archive_path):
        stored, shown = Path(archive_path).read_bytes(), str(archive_path)
    else:
        store = of(settings)
        stored, shown = store.read(archive_path), store.describe(archive_path)
    payload = stored
    if str(archive_path).endswith(COMPRESSED_SUFFIX):
        try:
            payload = gzip.decompress(stored)
        except (OSError, EOFError, zlib.error) as error:
            raise ArchiveDamaged(f"the archived payload {shown} is damaged ({error}): it is not ingested; "
                                 "restore it from a backup") from None
    if sha256:
        found = hashlib.sha256(payload).hexdigest()
        if found != sha256:
            raise ArchiveDamaged(f"the archived payload {shown} is damaged: its sha256 is {found[:16]}…, not the "
                                 f"{sha256[:16]}… logged when it was received; it is not ingested (restore it "
                                 "from a backup)")
    return payload


def legacy_key(archive_path: str) -> str | None:
    """The storage key of an old row's absolute archive path (…/archive/<source>/YYYY/MM/<file>),
    or None when it does not look like one (migration 0021 keeps its own copy of this rule)."""
    parts = PurePosixPath(str(archive_path)).parts
    for index in range(len(parts) - 5, -1, -1):
        if parts[index] == ARCHIVE and len(parts) - index == 5 and parts[index + 2].isdigit() \
                and parts[index + 3].isdigit():
            return "/".join(parts[index:])
    return None


# --- the issued documents -------------------------------------------------------------------------

def root_of(where):
    """The storage root as a path object, from Settings, a Storage, or ENVMON_HOME itself (the app
    and older callers pass the home: the storage the environment names for it)."""
    if isinstance(where, Storage):
        return where.root_path()
    if isinstance(where, (str, Path)):
        return from_env(where).root_path()
    return of(where).root_path()


def reports_root(where):
    """reports/ of the shared storage: ENVMON_HOME/reports by default."""
    return root_of(where) / REPORTS


def write_atomic(path, data: bytes) -> None:
    """Write a file of the storage whole or not at all: a local file by a temporary name renamed,
    an object by one PUT (atomic already)."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(partial_name(path.name))
        partial.write_bytes(data)
        partial.replace(path)
    else:
        path.write_bytes(data)


def same_kind(root, value: str):
    """A path a manifest or listing recorded (str of a path of this storage) as a path object."""
    if isinstance(root, Path):
        return Path(value)
    from upath import UPath

    return UPath(value, **root.storage_options)


def adopt_local_home(settings, home: Path | str | None = None) -> dict:
    """Copy ENVMON_HOME/archive and ENVMON_HOME/reports (what a deployment kept before the shared
    storage, or beside a new one) into the storage, each file whose key is missing there, before
    migration 0021 rewrites the payload log's paths to keys (deploy/airflow-init.sh runs it first).
    Idempotent: a key present with the local file's size is left; one present with another size is
    left too (the store's copy, written since) and named in the summary; each copy's size is checked
    after it is written (OSError where it differs). Nothing to do where the storage is the home."""
    store = of(settings)
    home = Path(home or settings.home).expanduser().resolve()
    summary = {"copied": 0, "copied_bytes": 0, "present": 0, "differs": []}
    if not (store.is_local and Path(store.root) == home):
        for prefix in (ARCHIVE, REPORTS):
            base = home / prefix
            if not base.is_dir():
                continue
            stored = store.sizes(prefix)
            for path in sorted(base.rglob("*")):
                relative = path.relative_to(home)
                if path.is_symlink() or not path.is_file() or any(p.startswith(".") for p in relative.parts):
                    continue
                key, size = relative.as_posix(), path.stat().st_size
                if key in stored:
                    if stored[key] == size:
                        summary["present"] += 1
                    else:
                        summary["differs"].append(key)
                    continue
                store.put(key, path)
                if store.size(key) != size:
                    raise OSError(f"{store.describe(key)} holds {store.size(key)} bytes after copying {path}, "
                                  f"not its {size}")
                summary["copied"] += 1
                summary["copied_bytes"] += size
    differs = summary["differs"]
    if store.is_local and Path(store.root) == home:
        summary["message"] = f"the shared storage is ENVMON_HOME itself ({home}): nothing to copy"
        return summary
    summary["message"] = (
        f"{home}/archive and reports/ in the shared storage {store.describe()}: {summary['copied']} files copied "
        f"({summary['copied_bytes']} bytes), {summary['present']} there already"
        + (f"; {len(differs)} differ in size from the store's copy, kept: {', '.join(differs[:5])}"
           + (" …" if len(differs) > 5 else "") if differs else ""))
    return summary


def prepare(settings) -> str:
    """Make the store ready (deploy/airflow-init.sh): an S3 bucket made where it is missing, then a
    probe written, read back and removed. Raises where the storage cannot be reached or written."""
    store = of(settings)
    if not store.is_local:
        bucket = store.root.split("/", 1)[0]
        if not store.fs.exists(bucket):
            store.fs.mkdir(bucket)
    probe, data = f".probe-{os.getpid()}", b"envmon storage probe"
    store.write(probe, data)
    try:
        if store.read(probe) != data:
            raise OSError(f"the shared storage {store.url} did not give back what was written")
    finally:
        store.remove(probe)
    return f"shared storage ready: {store.describe()}"
