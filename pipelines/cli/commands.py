"""envmon command line: run the nightly job, export the warehouse, ingest a payload file."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from pipelines import clock
from pipelines.clock import yesterday
from pipelines.alerts import cli as alerts_cli
from pipelines.config import data_label, load_settings
from dashboards.app import cli as dashboard_cli
from pipelines.reports import cli as reports
from pipelines.cli import backup_commands, collect_commands, registry_commands
from pipelines.cli import stewardship_commands
from pipelines.clock import BUREAU_TZ
from pipelines.cli import api_commands

EXPORTS = ("observations", "assessments", "quarantine", "alerts", "published", "payloads", "history", "rollups",
           "assessment-history", "air-annual")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def _positive_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("--days must be at least 1")
    return value


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=BUREAU_TZ)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="envmon", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="on an error, print the traceback too (also ENVMON_DEBUG=1); anywhere on the line")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the nightly DAG in-process for one or more days")
    run.add_argument("--date", type=_day, help="the last day to run (default: yesterday, Asia/Shanghai)")
    run.add_argument("--days", type=_positive, default=1, help="how many days, ending on --date (default 1)")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    run.add_argument("--replay", type=Path, metavar="DIR",
                     help="play a folder of recorded feed payloads (manifest.csv; e.g. replay/) through the live "
                          "collection at each payload's fetch time, then each day's nightly run (default days: "
                          "every day the folder reaches; pipelines/sources/replay.py)")
    backfill = commands.add_parser(
        "backfill", help="run the nightly DAG for every day of a range, one day at a time",
        description="Without --deployment the DAG runs in-process (dag.test, no scheduler) on the configured "
                    "warehouse, the embedded default unless ENVMON_WAREHOUSE_URL says otherwise. With --deployment "
                    "the range goes to the Airflow deployment this environment is configured for "
                    "(`airflow backfill create`, one run at a time); the runs are then the scheduler's.")
    backfill.add_argument("--from", dest="first", type=_day, required=True, help="the first day, YYYY-MM-DD")
    backfill.add_argument("--to", dest="last", type=_day, required=True, help="the last day, YYYY-MM-DD")
    backfill.add_argument("--deployment", action="store_true",
                          help="submit to the Airflow deployment (AIRFLOW_HOME / AIRFLOW__* settings) instead")
    backfill.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    export = commands.add_parser("export", help="write a warehouse table to stdout")
    export.add_argument("table", choices=EXPORTS)
    export.add_argument("--format", choices=("csv",), default="csv")
    ingest = commands.add_parser(
        "ingest", help="ingest payload files of a real feed: one, several, a folder or a glob",
        description="Each payload is archived as received and logged on its own, so one that cannot be read is "
                    "refused alone while the others load. Many payloads are validated and stored in batches of "
                    "--batch-size observations, and the days they touched are assessed once, at the end. A file "
                    "whose content the log already holds as loaded is not ingested again (--again does).")
    ingest.add_argument("--source", choices=("cnemc-water", "cnemc-air", "lab", "coastal", "partner-edr"))
    ingest.add_argument("--file", type=Path, action="append",
                        help="a payload file; give --file several times for several")
    ingest.add_argument("--dir", type=Path, action="append", dest="folder", metavar="FOLDER",
                        help="every file of a folder (not hidden ones, not its subfolders), in name order")
    ingest.add_argument("--glob", action="append", metavar="PATTERN",
                        help="the files a pattern matches, in name order (quote it; ** recurses)")
    ingest.add_argument("--batch-size", type=_positive_count, default=None, metavar="N",
                        help="observations validated and stored together (default 250000): memory follows it")
    ingest.add_argument("--again", action="store_true",
                        help="ingest a file again even if the log holds its content as loaded already")
    ingest.add_argument("--payload-id", type=int, help="re-ingest a logged payload from the archive")
    ingest.add_argument("--resume", action="store_true",
                        help="finish every payload a fault left unfinished (received, stored, or failed for a "
                             "reason other than its content), of --source or of all sources")
    ingest.add_argument("--fetched-at", type=_timestamp, help="when it was fetched (default: file modification time)")
    ingest.add_argument("--json", action="store_true")
    ingest.add_argument("--url", help="partner-edr: the partner's OGC API root (https://host/api); its shared sections "
                                      "are pulled since the watermark kept for that URL")
    ingest.add_argument("--key-file", type=Path, metavar="PATH",
                        help="partner-edr: the file holding our key for the partner (key = \"...\", organisation = "
                             "\"...\"; see pipelines/sources/partner_edr.py)")
    history = commands.add_parser("history", help="list every version of a value, each with its payload")
    history.add_argument("--station", required=True, help="station or section id")
    history.add_argument("--parameter", required=True, help="parameter code")
    history.add_argument("--at", type=_timestamp, help="one observation time (default: all times)")
    classify = commands.add_parser("classify", help="classify the rows of a CSV by the standards (calculator)")
    classify.add_argument("domain", choices=("surface-water", "seawater", "air"))
    classify.add_argument("--input", required=True, type=Path, help="CSV with parameter-code columns")
    alerts_cli.add_parsers(commands)  # alerts list, ack, resolve, retry
    dashboard_cli.add_commands(commands)  # dashboard, users
    reports.add_parsers(commands)  # bulletin, assessment-report
    registry_commands.add_parsers(commands)  # registry unknown, registry check
    collect_commands.add_parsers(commands)  # collect status (the collection ledger)
    api_commands.add_parsers(commands)  # api, apikeys (the open data API, issue 26)
    backup_commands.add_parsers(commands)  # backup, restore
    stewardship_commands.add_parsers(commands)  # observations invalidate, flag, restore (issue 25)
    reassess = commands.add_parser(
        "reassess", help="recompute the stored assessments of a range of days under the rules in force",
        description="After a change of the rule tables (pipelines/reference/data): every day of the range that "
                    "holds assessments is assessed again from its stored observations, under the rules in force "
                    "at the day. Each result records its rule version; one computed under other rules is kept "
                    "in assessment_history (envmon export assessment-history).")
    reassess.add_argument("--from", dest="first", type=_day, required=True, help="the first day, YYYY-MM-DD")
    reassess.add_argument("--to", dest="last", type=_day, required=True, help="the last day, YYYY-MM-DD")
    reassess.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    return parser


EPILOG = """exit status: 0 done; 1 failed (one line on stderr says why); 2 bad usage or input;
3 the warehouse cannot be reached. --debug (or ENVMON_DEBUG=1) adds the traceback."""
UNREACHABLE_EXIT = 3


def main(argv: list[str] | None = None) -> int:
    """The command line. No error ends in a traceback: one line on stderr and an exit status,
    the traceback too with --debug or ENVMON_DEBUG=1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("ENVMON_DEBUG", "").lower() in ("1", "true", "yes")
    try:
        args = build_parser().parse_args([a for a in argv if a != "--debug"])  # usage errors: SystemExit 2
        return _dispatch(args)
    except KeyboardInterrupt:
        print("envmon: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the one place every error becomes one line
        from warehouse.db import WarehouseUnreachable

        if debug:
            import traceback

            traceback.print_exc()
        hint = "" if debug else " (--debug for the traceback)"
        print(f"envmon: {describe_error(error)}{hint}", file=sys.stderr)
        return UNREACHABLE_EXIT if isinstance(error, WarehouseUnreachable) else 1


def describe_error(error: BaseException) -> str:
    """One line for an error: the warehouse's, the disk's or envmon's own words, else its type."""
    from sqlalchemy.exc import DBAPIError

    from warehouse import db

    if isinstance(error, DBAPIError):
        return f"the warehouse failed: {db.operational_reason(error)}"
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else ""
    if isinstance(error, OSError) or type(error).__module__.startswith(("pipelines", "warehouse")):
        return first or type(error).__name__
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


NEEDS_WAREHOUSE = ("run", "backfill", "export", "ingest", "history", "reassess", "collect", *reports.COMMANDS,
                   stewardship_commands.COMMAND)


def _dispatch(args) -> int:
    try:
        settings = load_settings()
    except ValueError as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 2
    if args.command in NEEDS_WAREHOUSE and not getattr(args, "deployment", False):
        from warehouse import db

        db.check_reachable(settings.warehouse_url)  # pre-flight: one line within seconds, not a hang
    if args.command in dashboard_cli.COMMANDS:  # no warehouse pre-flight: the app reads its own URL
        return dashboard_cli.run(args)
    if args.command == "run" and args.replay:
        return _run_replay(settings, args)
    if args.command == "run":
        last = args.date or yesterday()
        return _run_days(settings, [last - timedelta(days=offset) for offset in range(args.days - 1, -1, -1)], args.json)
    if args.command == "backfill":
        return _backfill(settings, args)
    if args.command == "export":
        return _export(settings, args.table)
    if args.command == "history":
        return _history(settings, args)
    if args.command in reports.COMMANDS:
        return reports.run(settings, args)
    if args.command == "classify":
        return _classify(args)
    if args.command == alerts_cli.COMMAND:
        return alerts_cli.run(settings, args)
    if args.command == registry_commands.COMMAND:
        return registry_commands.run(settings, args)
    if args.command == collect_commands.COMMAND:
        return collect_commands.run(settings, args)
    if args.command in api_commands.COMMANDS:
        return api_commands.run(settings, args)
    if args.command in backup_commands.COMMANDS:
        return backup_commands.run(settings, args)
    if args.command == stewardship_commands.COMMAND:
        return stewardship_commands.run(settings, args)
    if args.command == "reassess":
        return _reassess(settings, args)
    return _ingest(settings, args)


def _reassess(settings, args) -> int:
    from pipelines.ingest.reassess import reassess

    if args.last < args.first:
        print(f"envmon: --to {args.last} is before --from {args.first}", file=sys.stderr)
        return 2
    summary = reassess(args.first, args.last, settings)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
        return 0
    print(f"reassessed {summary['days_reassessed']} days ({summary['from']} … {summary['to']}): "
          f"{summary['new_rule_version']} of {summary['assessments']} assessments under a new rule version, "
          f"{summary['result_changed']} with a different result, {summary['kept_in_history']} earlier results kept "
          "in assessment_history")
    for transition, count in summary["rule_versions"].items():
        print(f"  {transition}: {count}")
    for change in summary["changed_results"]:
        print(f"  {change['period_start']} {change['station_id']}: {change['before']} → {change['after']}")
    return 0


def _classify(args) -> int:
    from pipelines.assessment.calculator import InputError, classify_file

    if not args.input.is_file():
        print(f"envmon: no such file {args.input}", file=sys.stderr)
        return 2
    try:
        result = classify_file(args.domain, args.input)
    except InputError as error:
        print(f"envmon: {args.input}: {error}", file=sys.stderr)
        return 2
    result.to_csv(sys.stdout, index=False)
    return 0


def _backfill(settings, args) -> int:
    if args.last < args.first:
        print(f"envmon: --to {args.last} is before --from {args.first}", file=sys.stderr)
        return 2
    if args.deployment:
        from pipelines.runner import DagRunFailed, submit_backfill

        try:
            submitted = submit_backfill(args.first, args.last)
        except DagRunFailed as error:
            print(f"envmon: {error}", file=sys.stderr)
            return 1
        print(json.dumps(submitted) if args.json else
              f"backfill of {submitted['dag_id']} submitted: {args.first} … {args.last}, "
              f"one run at a time (runs at {submitted['from_date']} … {submitted['to_date']})")
        return 0
    days = [args.first + timedelta(days=n) for n in range((args.last - args.first).days + 1)]
    return _run_days(settings, days, args.json)


def _run_days(settings, days: list[date], as_json: bool) -> int:
    from pipelines import nightly
    from pipelines.runner import DagRunFailed, run_days
    from pipelines.cli.summary import run_summary
    from warehouse import db

    started = clock.now()
    log_path = settings.home / "logs" / f"run-{started:%Y%m%dT%H%M%S}.log"
    try:
        run_days(settings, days, log_path)
    except DagRunFailed as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 1
    summary = run_summary(db.engine_for(settings.warehouse_url), days, started,
                          str(settings.dashboard_dir / "index.html"), data_label(settings))
    summary["log"] = str(log_path)
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print_summary(summary)
    return 0


def _run_replay(settings, args) -> int:
    """`envmon run --replay DIR`: the days of a replay (pipelines/sources/replay.py), then the run's
    summary as `envmon run` prints it, with the replay's collections."""
    from pipelines import nightly
    from pipelines.cli.summary import run_summary
    from pipelines.runner import DagRunFailed
    from pipelines.sources import replay
    from warehouse import db

    days = None
    if args.date or args.days > 1:
        last = args.date or yesterday()
        days = [last - timedelta(days=offset) for offset in range(args.days - 1, -1, -1)]
    started = clock.now()
    log_path = settings.home / "logs" / f"replay-{started:%Y%m%dT%H%M%S}.log"
    try:
        played = replay.run_replay(settings, args.replay, days, log_path)
    except replay.ReplayError as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 2
    except DagRunFailed as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 1
    run_days = [date.fromisoformat(day) for day in played["days"]]
    summary = run_summary(db.engine_for(settings.warehouse_url), run_days, started,
                          str(settings.dashboard_dir / "index.html"), data_label(replace_mode(settings)))
    summary["log"] = str(log_path)
    summary["replay"] = {key: played[key] for key in ("replay", "collections", "payloads_served", "failed_collections")}
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
        return 0
    _print_summary(summary)
    print(f"replay {played['replay']}: {len(run_days)} days, {played['collections']} collections, "
          f"{played['payloads_served']} payloads served by the replay feed, "
          f"{len(played['failed_collections'])} collections failed")
    for failure in played["failed_collections"]:
        print(f"  {failure['at']} {failure['source']}: {failure['error']}")
    return 0


def replace_mode(settings):
    """The settings a replay runs under: live mode, its feeds the replay's."""
    import dataclasses

    return dataclasses.replace(settings, source_mode="live")


def _counts(counts: dict) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counts.items())) or "none"


def _print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"envmon run {summary['days'][0]} … {summary['days'][-1]} ({summary['data']})")
    for column in ("source", "domain", "read", "loaded", "quarantined", "reconciled"):
        table.add_column(column)
    for name, entry in summary["sources"].items():
        table.add_row(name, entry["domain"], str(entry["read"]), str(entry["loaded"]), str(entry["quarantined"]),
                      "yes" if entry["reconciled"] else "NO")
    console.print(table)
    for name, entry in summary["sources"].items():
        flagged = {flag: n for flag, n in entry["qc_flags"].items() if flag not in ("good", "not_evaluated")}
        if flagged or entry["quarantined_by_rule"]:
            console.print(f"{name}: flagged {_counts(flagged)} · quarantined by rule {_counts(entry['quarantined_by_rule'])}")
    console.print(f"sections assessed: {summary['sections_assessed']} · coastal points assessed: "
                  f"{summary['coastal_points_assessed']} · cross-boundary failures (section-days): "
                  f"{summary['cross_boundary_failures']} · alerts raised: {summary['alerts_raised']}")
    from pipelines.alerts import report

    for line in report.lines(summary):
        console.print(line, highlight=False, markup=False)
    unknown = summary.get("registry_unknown") or {}
    if unknown.get("total"):
        console.print(f"registry unknown: {unknown['total']} stations or sections in the registry's cities that it lacks "
                      f"({unknown['seen']} seen in this run, {unknown['new']} new): envmon registry unknown")
    console.print(f"dashboard: {summary['dashboard']}\nlog: {summary['log']}")


def _export(settings, table: str) -> int:
    from pipelines.cli import exports
    from warehouse import db

    frame = exports.export_frame(db.engine_for(settings.warehouse_url), table)
    try:
        frame.to_csv(sys.stdout, index=False)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader (head, a pager) closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


HISTORY_COLUMNS = ["station_id", "parameter", "observed_at", "averaging_period", "layer", "version", "value",
                   "original_value", "qc_flag", "source", "batch_id", "payload_id", "payload_origin",
                   "payload_received_at", "superseded_at", "superseded_by_payload_id",
                   # issue 25: the steward's action in force on the version, and the one that replaced it, in words
                   "stewardship", "superseded_by_stewardship"]


def _history(settings, args) -> int:
    """The versions of a value as CSV, oldest first: what each payload said, and what replaced it."""
    import pandas as pd

    from warehouse import db

    versions = db.value_versions(db.engine_for(settings.warehouse_url), args.station, args.parameter, args.at)
    if versions.empty:
        print(f"envmon: no {args.parameter} values of {args.station}" + (f" at {args.at.isoformat()}" if args.at else ""),
              file=sys.stderr)
        return 1
    for column in ("observed_at", "payload_received_at", "superseded_at"):
        versions[column] = [t.isoformat() if isinstance(t, datetime) and not pd.isna(t) else "" for t in versions[column]]
    from warehouse import stewardship  # 'withdrawn by X on D: reason' (issue 25)

    engine = db.engine_for(settings.warehouse_url)
    versions["stewardship"] = stewardship.described(engine, versions["stewardship_id"])
    versions["superseded_by_stewardship"] = stewardship.described(engine, versions["superseded_by_stewardship_id"])
    versions.reindex(columns=HISTORY_COLUMNS).to_csv(sys.stdout, index=False)
    return 0


def _resume(settings, args) -> int:
    from pipelines.ingest import payloads

    result = payloads.resume_payloads(settings, args.source)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "summaries"}, ensure_ascii=False))
    else:
        print(f"resumed {len(result['resumed'])} payloads" + (f" ({', '.join(map(str, result['resumed']))})"
                                                               if result["resumed"] else "")
              + (f"; days re-assessed: {', '.join(result['days'])}" if result["days"] else ""))
        for busy in result["busy"]:
            print(f"payload {busy}: being ingested by another process, left to it")
        for given_up in result["given_up"]:
            print(f"payload {given_up}: failed {payloads.MAX_ATTEMPTS} times; retry it with --payload-id {given_up}")
    for failed in result["failed"]:
        print(f"envmon: payload {failed['payload_id']}: {failed['error']}", file=sys.stderr)
    return 1 if result["failed"] else 0


def _ingest(settings, args) -> int:
    from pipelines.ingest import payloads
    from pipelines.sources.files import PayloadError

    if args.resume:
        return _resume(settings, args)
    if args.source == "partner-edr" or args.url or args.key_file:
        return _pull_partner(settings, args)
    if args.payload_id is not None:
        try:
            summary = payloads.reingest(args.payload_id, settings)
        except (KeyError, FileNotFoundError, PayloadError) as error:
            print(f"envmon: payload {args.payload_id}: {error}", file=sys.stderr)
            return 1
        return _print_payload(summary, args.json)
    files, folders, patterns = args.file or [], args.folder or [], args.glob or []
    if not args.source or not (files or folders or patterns):
        print("envmon: ingest needs --source and --file, --dir or --glob, --payload-id, or --resume", file=sys.stderr)
        return 2
    for path in files:
        if not path.is_file():
            print(f"envmon: no such file {path}", file=sys.stderr)
            return 2
    for folder in folders:
        if not folder.is_dir():
            print(f"envmon: no such folder {folder}", file=sys.stderr)
            return 2
    from pipelines.ingest.batches import files_of

    paths = files_of(files, folders, patterns)
    if not paths:
        print(f"envmon: no payload file in {', '.join(map(str, folders + patterns))}", file=sys.stderr)
        return 2
    if len(files) == 1 and not folders and not patterns:
        return _ingest_one(settings, args, paths[0])
    return _ingest_many(settings, args, paths)


def _pull_partner(settings, args) -> int:
    """`envmon ingest --source partner-edr --url URL --key-file PATH`: one pull of a partner's shared
    sections (pipelines/partner_pull.py)."""
    from pipelines import partner_pull
    from pipelines.sources.partner_edr import PartnerError

    if args.source != "partner-edr" or not args.url or not args.key_file:
        print("envmon: a partner is pulled with --source partner-edr --url URL --key-file PATH", file=sys.stderr)
        return 2
    try:
        summary = partner_pull.pull(args.url, args.key_file, settings)
    except PartnerError as error:
        print(f"envmon: partner-edr: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        partner, totals = summary["partner"], summary["sources"]["partner-edr"]
        if partner["not_modified"]:
            print(f"{partner['organisation']} ({partner['url']}): nothing new since the last pull (304)")
        else:
            print(f"{partner['organisation']} ({partner['url']}): {partner['pages']} pages, "
                  f"{partner['pages_unchanged']} of them held already; {totals['read']} values read, "
                  f"{totals['loaded']} loaded, {totals['revised']} revised, {totals['quarantined']} quarantined, "
                  f"{totals['out_of_scope']} out of scope; next pull from {partner['watermark'] or 'the start'}")
        for failed in summary["failed"]:
            print(f"envmon: partner-edr: {failed['error']}", file=sys.stderr)
    return 1 if summary["failed"] else 0


def _ingest_one(settings, args, path: Path) -> int:
    """One --file: the summary of the payload, as `envmon ingest` has always printed it."""
    outcome = _run_ingest(settings, args, [path])
    if outcome.refused:
        print(f"envmon: {path}: {outcome.refused[0]['error']}", file=sys.stderr)
        return 1
    if outcome.unchanged:
        summary = _unchanged_summary(settings, outcome.unchanged[0])
    else:
        summary = {k: v for k, v in outcome.summaries[0].items() if k != "file"}
    summary["seconds"] = _stage_seconds(outcome)
    return _print_payload(summary, args.json)


def _run_ingest(settings, args, paths: list[Path]):
    """The archive path over `paths`, with a progress bar on a terminal (none with --json). A
    fault after a payload was logged carries a note saying what to do; before, nothing was
    logged and the same command again is the retry."""
    from pipelines.ingest import payloads

    options = {"again": args.again}
    if args.batch_size:
        options["batch_size"] = args.batch_size
    fetched = args.fetched_at
    basis = "--fetched-at" if fetched else None
    with _ingest_progress(paths, quiet=args.json) as progress:
        try:
            return payloads.ingest_files(args.source, paths, settings, fetched_at=fetched, fetched_basis=basis,
                                       progress=progress, **options)
        except Exception as error:
            notes = [note for note in getattr(error, "__notes__", ()) if "--resume" in note]
            if not notes:
                raise
            where = f"{paths[0]}: " if len(paths) == 1 else ""
            raise payloads.PayloadUnfinished(f"{where}{describe_error(error)}; {notes[-1]}") from error


def _unchanged_summary(settings, unchanged: dict) -> dict:
    """The summary of a file whose content the log holds as loaded: the payload that loaded it,
    nothing read again, nothing changed."""
    from warehouse import db

    row = db.get_payload(db.engine_for(settings.warehouse_url), unchanged["payload_id"]) or {}
    source = unchanged["source"]
    from pipelines.observations import SOURCE_DOMAINS

    read, loaded = row.get("rows_read") or 0, row.get("rows_loaded") or 0
    held, out = row.get("rows_quarantined") or 0, row.get("rows_out_of_scope") or 0
    entry = {"domain": SOURCE_DOMAINS[source], "read": read, "loaded": loaded, "quarantined": held,
             "out_of_scope": out, "revised": 0, "published_disagreements": 0,
             "reconciled": read == loaded + held + out, "registry_unknown": []}
    return {"sources": {source: entry}, "days": [], "quarantine_days": [], "encoding": row.get("encoding") or "",
            "notes": [], "warnings": [], "registry_unknown_first_seen": [], "payload_id": unchanged["payload_id"],
            "sha256": unchanged["sha256"], "archive": row.get("archive_path"), "unchanged": True}


def _stage_seconds(outcome) -> dict:
    from pipelines.ingest.batches import STAGES

    return {stage: round(outcome.clock.seconds.get(stage, 0.0), 3) for stage in STAGES}


def _print_payload(summary: dict, as_json: bool) -> int:
    print(json.dumps(summary, ensure_ascii=False) if as_json else
          "\n".join(f"{name}: {entry}" for name, entry in summary["sources"].items()))
    if not as_json:  # what was said of the payload as a whole: the year taken, and from what
        if summary.get("unchanged"):
            print(f"unchanged: its content was loaded as payload {summary['payload_id']} (--again ingests it again)")
        for note in summary.get("notes", []):
            print(f"note: {note}")
    for warning in summary.get("warnings", []):
        print(f"envmon: warning: {warning}", file=sys.stderr)
    return 0


def _ingest_many(settings, args, paths: list[Path]) -> int:
    """Several payloads: one summary of the run (--json: one object), each refused payload on
    stderr with its reason; exit 1 if any was refused."""
    import time

    started = time.perf_counter()
    outcome = _run_ingest(settings, args, paths)
    wall = time.perf_counter() - started
    totals = {"domain": None, "read": 0, "loaded": 0, "quarantined": 0, "out_of_scope": 0, "revised": 0,
              "published_disagreements": 0}
    for summary in outcome.summaries:
        for name, entry in summary["sources"].items():
            totals["domain"] = entry["domain"]
            for key in ("read", "loaded", "quarantined", "out_of_scope", "revised", "published_disagreements"):
                totals[key] += entry[key]
    totals["reconciled"] = all(e["reconciled"] for s in outcome.summaries for e in s["sources"].values())
    days = sorted({d for s in outcome.summaries for d in s["days"]})
    result = {
        "sources": {args.source: totals} if outcome.summaries else {},
        "payloads": len(paths), "loaded": len(outcome.summaries), "refused": outcome.refused,
        "unchanged": outcome.unchanged, "days": days,
        "quarantine_days": sorted({d for s in outcome.summaries for d in s["quarantine_days"]} - set(days)),
        "observations": totals["read"], "wall_seconds": round(wall, 3), "seconds": _stage_seconds(outcome),
        "summaries": outcome.summaries,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        rate = totals["read"] / wall if wall > 0 else 0
        print(f"{len(paths)} payloads: {len(outcome.summaries)} loaded, {len(outcome.unchanged)} unchanged "
              f"(already loaded), {len(outcome.refused)} refused; {totals['read']:,} observations read, "
              f"{totals['loaded']:,} loaded, {totals['quarantined']:,} quarantined, {totals['out_of_scope']:,} out of "
              f"scope, {totals['revised']:,} revised; {len(days)} days assessed; {wall:.1f} s ({rate:,.0f} obs/s)")
        for summary in outcome.summaries:
            for note in summary.get("notes", []):
                print(f"note: {summary['file']}: {note}")
    for summary in outcome.summaries:
        for warning in summary.get("warnings", []):
            print(f"envmon: warning: {summary['file']}: {warning}", file=sys.stderr)
    for refused in outcome.refused:
        print(f"envmon: {refused['file']}: {refused['error']}", file=sys.stderr)
    return 1 if outcome.refused else 0


@contextlib.contextmanager
def _ingest_progress(paths: list[Path], quiet: bool):
    """A rich progress bar on stderr when it is a terminal (not with --json): payloads and
    observations so far, and the time left, from the bytes read of the files' total."""
    if quiet or len(paths) < 1 or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    total = sum(p.stat().st_size for p in paths)
    columns = (TextColumn("[bold]ingest"), BarColumn(), TextColumn("{task.fields[payloads]}"),
               TextColumn("{task.fields[observations]} obs"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("ingest", total=total or 1, payloads=f"0/{len(paths)} payloads", observations="0")

        def update(outcome, payloads_done: int, bytes_done: int) -> None:
            bar.update(task, completed=bytes_done, payloads=f"{payloads_done}/{len(paths)} payloads",
                       observations=f"{outcome.observations:,}")

        yield update


if __name__ == "__main__":
    sys.exit(main())
