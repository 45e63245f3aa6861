"""Where Great Expectations' Data Docs are written, on every validation path (issue 25): the nightly
run's simulated batches (a site per day and source) and every payload batch (live collection, the
inbox files, `envmon ingest`: a site per batch, named for the source and the time it was
validated). They go to ENVMON_DATA_DOCS_DIR (default ENVMON_HOME/data_docs), a folder every worker
and the dashboard app reach (its /data-docs/), under one index page, newest day first.

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
from datetime import date, datetime
from pathlib import Path

from pipelines import clock

log = logging.getLogger(__name__)
RETENTION_DAYS = 400  # a year of Data Docs and some, then the oldest days are pruned


def site_dir(settings, day: date, name: str) -> Path:
    return settings.data_docs_dir / day.isoformat() / name


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
        return write_index(settings)
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


def write_index(settings, today: date | None = None) -> Path:
    """One page linking each day's Data Docs, newest first, after pruning the oldest: it stays
    usable after years of nightly runs and collections."""
    root = settings.data_docs_dir
    root.mkdir(parents=True, exist_ok=True)
    days = _days(root)
    newest = date.fromisoformat(days[0].name) if days else (today or clock.today())
    for folder in days:
        if (newest - date.fromisoformat(folder.name)).days > RETENTION_DAYS:
            shutil.rmtree(folder, ignore_errors=True)
    items = []
    for folder in _days(root):
        links = " · ".join(f'<a href="{folder.name}/{s.name}/index.html">{html.escape(s.name)}</a>'
                           for s in sorted(folder.iterdir()) if (s / "index.html").exists())
        items.append(f"<li>{folder.name}: {links}</li>")
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>envmon Data Docs</title></head><body>"
            "<h1>envmon validation (Great Expectations Data Docs)</h1><ul>" + "".join(items) + "</ul></body></html>")
    partial = root / f"index.html.{os.getpid()}.partial"
    partial.write_text(page, encoding="utf-8")
    partial.replace(root / "index.html")   # two workers writing at once: each reader sees a whole page
    return root / "index.html"
