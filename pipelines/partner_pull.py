"""Pulling a partner's shared sections (the source partner-edr, issue 26): `envmon ingest --source
partner-edr --url URL --key-file PATH` and the collection DAG dags/envmon_collect_partners.py.

A pull asks the partner's EDR area query over the whole earth (the key's scope decides which
sections come back) for the values stored there since the watermark (`changed-since`), page by
page along the `next` links, and ingests each page through the one payload path
(pipelines/ingest/batches.py): archived as received, logged, validated, QC'd, merged (a changed value
for the same key is a revision, the old one kept in observation_history and shown by `envmon
history`), and the days it touched assessed again.

The watermark is kept per partner URL (partner_pulls, warehouse/partner_store.py) on the partner's
own clock: its Last-Modified at the start of the last complete pull, less an overlap
(PULL_OVERLAP), because a value the partner logged before that instant may have been committed
after it. The overlap's values come back at the next pull, and a page whose every row is held here
already as it is brings nothing new: it is not ingested (no payload, no revision). The first page
is asked with the ETag the same request had last time (If-None-Match): a partner with nothing new
answers 304 and nothing is read. A pull that fails part-way keeps what it stored and does not move
the watermark: the next one asks again from there.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from pipelines import clock, nightly
from pipelines.config import Settings, load_settings
from pipelines.ingest import batches, payloads
from pipelines.sources import partner_edr
from pipelines.sources.partner_edr import SOURCE, PartnerError
from warehouse import db, partner_store

PULL_OVERLAP = timedelta(hours=1)
COUNTS = ("read", "loaded", "quarantined", "out_of_scope", "revised")


def pull(url: str, key_file: Path, settings: Settings | None = None, now: datetime | None = None,
         retry=None, page_rows: int = partner_edr.PAGE_ROWS, transport=None) -> dict:
    """One pull of a partner; the summary (see `envmon ingest --source partner-edr --json`).
    PartnerError (one line) when the partner cannot be read at all."""
    settings = settings or load_settings()
    now = now or clock.now()
    credentials = partner_edr.read_key_file(key_file)
    root = partner_edr.api_root(url)
    nightly.prepare_warehouse(settings)
    engine = db.engine_for(settings.warehouse_url)
    resumed = payloads.resume_payloads(settings, SOURCE)  # what a fault left unfinished, first
    kept = partner_store.state(engine, root) or {}
    with partner_edr.PartnerClient(root, credentials.key, retry=retry, transport=transport) as client:
        organisation = credentials.organisation or kept.get("organisation") or \
            partner_edr.organisation_of(_landing(client), root)
        state = {"partner_url": root, "organisation": organisation, "collection": partner_edr.COLLECTION,
                 "watermark": kept.get("watermark"), "last_modified": kept.get("last_modified"),
                 "first_page_url": kept.get("first_page_url"), "first_page_etag": kept.get("first_page_etag"),
                 "last_pulled_at": now, "last_error": None, "pages": 0, "rows_received": 0, "payloads": 0}
        first_url = client.area_url(state["watermark"], page_rows)
        etag = state["first_page_etag"] if state["first_page_url"] == first_url else None
        try:
            first = client.get(first_url, etag)
        except PartnerError as error:
            partner_store.save_state(engine, {**state, "last_status": "failed", "last_error": str(error)[:500]})
            raise
        if first.status == 304:
            partner_store.save_state(engine, {**state, "last_status": "not_modified"})
            return _summary(state, [], resumed, not_modified=True)
        walk = _Walk(engine, client, first, organisation, now)
        outcome = batches.ingest(walk.payloads(), settings, again=True, assess=True)
    state.update(pages=walk.pages, rows_received=walk.rows, payloads=len(outcome.summaries),
                 first_page_url=first_url, first_page_etag=first.etag)
    failed = [{"file": r["file"], "error": r["error"]} for r in outcome.refused] + walk.failed
    if walk.failed or outcome.refused:
        state.update(last_status="failed", last_error="; ".join(f["error"] for f in failed)[:500])
    else:  # complete: the next pull asks from the partner's Last-Modified, less the overlap
        state["last_status"] = "pulled"
        if first.last_modified is not None:
            state["last_modified"] = first.last_modified
            mark = first.last_modified - PULL_OVERLAP
            state["watermark"] = mark if state["watermark"] is None else max(mark, state["watermark"])
    partner_store.save_state(engine, state)
    summary = _summary(state, outcome.summaries, resumed, pages_unchanged=walk.unchanged, failed=failed)
    summary["days"] = sorted(d.isoformat() for d in outcome.assessed_days)
    return summary


def _landing(client) -> dict:
    try:
        return client.landing()
    except PartnerError:
        return {}


class _Walk:
    """The pages of one pull, fetched as the batches take them: each page that brings something
    new becomes a payload; a page that fails to come ends the walk (what came is stored)."""

    def __init__(self, engine, client, first, organisation: str, now: datetime):
        self.engine, self.client, self.first, self.organisation, self.now = engine, client, first, organisation, now
        self.pages = self.rows = self.unchanged = 0
        self.failed: list[dict] = []

    def payloads(self):
        from pipelines.sources import files

        page, seen = self.first, set()
        while page is not None:
            self.pages += 1
            seen.add(page.url)
            name = partner_edr.payload_name(self.organisation, self.pages)
            try:
                parsed = files.parse_payload(SOURCE, page.body, name, self.now)
            except files.PayloadError:
                parsed = None  # refused by the ingest, with its reason
            if parsed is not None:
                self.rows += parsed.read
            if parsed is not None and parsed.rejected.empty and parsed.out_of_scope == 0 and \
                    partner_store.brings_nothing_new(self.engine, SOURCE, parsed.observations):
                self.unchanged += 1
            else:
                yield batches.Payload(SOURCE, name, self.now, origin=page.url, content=page.body)
            if page.next_url is None or page.next_url in seen:
                return
            try:
                page = self.client.get(page.next_url)
            except PartnerError as error:
                self.failed.append({"file": page.next_url, "error": str(error)})
                return


def _summary(state: dict, summaries: list[dict], resumed: dict, not_modified: bool = False, pages_unchanged: int = 0,
             failed: list | None = None) -> dict:
    totals = {"domain": "water", **{key: 0 for key in COUNTS}}
    for summary in summaries:
        for key in COUNTS:
            totals[key] += summary["sources"][SOURCE].get(key, 0)
    totals["reconciled"] = totals["read"] == totals["loaded"] + totals["quarantined"] + totals["out_of_scope"]
    return {
        "sources": {SOURCE: totals},
        "partner": {"url": state["partner_url"], "organisation": state["organisation"],
                    "collection": state["collection"], "not_modified": not_modified, "pages": state["pages"],
                    "pages_unchanged": pages_unchanged, "rows_received": state["rows_received"],
                    "watermark": _iso(state["watermark"]), "last_modified": _iso(state["last_modified"])},
        "payloads": [s["payload_id"] for s in summaries], "resumed": resumed.get("resumed", []),
        "days": [], "failed": failed or []}


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def pull_partners(partners_file: Path | None = None, settings: Settings | None = None) -> dict:
    """Every partner of the partners file (ENVMON_PARTNERS), one after the other: the collection
    DAG's task. One partner that cannot be read does not stop the others; the task fails at the
    end, naming each."""
    from pipelines.partners import partners

    results, failures = {}, []
    for partner in partners(partners_file):
        try:
            results[partner["url"]] = pull(partner["url"], partner["key_file"], settings)
        except PartnerError as error:
            failures.append(f"{partner['url']}: {error}")
        else:
            failures += [f"{partner['url']}: {f['error']}" for f in results[partner["url"]]["failed"]]
    if failures:
        raise PartnerError("; ".join(failures))
    return results
