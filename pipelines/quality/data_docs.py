"""Where Great Expectations' Data Docs are written, on every validation path (issue 25): the nightly
run's simulated batches (a site per day and source) and every payload batch (live collection, the
inbox files, `envmon ingest`: a site per batch, named for the source and the time it was
validated). They go to the shared storage's data_docs/ (pipelines/storage.py: ENVMON_STORAGE_URL,
default ENVMON_HOME), which every worker and the dashboard app reach (its /data-docs/), under one
index page, newest day first. On a folder they are built in place; on an object store each site is
built in a temporary folder of its own (tempfile.mkdtemp: two workers sharing ENVMON_HOME never
see each other's sites half built), then that site alone is copied to the store without its static/
(the one shared copy, ENVMON_HOME/data_docs/static/ here and data_docs/static/ in the store, is
copied once; the app serves a site's static/ from it) and its folder removed, and the index is made
from what the store holds, whichever worker wrote it.

Cost: a payload batch's site links the 7 MB of static assets every site shares before it is built
(data_docs_views.SharedAssetsSiteBuilder: GX copies nothing), so it costs its pages alone: about
0.17 s a batch on two shared cores (the first of a process 0.6 s), beside 0.6-0.8 s of validating a
day of the simulated water network (1,863 rows; measured 2026-12-07; copying the assets each time
cost 0.4 s more). `envmon ingest --json` reports it per run as `seconds.data_docs`."""
from __future__ import annotations

import html
import logging
import os
import shutil
import tempfile
from datetime import date, datetime
from pathlib import Path

from pipelines import clock

log = logging.getLogger(__name__)
RETENTION_DAYS = 400  # a year of Data Docs and some, then the oldest days are pruned


BUILD_PREFIX = "envmon-data-docs-"   # the temporary folder a site is built in, on an object store


def building_root(settings) -> Path:
    """Where sites are built: the storage's data_docs/ on a folder; on an object store a new
    temporary folder (tempfile.mkdtemp), this site's or this run's alone, published by publish()."""
    from pipelines import storage

    if storage.of(settings).is_local:
        return settings.data_docs_dir
    return Path(tempfile.mkdtemp(prefix=BUILD_PREFIX))


def site_dir(settings, day: date, name: str) -> Path:
    return building_root(settings) / day.isoformat() / name


def payload_site(settings, source: str, at: datetime | None = None) -> Path:
    """A payload batch's site: its bureau day, then source and time (two batches of a source in
    the same second share it, the later one's page beside the earlier's)."""
    moment = (at or clock.now()).astimezone(clock.BUREAU_TZ)
    return site_dir(settings, moment.date(), f"{source}-{moment:%H%M%S}")


def share_static_assets(site: Path, shared: Path) -> None:
    """Each Data Docs site ships 7 MB of fonts, styles and vendored scripts: keep one copy, link
    it from every site. What the shared copy lacks (the vendored scripts, after an upgrade) moves in."""
    own = site / "static"
    if own.is_symlink() or not own.exists():
        return
    if not shared.exists():
        shutil.move(str(own), str(shared))
    else:
        for entry in own.iterdir():
            if not (shared / entry.name).exists():
                shutil.move(str(entry), str(shared / entry.name))
        vendored, current = own / "vendor" / "manifest.json", shared / "vendor" / "manifest.json"
        if vendored.exists() and (not current.exists() or vendored.read_bytes() != current.read_bytes()):
            shutil.rmtree(shared / "vendor")
            shutil.move(str(own / "vendor"), str(shared / "vendor"))
        shutil.rmtree(own)
    own.symlink_to(os.path.relpath(shared, site), target_is_directory=True)


def build_payload_docs(settings, site: Path) -> Path | None:
    """The Data Docs of the batch just validated (validation.validate without docs_dir keeps its
    result until a site is built), its static/ linked to the shared copy, then the index."""
    from pipelines.quality.validation import build_data_docs

    shared = settings.data_docs_dir / "static"
    try:
        if shared.is_dir() and not (site / "static").exists():   # linked first: GX copies nothing then
            site.mkdir(parents=True, exist_ok=True)
            (site / "static").symlink_to(os.path.relpath(shared, site), target_is_directory=True)
        build_data_docs(site, shared_assets=True)
        share_static_assets(site, shared)
        return publish(settings, [site])
    except OSError as error:   # the docs folder unwritable: the batch is loaded all the same, and the log says so
        log.warning("envmon: the Data Docs of %s could not be written: %s", site, error)
        return None


def _days(root: Path) -> list[Path]:
    found = []
    for path in root.iterdir():
        if not path.is_dir() or path.name == "static":
            continue
        try:
            date.fromisoformat(path.name)
        except ValueError:
            continue
        found.append(path)
    return sorted(found, reverse=True)


def publish(settings, sites=(), today: date | None = None) -> Path:
    """The sites just built (site_dir's <root>/<day>/<name>) published, then the index: on a folder
    they are in place already; on an object store each is copied to the store and its temporary
    folder removed (only these sites: another worker's, built meanwhile, are its own to publish)."""
    return write_index(settings, today, sites)


def publish_built(settings, root: Path) -> Path:
    """Every site built under a building_root (a backfill's run builds its sites in one) published,
    then the index; the root's temporary folder removed."""
    sites = [] if Path(root) == settings.data_docs_dir else \
        [site for day in _days(Path(root)) for site in sorted(day.iterdir()) if site.is_dir()]
    page = publish(settings, sites)
    if Path(root).name.startswith(BUILD_PREFIX):
        shutil.rmtree(root, ignore_errors=True)
    return page


def write_index(settings, today: date | None = None, sites=()) -> Path:
    """One page linking each day's Data Docs, newest first, after pruning the oldest: it stays
    usable after years of nightly runs and collections. On an object store, `sites` (built in their
    temporary folders) are copied to it first, and the page lists the store's."""
    from pipelines import storage

    store = storage.of(settings)
    if not store.is_local:
        return _publish_to_store(settings, store, today, sites)
    root = settings.data_docs_dir
    root.mkdir(parents=True, exist_ok=True)
    days = _days(root)
    newest = date.fromisoformat(days[0].name) if days else (today or clock.today())
    for folder in days:
        if (newest - date.fromisoformat(folder.name)).days > RETENTION_DAYS:
            shutil.rmtree(folder, ignore_errors=True)
    page = _index_page([(folder.name, [s.name for s in sorted(folder.iterdir()) if (s / "index.html").exists()])
                        for folder in _days(root)])
    # two workers writing at once: each reader sees a whole page
    storage.write_atomic(root / "index.html", page.encode("utf-8"))
    return root / "index.html"


def _index_page(days: list[tuple[str, list[str]]]) -> str:
    items = []
    for day, sites in days:
        links = " · ".join(f'<a href="{day}/{site}/index.html">{html.escape(site)}</a>' for site in sites)
        items.append(f"<li>{day}: {links}</li>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>envmon Data Docs</title></head><body>"
            "<h1>envmon validation (Great Expectations Data Docs)</h1><ul>" + "".join(items) + "</ul></body></html>")


def _is_day(name: str) -> bool:
    try:
        date.fromisoformat(name)
    except ValueError:
        return False
    return True


def _upload_tree(store, local: Path, key: str) -> int:
    """Every file under `local` to the store under `key`, a static/ link (the shared copy) left out."""
    count = 0
    for path in sorted(local.rglob("*")):
        relative = path.relative_to(local)
        if "static" in relative.parts[:1] and (local / "static").is_symlink():
            continue
        if path.is_file() and not path.is_symlink():
            store.write(f"{key}/{relative.as_posix()}", path.read_bytes())
            count += 1
    return count


def _publish_to_store(settings, store, today: date | None = None, sites=()) -> Path:
    """Copy these sites, built in temporary folders, to the object store (the shared static assets
    once, or again after an upgrade changed them), remove their folders, prune the store's oldest
    days and write its index page. Returns the local folder's index (a copy of the store's)."""
    from pipelines import storage

    local = settings.data_docs_dir
    local.mkdir(parents=True, exist_ok=True)
    shared = local / "static"
    if shared.is_dir():
        manifest = shared / "vendor" / "manifest.json"
        key = f"{storage.DATA_DOCS}/static/vendor/manifest.json"
        if not store.exists(key) or (manifest.exists() and store.read(key) != manifest.read_bytes()):
            _upload_tree(store, shared, f"{storage.DATA_DOCS}/static")
    built = [Path(site) for site in sites]
    for site in built:
        if site.is_dir() and (site / "index.html").exists() and _is_day(site.parent.name):
            _upload_tree(store, site, f"{storage.DATA_DOCS}/{site.parent.name}/{site.name}")
    for root in {site.parent.parent for site in built}:
        if root.name.startswith(BUILD_PREFIX):   # the temporary folder it was built in (site_dir)
            shutil.rmtree(root, ignore_errors=True)
    fs, root = store.fs, store.path(storage.DATA_DOCS)
    days = sorted((p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)), reverse=True) \
        if fs.isdir(root) else []
    days = [d for d in days if _is_day(d)]
    newest = date.fromisoformat(days[0]) if days else (today or clock.today())
    listed = []
    for day in days:
        if (newest - date.fromisoformat(day)).days > RETENTION_DAYS:
            store.remove(f"{storage.DATA_DOCS}/{day}")
            continue
        sites = sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(f"{root}/{day}", detail=False))
        listed.append((day, sites))
    page = _index_page(listed)
    store.write(f"{storage.DATA_DOCS}/index.html", page.encode("utf-8"))
    storage.write_atomic(local / "index.html", page.encode("utf-8"))
    return local / "index.html"


def served(store, name: str) -> bytes | None:
    """A Data Docs file as the app serves it from an object store (/data-docs/<name>): a site's
    static/ is the one shared copy. None: not there."""
    from pipelines import storage

    candidates = [f"{storage.DATA_DOCS}/{name}"]
    parts = name.split("/")
    if len(parts) > 3 and parts[2] == "static" and _is_day(parts[0]):
        candidates.append(f"{storage.DATA_DOCS}/static/{'/'.join(parts[3:])}")
    for key in candidates:
        try:
            return store.read(key)
        except (FileNotFoundError, ValueError):
            continue
    return None
