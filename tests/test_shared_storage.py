"""Shared storage (issue 25, pipelines/storage.py): the payload archive (gzip, its sha256 checked on
every re-read), the issued documents and the Data Docs in one place every worker reaches, a folder
or an S3-compatible object store. The object store here is moto's S3 server, a real HTTP endpoint
that s3fs talks to as it would to MinIO."""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from datetime import datetime, timezone

import pytest

from pipelines import storage

RECEIVED = datetime(2026, 12, 7, 9, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on a free local port (a real HTTP endpoint; the tests hand its dummy
    credentials as the AWS_* variables botocore reads, as compose hands MinIO's)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def s3_storage(s3_endpoint, request, monkeypatch):
    """A fresh prefix of a fresh bucket, as ENVMON_STORAGE_URL and ENVMON_STORAGE_ENDPOINT_URL."""
    bucket = f"envmon-{abs(hash(request.node.nodeid)) % 10**8}"
    url = f"s3://{bucket}/shared"
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
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


# --- two workers, one storage, one warehouse ---------------------------------------------------------

PASSWORD = "Shared-storage-2027-Beibu!"


def _storage_environment(kind: str, tmp_path, s3_endpoint_factory) -> dict:
    """The storage settings both workers get: a folder both mount, or a bucket of the S3 endpoint."""
    if kind == "folder":
        return {"ENVMON_STORAGE_URL": str(tmp_path / "shared-volume")}
    endpoint = s3_endpoint_factory()
    bucket = f"two-workers-{abs(hash(str(tmp_path))) % 10**8}"
    import s3fs

    s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing").mkdir(bucket)
    return {"ENVMON_STORAGE_URL": f"s3://{bucket}/envmon", "ENVMON_STORAGE_ENDPOINT_URL": endpoint, **S3_CREDENTIALS}


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_a_payload_worker_a_received_is_resumed_and_rerun_by_worker_b_and_its_documents_served_elsewhere(
        kind, tmp_path, postgres_url, request, monkeypatch):
    """Worker A (its own ENVMON_HOME) receives and archives a payload and is killed inside its load;
    its machine is gone. Worker B (another ENVMON_HOME, the same storage and warehouse) finishes it
    with `envmon ingest --resume` and runs it again by `--payload-id`: the warehouse holds what a
    clean run holds. A damaged archived copy is then refused with one line and nothing changes. A
    bulletin issued on worker B, and the Data Docs of its run, are served by the app on a third home."""
    import shutil
    import signal
    from datetime import timedelta

    from tests import faults

    storage_env = _storage_environment(kind, tmp_path, lambda: request.getfixturevalue("s3_endpoint"))
    for name, value in storage_env.items():
        monkeypatch.setenv(name, value)
    url = postgres_url
    home_a, home_b, home_app = tmp_path / "worker-a", tmp_path / "worker-b", tmp_path / "app"
    path = faults.write_payload(tmp_path / "in", "three-days.csv", faults.THREE_DAYS)
    # worker A: killed while its load waits for the second day's partition
    with faults.holding_partition(url, faults.FIRST_DAY + timedelta(days=1)):
        process = faults.start(faults.ingest_command(path), faults.environment(home_a, url, **storage_env))
        faults.backend_waiting_for(url, faults.FIRST_DAY + timedelta(days=1), process)
        process.send_signal(signal.SIGKILL)
        process.wait(60)
    faults.assert_nothing_stored(url)
    [(payload_id, status, _, _)] = faults.payload_statuses(url)
    assert status == "received"
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        key, sha256 = connection.execute(text("SELECT archive_path, sha256 FROM payloads")).one()
    engine.dispose()
    assert key.startswith("archive/cnemc-air/") and key.endswith(".gz")   # a storage key, not A's path
    assert not (home_a / "archive").exists()
    faults.wait_for_lock_release(url, "payload", payload_id)
    shutil.rmtree(home_a, ignore_errors=True)                             # worker A's machine is gone

    # worker B resumes it from the shared archive, then runs it again by id
    worker_b = faults.environment(home_b, url, **storage_env)
    faults.assert_succeeded(faults.run(faults.envmon_command("ingest", "--resume"), worker_b), "--resume on B")
    clean = faults.clean_holdings([faults.THREE_DAYS])
    faults.assert_same_as_clean(url, clean)
    rerun = faults.run(faults.envmon_command("ingest", "--payload-id", str(payload_id), "--json"), worker_b)
    faults.assert_succeeded(rerun, "--payload-id on B")
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert summary["sha256"] == sha256 and sum(e["read"] for e in summary["sources"].values()) == 72 * faults.STATIONS * 6
    faults.assert_same_as_clean(url, clean)

    # the archived copy damaged: refused with one line, never ingested, the warehouse unchanged
    settings_b = faults.settings_for(home_b, url, **storage_env)
    store = storage.of(settings_b)
    store.write(key, storage.compress(faults.THREE_DAYS.replace(b",50,", b",59,")))
    refused = faults.run(faults.envmon_command("ingest", "--payload-id", str(payload_id)), worker_b)
    line = faults.assert_one_line_error(refused, "--payload-id of a damaged archived payload")
    assert "is damaged" in line and sha256[:16] in line, line
    faults.assert_same_as_clean(url, clean)
    assert faults.payload_statuses(url)[0][1] == "loaded"    # its rows are in: told, its status left as it was

    # a bulletin issued on worker B; the app on a third home serves it and B's Data Docs, by the storage
    faults.assert_succeeded(faults.run(faults.envmon_command("bulletin", "--month", "2026-03", "--format=html"),
                                       worker_b), "envmon bulletin on B")
    users = tmp_path / "users.json"
    faults.assert_succeeded(subprocess_users(users, worker_b), "envmon users add")
    shutil.rmtree(home_b, ignore_errors=True)                             # worker B's disk is gone too
    from dashboards.app import create_app
    from tests.dashboard_app_fixture import sign_in

    app = create_app(url, users, home_app, secret_key="test", cache_seconds=0)
    client = app.server.test_client()
    assert sign_in(client, "storage-regional", PASSWORD).status_code == 302
    from pipelines.reports import issues

    [issued] = issues.listing(storage.from_env(home_app))
    document = client.get(f"/issued/{issued['issue']}.html")
    assert document.status_code == 200 and "2026" in document.get_data(as_text=True)
    index = client.get("/data-docs/")
    assert index.status_code == 200
    sites = re.findall(r'href="(\d{4}-\d\d-\d\d/cnemc-air-\d{6}/index.html)"', index.get_data(as_text=True))
    assert sites, index.get_data(as_text=True)[:2000]
    site = client.get(f"/data-docs/{sites[0]}")
    assert site.status_code == 200 and "validation" in site.get_data(as_text=True).lower()
    assert not home_app.joinpath("data_docs").exists() or kind == "folder"


def subprocess_users(users, env):
    from tests import faults

    import subprocess

    return subprocess.run(faults.envmon_command("users", "add", "storage-regional", "--role", "regional", "--bureau",
                                                "gx-dept", "--password-stdin"), input=PASSWORD + "\n", text=True,
                          capture_output=True, env={**env, "ENVMON_DASHBOARD_USERS": str(users)}, cwd=faults.ROOT,
                          timeout=300)


def _downgraded_to_0021(engine) -> None:
    """The warehouse brought down to Alembic 0021 by the later migrations' own downgrades."""
    from alembic import command
    from alembic.config import Config

    from warehouse import db

    config = Config(str(db.ALEMBIC_INI))
    config.set_main_option("script_location", str(db.ALEMBIC_INI.parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0021")


def test_migration_0021_gives_an_older_rows_absolute_path_its_storage_key_and_the_payload_runs_again(tmp_path):
    """A row logged before shared storage names its uncompressed file by the absolute path of the
    worker that received it; migration 0021 rewrites it to the key that path ends with, and
    `--payload-id` reads the old file from the default storage (ENVMON_HOME), its sha256 checked."""
    from sqlalchemy import text

    from pipelines.config import load_settings
    from pipelines.ingest.payloads import ingest_file, reingest
    from tests.conftest import FIXTURES
    from warehouse import db

    settings = load_settings({"ENVMON_HOME": str(tmp_path / "home")})
    fixture = FIXTURES / "cnemc-air-hourly.csv"
    first = ingest_file("cnemc-air", fixture, datetime.fromisoformat("2027-01-01T02:00:00+08:00"), settings)
    engine = db.engine_for(settings.warehouse_url)
    key = db.get_payload(engine, first["payload_id"])["archive_path"]
    # as envmon wrote it before: the payload as received, uncompressed, its absolute path logged
    old_key = key[:-len(".gz")]
    old_path = settings.home / old_key
    old_path.write_bytes(fixture.read_bytes())
    (settings.home / key).unlink()
    _downgraded_to_0021(engine)   # what later migrations made goes, so 0020 -> head runs them again
    with engine.begin() as connection:
        connection.execute(text("UPDATE payloads SET archive_path = :path"), {"path": str(old_path)})
        connection.execute(text("UPDATE alembic_version SET version_num = '0020'"))
    db.migrate(engine)
    assert db.get_payload(engine, first["payload_id"])["archive_path"] == old_key
    again = reingest(first["payload_id"], settings)
    assert again["sha256"] == first["sha256"] and again["sources"]["cnemc-air"]["read"] == \
        first["sources"]["cnemc-air"]["read"]
    old_path.write_bytes(fixture.read_bytes().replace(b",", b";", 1))   # the old file damaged: refused
    from pipelines.ingest.payloads import PayloadUnfinished

    with pytest.raises(PayloadUnfinished, match="is damaged"):
        reingest(first["payload_id"], settings)
    engine.dispose()


def test_backup_and_restore_read_and_write_the_archive_and_documents_through_an_s3_store(s3_storage, tmp_path):
    """`envmon backup` copies the archive and the documents from the object store, `envmon restore`
    puts them back into another one (an empty prefix), byte for byte, the archive still readable."""
    from pipelines.config import load_settings
    from pipelines.operations import backup
    from warehouse import db

    url, endpoint = s3_storage
    settings = load_settings({"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_STORAGE_URL": url,
                              "ENVMON_STORAGE_ENDPOINT_URL": endpoint})
    storage.prepare(settings)
    db.migrate(db.engine_for(settings.warehouse_url))
    payload = b"station,time,value\n" * 40
    digest, key = storage.archive_payload(settings, "lab", payload, "a.csv", RECEIVED)
    document = "reports/bulletins/2026-11/envmon-bulletin-2026-11.html"
    storage.of(settings).write(document, "<html>十一月</html>".encode())
    made = backup.backup(tmp_path / "backup", settings, users_path=tmp_path / "no-users.json")
    assert {key, document} <= set(made["files"])
    assert (tmp_path / "backup" / key).read_bytes() == storage.of(settings).read(key)
    assert not (tmp_path / "home" / "archive").exists()        # nothing of it on this machine's disk
    target = load_settings({"ENVMON_HOME": str(tmp_path / "restored"), "ENVMON_STORAGE_URL": f"{url}-restored",
                            "ENVMON_STORAGE_ENDPOINT_URL": endpoint})
    summary = backup.restore(tmp_path / "backup", target, users_path=tmp_path / "restored-users.json")
    assert summary["files"]["archive"] == 1 and summary["files"]["reports"] == 1
    assert storage.read_archived(target, key, digest) == payload
    assert storage.of(target).read(document) == "<html>十一月</html>".encode()
    with pytest.raises(backup.BackupError, match=r"not empty.*s3://.*-restored/archive holds files"):
        backup.restore(tmp_path / "backup", target, users_path=tmp_path / "restored-users.json")  # unless --force


def test_the_app_serves_data_docs_from_an_s3_store_a_sites_static_from_the_one_shared_copy(s3_storage, tmp_path):
    """On an object store a site is copied without its static/ link; the app's /data-docs/ serves a
    site's static files from the one shared copy (pipelines/quality/data_docs.served)."""
    from pipelines.quality.data_docs import served

    url, endpoint = s3_storage
    store = storage.Storage(url, endpoint)
    storage.prepare(_Settings(tmp_path, url, endpoint))
    store.write("data_docs/static/styles/data_docs_default_styles.css", b"body{}")
    store.write("data_docs/2026-12-07/lab-093000/index.html", b"<html>lab</html>")
    assert served(store, "2026-12-07/lab-093000/index.html") == b"<html>lab</html>"
    assert served(store, "2026-12-07/lab-093000/static/styles/data_docs_default_styles.css") == b"body{}"
    assert served(store, "2026-12-07/lab-093000/missing.html") is None
    assert served(store, "../../secrets") is None   # a key may not leave the storage: nothing served (404)


def test_an_archived_copy_the_store_cannot_serve_now_stays_retryable_and_a_loaded_payload_stays_loaded(
        tmp_path, monkeypatch):
    """A transient storage fault (an object store's 5xx, an outage) while re-reading the archive:
    `--payload-id` of a loaded payload reports it and leaves the payload loaded; resume leaves an
    unfinished payload failed but retryable, and finishes it once the store answers again. Only a
    damaged copy (its sha256 not the one logged) is final."""
    from pipelines.config import load_settings
    from pipelines.ingest.payloads import PayloadUnfinished, ingest_file, reingest, resume_payloads
    from tests.conftest import FIXTURES
    from warehouse import db

    settings = load_settings({"ENVMON_HOME": str(tmp_path / "home")})
    first = ingest_file("cnemc-air", FIXTURES / "cnemc-air-hourly.csv",
                        datetime.fromisoformat("2027-01-01T02:00:00+08:00"), settings)
    payload_id = first["payload_id"]
    engine = db.engine_for(settings.warehouse_url)
    status = lambda: {k: db.get_payload(engine, payload_id)[k] for k in ("status", "retryable")}  # noqa: E731
    real_read = storage.Storage.read

    def outage(self, key):
        raise OSError("503 Service Unavailable (SlowDown)\nplease retry")

    monkeypatch.setattr(storage.Storage, "read", outage)
    with pytest.raises(PayloadUnfinished) as told:
        reingest(payload_id, settings)
    assert "cannot be read" in str(told.value) and "\n" not in str(told.value)
    assert status()["status"] == "loaded"                        # its rows are in: not turned failed
    db.update_payload(engine, payload_id, status="received")      # as a worker killed inside its load leaves it
    result = resume_payloads(settings)
    assert [f["payload_id"] for f in result["failed"]] == [payload_id] and result["resumed"] == []
    assert status() == {"status": "failed", "retryable": True}   # resume tries it again
    monkeypatch.setattr(storage.Storage, "read", real_read)       # the store answers again
    assert resume_payloads(settings)["resumed"] == [payload_id]
    assert status()["status"] == "loaded"
    # a damaged copy is final: resume does not take it up again
    key = db.get_payload(engine, payload_id)["archive_path"]
    storage.of(settings).write(key, storage.compress(b"not what was received"))
    db.update_payload(engine, payload_id, status="received")
    assert "is damaged" in resume_payloads(settings)["failed"][0]["error"]
    assert status() == {"status": "failed", "retryable": False}
    assert resume_payloads(settings)["failed"] == []
    engine.dispose()


@pytest.mark.parametrize("damage", ["another payload", "truncated"])
def test_archiving_a_payload_again_rewrites_a_stored_copy_that_is_not_it(tmp_path, damage):
    """The same payload archived again under a key that holds a damaged copy (another payload's
    bytes, or a truncated gzip stream): the copy is checked by its sha256 and written again."""
    settings = _Settings(tmp_path / "home")
    payload = b"station,time,value\n" * 200
    digest, key = storage.archive_payload(settings, "lab", payload, "a.csv", RECEIVED)
    path = tmp_path / "home" / key
    good = path.read_bytes()
    path.write_bytes(storage.compress(payload.replace(b"value", b"VALUE")) if damage == "another payload"
                     else good[:len(good) // 2])
    assert storage.archive_payload(settings, "lab", payload, "a.csv", RECEIVED) == (digest, key)
    assert path.read_bytes() == good and storage.read_archived(settings, key, digest) == payload


def test_two_containers_with_the_same_pid_write_under_different_temporary_names(tmp_path, monkeypatch):
    """Containers sharing a volume run their processes with the same pids: a write's temporary name
    carries a uuid too, so two writers of one key never write into the same temporary file."""
    import os
    from pathlib import Path

    monkeypatch.setattr(os, "getpid", lambda: 1)
    renamed = []
    real_replace = os.replace   # Path.replace calls it too
    monkeypatch.setattr(os, "replace", lambda src, dst: (renamed.append(Path(src).name), real_replace(src, dst)))
    store = storage.of(_Settings(tmp_path))
    for _ in range(2):
        store.write("reports/a.html", b"a")
        storage.write_atomic(tmp_path / "reports" / "b.html", b"b")
    assert len(renamed) == 4 and len(set(renamed)) == 4, renamed
    assert all(name.startswith((".a.html.1-", ".b.html.1-")) and name.endswith(".partial") for name in renamed)
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["a.html", "b.html"]


def test_two_workers_sharing_envmon_home_publish_only_their_own_data_docs_site_to_the_store(
        s3_storage, tmp_path, monkeypatch):
    """On an object store each Data Docs site is built in its own temporary folder and only it is
    copied to the store and removed: worker B publishing its site while worker A is still building
    one (the same ENVMON_HOME) neither uploads nor deletes A's half-built site."""
    from pipelines.quality import data_docs, validation

    url, endpoint = s3_storage
    storage.prepare(_Settings(tmp_path, url, endpoint))
    home = tmp_path / "shared-home"
    worker_a, worker_b = _Settings(home, url, endpoint), _Settings(home, url, endpoint)
    monkeypatch.setattr(_Settings, "data_docs_dir", property(lambda self: self.home / "data_docs"), raising=False)

    def build(site, shared_assets=False):   # GX's site builder, reduced to its pages
        site.mkdir(parents=True, exist_ok=True)
        (site / "index.html").write_text(f"<html>{site.name}</html>", encoding="utf-8")
        (site / "validations").mkdir(exist_ok=True)
        (site / "validations" / "run.html").write_text("validation", encoding="utf-8")

    monkeypatch.setattr(validation, "build_data_docs", build)
    site_a = data_docs.payload_site(worker_a, "lab", datetime(2026, 12, 7, 9, 0, 1, tzinfo=timezone.utc))
    build(site_a)                                    # worker A: built, not yet published
    (site_a / "validations" / "half-written.html").write_text("...", encoding="utf-8")
    site_b = data_docs.payload_site(worker_b, "cnemc-air", datetime(2026, 12, 7, 9, 0, 2, tzinfo=timezone.utc))
    data_docs.build_payload_docs(worker_b, site_b)   # worker B publishes its own site
    store = storage.of(worker_b)
    keys = store.keys("data_docs")
    assert f"data_docs/2026-12-07/{site_b.name}/index.html" in keys
    assert not any(site_a.name in key for key in keys), keys   # A's site is A's to publish
    assert (site_a / "validations" / "half-written.html").is_file() and not site_b.exists()
    data_docs.build_payload_docs(worker_a, site_a)   # A finishes: its site goes, whole
    assert store.read(f"data_docs/2026-12-07/{site_a.name}/validations/half-written.html") == b"..."
    assert not site_a.parents[1].exists() and not site_a.is_relative_to(home)   # its own temporary folder, removed
    index = store.read("data_docs/index.html").decode()
    assert site_a.name in index and site_b.name in index


def test_no_migration_imports_live_code_from_pipelines_and_0021_keeps_its_own_copy_of_legacy_key(monkeypatch):
    """A migration must not change when the live code does: 0021 has its own copy of the path rule
    it applied, and still gives an old path its key when pipelines.storage.legacy_key changes."""
    import ast
    import importlib.util
    from pathlib import Path

    versions = Path(__file__).resolve().parents[1] / "warehouse" / "migrations" / "versions"
    for path in sorted(versions.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            assert not any(name.split(".")[0] == "pipelines" for name in names), (path.name, names)
    monkeypatch.setattr(storage, "legacy_key", lambda path: "changed/since")
    spec = importlib.util.spec_from_file_location("migration_0021", versions / "0021_archive_storage_keys.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.legacy_key("/srv/home/archive/lab/2026/11/0123456789abcdef-a.csv") == \
        "archive/lab/2026/11/0123456789abcdef-a.csv"
    assert module.legacy_key("/srv/home/inbox/lab/a.csv") is None
    assert module.legacy_key("/srv/archive/lab/2026/11/sub/a.csv") is None


def test_the_init_job_copies_an_old_envmon_home_into_an_empty_s3_store_before_the_migration(s3_storage, tmp_path):
    """Upgrading a deployment whose archive and documents were kept in ENVMON_HOME to the object
    store compose now defaults to: the init job copies ENVMON_HOME/archive and reports/ into the
    store where a key is missing (before migration 0021 turns the log's paths into keys), so an old
    payload runs again from the store; run again, it copies nothing; a key the store holds with
    another size is kept (written since) and named."""
    from pathlib import Path

    url, endpoint = s3_storage
    home = tmp_path / "home"
    settings = _Settings(home, url, endpoint)
    storage.prepare(settings)
    old_payload = b"station,time,value\n" * 300
    digest = hashlib.sha256(old_payload).hexdigest()
    old = home / "archive" / "lab" / "2026" / "11" / f"{digest[:16]}-a.csv"    # as envmon kept it before
    old.parent.mkdir(parents=True)
    old.write_bytes(old_payload)
    newer = home / "archive" / "cnemc-air" / "2026" / "12" / "0123456789abcdef-hour.csv.gz"
    newer.parent.mkdir(parents=True)
    newer.write_bytes(storage.compress(b"x,y\n" * 10))
    issued = home / "reports" / "bulletins" / "2026-11" / "envmon-bulletin-2026-11.html"
    issued.parent.mkdir(parents=True)
    issued.write_text("<html>十一月</html>", encoding="utf-8")
    (issued.parent / ".envmon-bulletin-2026-11.html.7.partial").write_bytes(b"half")   # a temporary: left
    reissued = home / "reports" / "bulletins" / "2026-10" / "envmon-bulletin-2026-10.html"
    reissued.parent.mkdir(parents=True)
    reissued.write_text("<html>old</html>", encoding="utf-8")
    store = storage.of(settings)
    store.write("reports/bulletins/2026-10/envmon-bulletin-2026-10.html", b"<html>re-issued since</html>")

    first = storage.adopt_local_home(settings)
    assert (first["copied"], first["present"]) == (3, 0), first
    assert first["differs"] == ["reports/bulletins/2026-10/envmon-bulletin-2026-10.html"]
    assert "differ" in first["message"] and "\n" not in first["message"]
    key = old.relative_to(home).as_posix()          # what migration 0021 makes of the old row's path
    assert storage.read_archived(_Settings(tmp_path / "another-worker", url, endpoint), key, digest) == old_payload
    assert store.read(issued.relative_to(home).as_posix()) == issued.read_bytes()
    assert store.read(newer.relative_to(home).as_posix()) == newer.read_bytes()
    assert store.read("reports/bulletins/2026-10/envmon-bulletin-2026-10.html") == b"<html>re-issued since</html>"
    assert not any(".partial" in k for k in store.keys("reports"))
    again = storage.adopt_local_home(settings)       # idempotent: every init runs it
    assert (again["copied"], again["present"], len(again["differs"])) == (0, 3, 1)
    # a key lost from the store: copied again, its size checked
    store.remove(key)
    assert storage.adopt_local_home(settings)["copied"] == 1 and store.size(key) == len(old_payload)
    # the default storage is ENVMON_HOME itself: nothing to copy
    assert storage.adopt_local_home(_Settings(home))["copied"] == 0
    # the init job runs it before the warehouse's migration
    script = "\n".join(line for line in (Path(__file__).resolve().parents[1] / "deploy" / "airflow-init.sh")
                       .read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#"))
    assert 0 < script.index("storage.adopt_local_home(settings)") < script.index("prepare_warehouse()")


def test_a_backfills_sites_built_in_its_own_folder_are_all_published_and_the_folder_removed(
        s3_storage, tmp_path, monkeypatch):
    """`envmon backfill --data-docs` on an object store builds its run's sites in one temporary folder
    of its own (building_root); at the end every site in it is copied to the store and it is removed."""
    from pipelines.quality import data_docs

    url, endpoint = s3_storage
    settings = _Settings(tmp_path / "home", url, endpoint)
    monkeypatch.setattr(_Settings, "data_docs_dir", property(lambda self: self.home / "data_docs"), raising=False)
    storage.prepare(settings)
    root = data_docs.building_root(settings)
    assert root.name.startswith(data_docs.BUILD_PREFIX) and not root.is_relative_to(settings.home)
    for day, source in (("2026-11-30", "simulated-air"), ("2026-12-01", "simulated-water")):
        (root / day / source).mkdir(parents=True)
        (root / day / source / "index.html").write_text(f"<html>{day} {source}</html>", encoding="utf-8")
    data_docs.publish_built(settings, root)
    store = storage.of(settings)
    assert store.read("data_docs/2026-12-01/simulated-water/index.html") == b"<html>2026-12-01 simulated-water</html>"
    assert store.exists("data_docs/2026-11-30/simulated-air/index.html") and not root.exists()
    assert "simulated-air" in store.read("data_docs/index.html").decode()
