"""envmon observations invalidate|flag|restore: a stored value withdrawn or re-flagged with a reason,
or such an action ended (issue 25; warehouse/stewardship.py keeps the record, pipelines/stewardship.py
reassesses what it changed)."""
from __future__ import annotations

import json
import sys
from datetime import date, datetime, time, timedelta

COMMAND = "observations"
ACTIONS = ("invalidate", "flag", "restore")
REQUIRED = ("station", "parameter", "first", "last", "reason")
OPTION_NAMES = {"station": "--station", "parameter": "--parameter", "first": "--from", "last": "--to",
                "reason": "--reason", "flag": "--flag"}


def add_parsers(commands) -> None:
    observations = commands.add_parser(
        COMMAND, help="withdraw or re-flag stored values with a reason, or end such an action (audited, reassessed)",
        description="A value is never deleted: a withdrawn one is kept, flagged withdrawn, left out of every "
                    "assessment and shown in `envmon history` with who, when and why; the days and months it "
                    "touched are assessed again. A re-ingest does not bring it back; `restore` does.")
    actions = observations.add_subparsers(dest="action", required=True)
    helps = {"invalidate": "withdraw the values (flag withdrawn)",
             "flag": "set the values' QC flag by hand (--flag suspect, fail, good, ...)",
             "restore": "end every withdrawal or flag in force on the values: each gets back the flag QC gave it"}
    for name in ACTIONS:
        action = actions.add_parser(name, help=helps[name])
        # options checked in run(), not by argparse, so a bad one gets one line, not the usage
        action.add_argument("--station", help="station, section or coastal point id")
        action.add_argument("--parameter", help="parameter code (e.g. tp, codmn, pm2_5)")
        action.add_argument("--from", dest="first", metavar="TIME",
                            help="the first observation time, ISO 8601 (a day: from its start; no offset: UTC+8)")
        action.add_argument("--to", dest="last", metavar="TIME",
                            help="the last observation time, included (a day: to its end)")
        action.add_argument("--reason", help="why, in words (kept with the action and shown in the history)")
        if name == "flag":
            action.add_argument("--flag", help="the flag to set: good, not_evaluated, suspect, fail, missing, withdrawn")
        action.add_argument("--source", help="only the values of one source (default: every source)")
        action.add_argument("--layer", help="only one layer of a coastal point (surface, bottom)")
        action.add_argument("--by", help="who acts (default: the operating-system user)")
        action.add_argument("--json", action="store_true", help="print the outcome as one JSON object")


def _instant(text: str, end_of_day: bool) -> datetime:
    """An ISO 8601 time (no offset: UTC+8), or a day: its start, or with end_of_day its last instant."""
    from pipelines.clock import BUREAU_TZ

    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(0), BUREAU_TZ)
            return start + timedelta(days=1) - timedelta(microseconds=1) if end_of_day else start
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time or day: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=BUREAU_TZ)


def _problem(settings, args):
    """The one line a bad option gets, or the scope of the action."""
    from pipelines.reference import standards
    from warehouse import stewardship

    missing = [OPTION_NAMES[name] for name in (*REQUIRED, *(("flag",) if args.action == "flag" else ()))
               if not (getattr(args, name, None) or "").strip()]
    if missing:
        return f"observations {args.action} needs {', '.join(missing)}", None
    if args.action == "flag" and args.flag not in stewardship.steward_flags():
        return f"--flag {args.flag!r} is not a flag: one of {', '.join(stewardship.steward_flags())}", None
    if args.parameter not in standards.parameters().index:
        return f"--parameter {args.parameter!r} is not a parameter code (pipelines/reference/data/parameters.csv)", None
    if args.source and args.source not in _sources():
        return f"--source {args.source!r} is not a source: one of {', '.join(_sources())}", None
    try:
        first, last = _instant(args.first, False), _instant(args.last, True)
    except ValueError as error:
        return f"--from/--to: {error}", None
    if last < first:
        return f"--to {args.last} is before --from {args.first}", None
    return None, stewardship.Scope(args.station, args.parameter, first, last, args.source or None,
                                   args.layer if args.layer is not None else None)


def _sources() -> tuple[str, ...]:
    from pipelines.observations import SOURCE_DOMAINS

    return tuple(SOURCE_DOMAINS)


def _known_station(engine, station_id: str) -> bool:
    """In the registry in force (the warehouse's version), or among the stations of stored values."""
    from sqlalchemy import select

    from pipelines.reference import registry
    from warehouse import schema

    if station_id in set(registry.all_stations()["station_id"]) | set(registry.sea_points().index):
        return True
    with engine.connect() as connection:
        return connection.execute(select(schema.stations.c.station_id).where(
            schema.stations.c.station_id == station_id)).first() is not None


def run(settings, args) -> int:
    from pipelines import stewardship as steward
    from warehouse import stewardship

    problem, scope = _problem(settings, args)
    if problem:
        print(f"envmon: {problem}", file=sys.stderr)
        return 2
    from warehouse import db

    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)  # the registry in force is the warehouse's
    if not _known_station(engine, args.station):
        print(f"envmon: --station {args.station!r} is not a station, section or point of the registry", file=sys.stderr)
        return 2
    by = (args.by or "").strip() or _os_user()
    action = {"invalidate": "withdraw", "flag": "flag", "restore": "restore"}[args.action]
    try:
        outcome = steward.take(settings, action, scope, args.reason, by, flag=getattr(args, "flag", None))
    except stewardship.StewardshipError as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(outcome, ensure_ascii=False, default=str))
        return 0
    print(f"{outcome['values']} value{'s' if outcome['values'] != 1 else ''} of {scope.shown()}: {outcome['said']} "
          f"(action {outcome['stewardship_id']}"
          + (f"; ended actions {', '.join(map(str, outcome['ended']))}" if outcome.get("ended") else "") + ")")
    days = outcome["days"]
    print(f"reassessed {len(days)} day{'s' if len(days) != 1 else ''}: {', '.join(days)}; "
          f"{len(outcome['changed_results'])} results changed, the earlier ones kept in assessment_history")
    for change in outcome["changed_results"]:
        print(f"  {change['period_start']} {change['station_id']} ({change['period']}): {change['before']} → "
              f"{change['after']}")
    return 0


def _os_user() -> str:
    from warehouse import security_audit

    return security_audit.cli_address().removeprefix("cli:")
