"""`envmon collect status`: the collection ledger, per expected hour (air) or snapshot (water), with
totals per source and the feed's open outage episode."""
from __future__ import annotations

import json

from pipelines.config import LIVE_SOURCES

COMMAND = "collect"
TOTALS = ("fetched", "late", "revised", "gap", "failed", "pending")


def add_parsers(commands) -> None:
    collect = commands.add_parser("collect", help="the live feeds' collection: the ledger of expected hours")
    actions = collect.add_subparsers(dest="collect_action", required=True)
    status = actions.add_parser(
        "status", help="each expected hour or snapshot: status, tries, first/last fetched, sha256, rows",
        description="The collection ledger: every expected air hour and water snapshot with its status (pending, "
                    "failed, fetched, late, revised, gap), the collections that asked for it in vain (tries), when "
                    "it was first and last fetched, the sha256 and values of its newest payload; then per source "
                    "the totals and whether a feed outage episode is open.")
    status.add_argument("--source", choices=LIVE_SOURCES, help="one feed (default: both)")
    status.add_argument("--hours", type=int, default=None,
                        help="only the expected times of the last HOURS hours (default: the whole ledger)")
    status.add_argument("--json", action="store_true",
                        help="one JSON object: {'entries': [...], 'totals': {source: {status: n}}, 'outages': {...}}")


def run(settings, args) -> int:
    from datetime import timedelta

    from pipelines import clock, display
    from pipelines.alerts import operational
    from warehouse import collection_ledger, db

    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    since = clock.now() - timedelta(hours=args.hours) if args.hours else None
    frame = collection_ledger.ledger(engine, args.source, since)
    totals = collection_ledger.totals(engine, args.source)
    sources = [args.source] if args.source else list(LIVE_SOURCES)
    totals = {s: totals.get(s, {status: 0 for status in collection_ledger.STATUSES}) for s in sources}
    outages = {s: operational.feed_outage_state(engine, s) for s in sources}
    if args.json:
        entries = [{k: _plain(v) for k, v in row.items()} for row in frame.drop(columns=["updated_at"]).to_dict("records")]
        print(json.dumps({"entries": entries, "totals": totals,
                          "outages": {s: (None if o is None else {"first_gap": o["first_gap"],
                                                                  "opened_at": o["opened_at"].isoformat()})
                                      for s, o in outages.items()}}, ensure_ascii=False))
        return 0

    def when(value) -> str:
        return display.word("dash", "en") if display.is_missing(value) else f"{value.astimezone(clock.BUREAU_TZ):%m-%d %H:%M}"

    def count(value) -> str:
        return display.word("dash", "en") if display.is_missing(value) else str(int(value))

    print("source\texpected (UTC+8)\tstatus\ttries\tfirst fetched\tlast fetched\tsha256\trows")
    for row in frame.itertuples():
        sha = display.word("dash", "en") if display.is_missing(row.sha256) else row.sha256[:12]
        print(f"{row.source}\t{row.expected_at.astimezone(clock.BUREAU_TZ):%Y-%m-%d %H:%M}\t{row.status}\t{row.tries}\t"
              f"{when(row.first_fetched_at)}\t{when(row.last_fetched_at)}\t{sha}\t{count(row.rows)}")
    for source in sources:
        counts = totals[source]
        line = ", ".join(f"{name} {counts.get(name, 0)}" for name in TOTALS)
        outage = outages[source]
        state = f"; outage open since the gap at {outage['first_gap']}" if outage else ""
        print(f"{source}: {line}{state}")
    return 0


def _plain(value):
    from pipelines import display

    if display.is_missing(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value
