"""envmon command line: run the nightly job, export the warehouse, ingest a payload file."""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from pipelines.clock import yesterday
from pipelines.config import load_settings
from dashboards.app import cli as dashboard_cli
from pipelines.clock import BUREAU_TZ

EXPORTS = ("observations", "assessments", "quarantine", "alerts", "published", "payloads", "history", "rollups")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


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
    parser = argparse.ArgumentParser(prog="envmon", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the nightly DAG in-process for one or more days")
    run.add_argument("--date", type=_day, help="the last day to run (default: yesterday, Asia/Shanghai)")
    run.add_argument("--days", type=_positive, default=1, help="how many days, ending on --date (default 1)")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")
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
    ingest = commands.add_parser("ingest", help="ingest one payload file of a real feed")
    ingest.add_argument("--source", choices=("cnemc-water", "cnemc-air", "lab", "coastal"))
    ingest.add_argument("--file", type=Path)
    ingest.add_argument("--payload-id", type=int, help="re-ingest a logged payload from the archive")
    ingest.add_argument("--fetched-at", type=_timestamp, help="when it was fetched (default: file modification time)")
    ingest.add_argument("--json", action="store_true")
    history = commands.add_parser("history", help="list every version of a value, each with its payload")
    history.add_argument("--station", required=True, help="station or section id")
    history.add_argument("--parameter", required=True, help="parameter code")
    history.add_argument("--at", type=_timestamp, help="one observation time (default: all times)")
    classify = commands.add_parser("classify", help="classify the rows of a CSV by the standards (calculator)")
    classify.add_argument("domain", choices=("surface-water", "seawater", "air"))
    classify.add_argument("--input", required=True, type=Path, help="CSV with parameter-code columns")
    dashboard_cli.add_commands(commands)  # dashboard, users
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValueError as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 2
    if args.command in dashboard_cli.COMMANDS:  # no warehouse pre-flight: the app reads its own URL
        return dashboard_cli.run(args)
    if args.command == "run":
        last = args.date or yesterday()
        return _run_days(settings, [last - timedelta(days=offset) for offset in range(args.days - 1, -1, -1)], args.json)
    if args.command == "backfill":
        return _backfill(settings, args)
    if args.command == "export":
        return _export(settings, args.table)
    if args.command == "history":
        return _history(settings, args)
    if args.command == "classify":
        return _classify(args)
    return _ingest(settings, args)


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

    started = datetime.now(timezone.utc)
    log_path = settings.home / "logs" / f"run-{started:%Y%m%dT%H%M%S}.log"
    try:
        run_days(settings, days, log_path)
    except DagRunFailed as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 1
    summary = run_summary(db.engine_for(settings.warehouse_url), days, started,
                          str(settings.dashboard_dir / "index.html"), nightly.data_label(settings))
    summary["log"] = str(log_path)
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print_summary(summary)
    return 0


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
                   "payload_received_at", "superseded_at", "superseded_by_payload_id"]


def _history(settings, args) -> int:
    """The versions of a value as CSV, oldest first: what each payload said, and what replaced it."""
    from warehouse import db

    versions = db.value_versions(db.engine_for(settings.warehouse_url), args.station, args.parameter, args.at)
    if versions.empty:
        print(f"envmon: no {args.parameter} values of {args.station}" + (f" at {args.at.isoformat()}" if args.at else ""),
              file=sys.stderr)
        return 1
    for column in ("observed_at", "payload_received_at", "superseded_at"):
        versions[column] = [t.isoformat() if isinstance(t, datetime) else "" for t in versions[column]]
    versions.reindex(columns=HISTORY_COLUMNS).to_csv(sys.stdout, index=False)
    return 0


def _ingest(settings, args) -> int:
    from pipelines import ingest
    from pipelines.sources.files import PayloadError

    if args.payload_id is not None:
        try:
            summary = ingest.reingest(args.payload_id, settings)
        except (KeyError, FileNotFoundError, PayloadError) as error:
            print(f"envmon: payload {args.payload_id}: {error}", file=sys.stderr)
            return 1
    else:
        if not args.source or not args.file:
            print("envmon: ingest needs --source and --file, or --payload-id", file=sys.stderr)
            return 2
        if not args.file.is_file():
            print(f"envmon: no such file {args.file}", file=sys.stderr)
            return 2
        fetched = args.fetched_at or datetime.fromtimestamp(args.file.stat().st_mtime, BUREAU_TZ)
        try:
            summary = ingest.ingest_file(args.source, args.file, fetched, settings)
        except PayloadError as error:
            print(f"envmon: {args.file}: {error}", file=sys.stderr)
            return 1
    print(json.dumps(summary, ensure_ascii=False) if args.json else
          "\n".join(f"{name}: {entry}" for name, entry in summary["sources"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
