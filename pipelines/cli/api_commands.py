"""`envmon api` (the open data API, pipelines/api) and `envmon apikeys add|list|revoke` (its partner
keys, warehouse/api_store.py)."""
from __future__ import annotations

import getpass
import json
import sys

COMMANDS = ("api", "apikeys")


def add_parsers(commands) -> None:
    api = commands.add_parser(
        "api", help="serve the warehouse as OGC API – Features and EDR (public and partner tiers)",
        description="Serves /api: landing page, conformance, OpenAPI, the collections sections, air-stations, "
                    "coastal-points, assessments (GeoJSON) and water-, air- and coastal-observations (EDR, "
                    "CoverageJSON). Reads ENVMON_API_WAREHOUSE_URL, else the warehouse URL; rate limits "
                    "ENVMON_API_PUBLIC_RATE (default 60/minute per address) and ENVMON_API_PARTNER_RATE.")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=8070, help="port (default 8070)")
    keys = commands.add_parser("apikeys", help="manage the open data API's partner keys")
    actions = keys.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="issue a key to an organisation (printed once, stored hashed)")
    add.add_argument("organisation", metavar="ORG")
    add.add_argument("--scope", required=True, action="append",
                     help="city:NAME (玉林市 or the bureau's id, yulin) or section:ID; repeat or comma-separate")
    add.add_argument("--json", action="store_true", help="print {key_id, organisation, scope, key} as JSON")
    listing = actions.add_parser("list", help="list the keys (never the keys themselves)")
    listing.add_argument("--json", action="store_true", help="one JSON object per key")
    revoke = actions.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id", type=int, metavar="KEY_ID")


def run(settings, args) -> int:
    import os

    from warehouse import db

    if args.command == "api":
        from pipelines.api import app

        url = os.environ.get("ENVMON_API_WAREHOUSE_URL") or settings.warehouse_url
        db.check_reachable(url)
        _check_migrated(url)
        print(f"envmon api on http://{args.host}:{args.port}/api", file=sys.stderr)
        app.serve(args.host, args.port, url)
        return 0
    db.check_reachable(settings.warehouse_url)
    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    return _keys(engine, args)


def _check_migrated(url: str) -> None:
    from sqlalchemy import inspect

    from warehouse import db

    if not inspect(db.engine_for(url)).has_table("api_keys"):
        raise RuntimeError("the warehouse has no api_keys table: migrate it first (envmon apikeys list does)")


def _keys(engine, args) -> int:
    from pipelines.api import access
    from pipelines.reference import registry
    from warehouse import api_store, security_audit

    who = _os_user()
    try:
        if args.action == "add":
            items = api_store.parse_scope(",".join(args.scope))
            scope = api_store.check_scope(items, registry.all_stations(), access.city_of_bureau())  # the registry in force
            row, key = api_store.add_key(engine, args.organisation, scope, who, security_audit.cli_address())
            if args.json:
                print(json.dumps({"key_id": row.key_id, "organisation": row.organisation, "scope": row.scope,
                                  "key": key}, ensure_ascii=False))
            else:
                print(f"API key {row.key_id} for {row.organisation}, scope {row.scope}:")
                print(key)
                print("It is shown this once: hand it to the organisation; envmon keeps only its hash.",
                      file=sys.stderr)
            return 0
        if args.action == "revoke":
            row = api_store.revoke_key(engine, args.key_id, who, security_audit.cli_address())
            print(f"API key {row.key_id} of {row.organisation} ({row.key_prefix}…) revoked")
            return 0
    except api_store.ApiKeyError as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 1
    keys = api_store.list_keys(engine)
    for row in keys.to_dict("records"):
        state = f"revoked {row['revoked_at']:%Y-%m-%d %H:%M} UTC" if row["revoked_at"] is not None else "in force"
        if args.json:
            print(json.dumps({**row, "created_at": row["created_at"].isoformat(),
                              "revoked_at": row["revoked_at"] and row["revoked_at"].isoformat()}, ensure_ascii=False))
        else:
            print(f"{row['key_id']}\t{row['organisation']}\t{row['key_prefix']}…\t{row['scope']}\t"
                  f"added {row['created_at']:%Y-%m-%d %H:%M} UTC by {row['created_by']}\t{state}")
    if not len(keys) and not args.json:
        print("no API keys")
    return 0


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
