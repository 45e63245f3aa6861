"""Shared storage (issue 25, pipelines/storage.py): the payload archive (gzip, its sha256 checked on
every re-read), the issued documents and the Data Docs in one place every worker reaches, a folder
or an S3-compatible object store. The object store here is moto's S3 server, a real HTTP endpoint
that s3fs talks to as it would to MinIO."""
from __future__ import annotations

import gzip
import hashlib
import logging
from datetime import datetime, timezone

import pytest

from pipelines import storage

RECEIVED = datetime(2026, 12, 7, 9, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on a free local port, with a bucket `envmon`; the credentials are moto's
    dummies, handed as the AWS_* variables botocore reads (as compose hands MinIO's)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    patch = pytest.MonkeyPatch()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        patch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    patch.undo()


@pytest.fixture
def s3_storage(s3_endpoint, request, monkeypatch):
    """A fresh prefix of a fresh bucket, as ENVMON_STORAGE_URL and ENVMON_STORAGE_ENDPOINT_URL."""
    bucket = f"envmon-{abs(hash(request.node.nodeid)) % 10**8}"
    url = f"s3://{bucket}/shared"
    monkeypatch.setenv("ENVMON_STORAGE_URL", url)
    monkeypatch.setenv("ENVMON_STORAGE_ENDPOINT_URL", s3_endpoint)
    return url, s3_endpoint


class _Settings:
    def __init__(self, home, storage_url=None, endpoint=None):
        self.home, self.storage_url, self.storage_endpoint_url = home, storage_url, endpoint


def test_the_default_storage_is_envmon_home_so_a_single_machine_keeps_its_folders(tmp_path):
    settings = _Settings(tmp_path / "home")
    store = storage.of(settings)
    assert store.is_local and store.local_path("archive") == (tmp_path / "home" / "archive").resolve()
    digest, key = storage.archive_payload(settings, "lab", b"payload bytes", "lab-2026.xlsx", RECEIVED)
    assert key == f"archive/lab/2026/12/{digest[:16]}-lab-2026.xlsx.gz"
    assert (tmp_path / "home" / key).is_file()


def test_the_archive_is_gzip_with_the_payloads_sha256_checked_on_every_read(tmp_path):
    settings = _Settings(tmp_path / "home")
    payload = ("站点,时间,值\n" * 2000).encode("utf-8")
    digest, key = storage.archive_payload(settings, "cnemc-water", payload, "snapshot.html", RECEIVED)
    stored = (tmp_path / "home" / key).read_bytes()
    assert digest == hashlib.sha256(payload).hexdigest()
    assert gzip.decompress(stored) == payload and len(stored) < len(payload) / 5   # compressed
    # the same payload again: the same key, the same bytes (no time in the gzip header), written once
    assert storage.archive_payload(settings, "cnemc-water", payload, "snapshot.html", RECEIVED) == (digest, key)
    assert storage.compress(payload) == stored
    assert storage.read_archived(settings, key, digest) == payload
    assert storage.archived_name(key) == "snapshot.html"


def test_a_damaged_archived_payload_is_refused_with_one_line(tmp_path):
    settings = _Settings(tmp_path / "home")
    payload = b"station,time,value\n" * 100
    digest, key = storage.archive_payload(settings, "lab", payload, "a.csv", RECEIVED)
    path = tmp_path / "home" / key
    # another payload, well-formed gzip, under this one's key: the sha256 tells
    path.write_bytes(gzip.compress(payload.replace(b"value", b"VALUE"), mtime=0))
    with pytest.raises(storage.ArchiveDamaged) as refused:
        storage.read_archived(settings, key, digest)
    message = str(refused.value)
    assert "\n" not in message and "is damaged" in message and digest[:16] in message and key in message
    # a flipped byte in the gzip stream: refused too (the stream or the sha256 tells), never returned
    good = storage.compress(payload)
    path.write_bytes(good[:20] + bytes([good[20] ^ 0xFF]) + good[21:])
    with pytest.raises(storage.ArchiveDamaged, match="is damaged"):
        storage.read_archived(settings, key, digest)


def test_an_old_rows_absolute_uncompressed_path_is_still_read_and_checked(tmp_path):
    settings = _Settings(tmp_path / "home")
    old = tmp_path / "old-home" / "archive" / "lab" / "2026" / "11" / "0123456789abcdef-a.csv"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old payload")
    digest = hashlib.sha256(b"old payload").hexdigest()
    assert storage.read_archived(settings, str(old), digest) == b"old payload"
    assert storage.archived_name(str(old)) == "a.csv"
    assert storage.legacy_key(str(old)) == "archive/lab/2026/11/0123456789abcdef-a.csv"
    with pytest.raises(storage.ArchiveDamaged):
        storage.read_archived(settings, str(old), "0" * 64)


def test_the_archive_on_an_s3_endpoint(s3_storage, tmp_path):
    url, endpoint = s3_storage
    settings = _Settings(tmp_path / "home", url, endpoint)
    assert storage.prepare(settings).startswith("shared storage ready: s3://")   # makes the bucket
    payload = b"a,b\n1,2\n" * 50
    digest, key = storage.archive_payload(settings, "lab", payload, "a.csv", RECEIVED)
    assert not (tmp_path / "home").exists()   # nothing on this machine's disk
    other_worker = _Settings(tmp_path / "elsewhere", url, endpoint)
    assert storage.read_archived(other_worker, key, digest) == payload
    assert storage.of(other_worker).keys("archive") == [key]
    storage.of(settings).write(key, storage.compress(b"tampered"))
    with pytest.raises(storage.ArchiveDamaged, match=f"s3://.*{key}.* is damaged"):
        storage.read_archived(other_worker, key, digest)


def test_a_storage_key_cannot_leave_the_storage(tmp_path):
    store = storage.of(_Settings(tmp_path))
    for key in ("../x", "archive/../../x", "a//b"):
        with pytest.raises(ValueError):
            store.path(key)
