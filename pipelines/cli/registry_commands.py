"""`envmon registry unknown` and `envmon registry check`: what the registry does not know, and
whether its files are sound. `envmon registry import`: a bureau's official list compared with the
registry, and applied as its new version (pipelines/reference/official_list.py)."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date

COMMAND = "registry"


def add_parsers(commands) -> None:
    registry = commands.add_parser("registry", help="the registry: stations it lacks, and a check of its files")
    actions = registry.add_subparsers(dest="registry_action", required=True)
    unknown = actions.add_parser(
        "unknown", help="stations and sections the payloads name in the registry's cities that it lacks",
        description="Every station or section that an ingested payload placed in one of the registry's cities (by "
                    "the water feed's city tooltip, or the air feed's area) but that the registry does not hold: "
                    "its readings are counted out of scope until the registry is brought up to date.")
    unknown.add_argument("--json", action="store_true", help="one JSON object per line")
    check = actions.add_parser(
        "check", help="validate the registry files (ids, coordinates, target classes, cross-boundary sections)",
        description="Unique ids; coordinates inside Guangxi or Guangdong; target classes of their standard; every "
                    "cross-boundary section with its kind, jurisdictions and known responsible bureaus. Exit 1 "
                    "when a problem is found.")
    check.add_argument("--json", action="store_true", help="the problems as one JSON list")
    _add_import_parser(actions)
    _add_adopt_parser(actions)


def run(settings, args) -> int:
    if args.registry_action == "import":
        return _import(settings, args)
    if args.registry_action == "adopt":
        return _adopt(settings, args)
    if args.registry_action == "check":
        return _check(args)
    return _unknown(settings, args)


def _check(args) -> int:
    from pipelines.reference.registry_check import check_registry, summary_line

    problems = check_registry()
    if args.json:
        print(json.dumps([{"file": p.file, "row": p.row, "problem": p.message} for p in problems], ensure_ascii=False))
    else:
        for problem in problems:
            print(problem)
        print(summary_line(problems))
    return 1 if problems else 0


def _unknown(settings, args) -> int:
    from warehouse import db, registry_drift

    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    frame = registry_drift.unknown_stations(engine)
    if args.json:
        for row in frame.to_dict("records"):
            print(json.dumps({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()},
                             ensure_ascii=False))
        return 0
    if frame.empty:
        print("registry unknown: no station outside the registry has been seen in its cities")
        return 0
    for row in frame.itertuples():
        where = f"{row.city}" + (f", {row.water_body}" if row.water_body else "")
        print(f"{row.source}\t{row.name_zh} ({where})\tkey {row.station_key}\tseen in {row.payloads_seen} payloads "
              f"({row.values_seen} values out of scope), first {row.first_seen_at:%Y-%m-%d %H:%M}Z\tcity from "
              f"{row.city_basis}")
    print(f"registry unknown: {len(frame)} stations or sections the registry lacks", file=sys.stderr)
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def _add_import_parser(actions) -> None:
    official = actions.add_parser(
        "import", help="compare a bureau's official list (XLSX or CSV) with the registry, and with --apply make it "
                       "the registry's new version",
        description="Reads the list as the bureau keeps it (XLSX, or CSV in UTF-8 or GBK; columns 断面名称, "
                    "所在水体/河流, 所在地市, 断面属性, 水质目标, 经度, 纬度, 责任单位 or their usual variants), "
                    "matches each row to a section by name and river (the CNEMC feed's names included) and prints "
                    "what would change: new sections, sections of the list's cities no longer listed, targets "
                    "changed, coordinates moved. Nothing changes without --apply. A bad file is refused, one line "
                    "per problem, exit 1.")
    official.add_argument("file", metavar="FILE", help="the official list (.xlsx or .csv)")
    official.add_argument("--valid-from", type=_day, required=True, metavar="YYYY-MM-DD",
                          help="the first day the list is in force")
    official.add_argument("--source", help="the document the list comes from (default: the file's name)")
    official.add_argument("--apply", action="store_true",
                          help="write the new registry version and reassess the days whose target changed")
    official.add_argument("--by", help="who applies it (default: the operating-system user)")
    official.add_argument("--json", action="store_true", help="the diff (and what was applied) as one JSON object")


def _import(settings, args) -> int:
    from pipelines.reference import official_list

    try:
        outcome = official_list.import_official_list(
            settings, args.file, valid_from=args.valid_from, source_document=args.source, apply=args.apply,
            applied_by=args.by)
    except official_list.OfficialListError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"registry import: {len(error.problems)} problem{'s' if len(error.problems) > 1 else ''}; the registry "
              "is unchanged", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(outcome.as_json(), ensure_ascii=False))
    else:
        print("\n".join(outcome.lines()))
    return 0


def _add_adopt_parser(actions) -> None:
    adopt = actions.add_parser(
        "adopt", help="add a section or station the feeds publish but the registry lacks, from the feed's own facts",
        description="The unknown station or section (`envmon registry unknown`) named by NAME (its name or its key), "
                    "or every one with --all-unknown, joins the registry as a new registry version (kind adopt), "
                    "recorded with who adopted it and when: a water section with its name, province, basin, river "
                    "and city as the feed gives them; an air station with its code, name, area and coordinates. Its "
                    "target is unset: its classes are computed and its compliance reads 目标未定 until a bureau's "
                    "list sets a target (`envmon registry import`). It is assessed from --from on (default today): "
                    "the days already stored from then are reassessed now. Its readings of earlier payloads were "
                    "counted out of scope at ingest and not stored, so earlier days stay without it; to assess them, "
                    "adopt with an earlier --from, then ingest the archived payloads again (`envmon ingest "
                    "--payload-id N`).")
    adopt.add_argument("names", nargs="*", metavar="NAME", help="an unknown section's or station's name or key")
    adopt.add_argument("--all-unknown", action="store_true", help="adopt every unknown station and section")
    adopt.add_argument("--from", dest="valid_from", type=_day, metavar="YYYY-MM-DD",
                       help="the first day it is assessed (default today, on the bureaus' clock)")
    adopt.add_argument("--by", help="who adopts it (default: the operating-system user)")
    adopt.add_argument("--json", action="store_true", help="what was adopted as one JSON object")


def _adopt(settings, args) -> int:
    from pipelines import clock
    from pipelines.reference.official_list import operating_system_user
    from warehouse import db, registry_adopt

    if bool(args.names) == bool(args.all_unknown):
        print("registry adopt: give NAME (one or more) or --all-unknown, not both", file=sys.stderr)
        return 2
    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    valid_from = args.valid_from or clock.today()
    try:
        outcome = registry_adopt.adopt(engine, names=args.names, all_unknown=args.all_unknown,
                                       applied_by=args.by or operating_system_user(), valid_from=valid_from,
                                       settings=settings)
    except registry_adopt.AdoptionError as error:
        print(error, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"version_id": outcome.applied.version_id if outcome.applied else None,
                          "valid_from": valid_from.isoformat(), "adopted": outcome.adopted,
                          "days_reassessed": (outcome.reassessed or {}).get("days_reassessed", 0)},
                         ensure_ascii=False))
        return 0
    if not outcome.adopted:
        print("registry adopt: no unknown station or section to adopt")
        return 0
    for row in outcome.adopted:
        where = row["city"] + (f", {row['water_body']}" if row["water_body"] else "")
        print(f"{row['name_zh']} ({where})\tjoins as {row['station_id']} from {valid_from}\ttarget unset (目标未定)")
    print(f"registry adopt: {len(outcome.adopted)} joined the registry in version {outcome.applied.version_id} "
          f"(adopt, by {args.by or operating_system_user()}); "
          f"{(outcome.reassessed or {}).get('days_reassessed', 0)} stored days from {valid_from} reassessed")
    return 0
