"""`envmon bulletin`, `envmon assessment-report` and `envmon report list|rebuild`: their arguments and
what they do. Light to import (argparse only); the documents are built inside `run`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COMMANDS = ("bulletin", "assessment-report", "report")
FORMATS = ("xlsx", "html", "pdf")


def _month(text: str):
    from pipelines.reports.reading import Month

    try:
        return Month.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _year(text: str) -> int:
    if not (text.isdigit() and len(text) == 4):
        raise argparse.ArgumentTypeError(f"not a year in YYYY form: {text!r}")
    return int(text)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--city", metavar="CODE",
                        help="one city's document: its bureau code (nanning, beihai, fangchenggang, qinzhou, yulin, "
                             "chongzuo; pipelines/reference/data/bureaus.csv)")
    parser.add_argument("--format", dest="formats", action="append", choices=FORMATS,
                        help="xlsx, html or pdf (repeatable; default: all three, or the one --out names)")
    parser.add_argument("--out", type=Path, metavar="PATH",
                        help="write the one format to PATH (default: ENVMON_HOME/reports/..., with a manifest)")
    parser.add_argument("--json", action="store_true", help="print the manifest (files, fingerprint, lineage) as JSON")


def add_parsers(commands) -> None:
    bulletin = commands.add_parser(
        "bulletin", help="the monthly bulletin (月报) of a month, from the warehouse",
        description="Surface water per section in the bureaus' form and per city (ranked), the cross-boundary "
                    "sections against their agreements, drinking-water reservoirs, coastal bays per survey and air "
                    "per city, with the data's status, standards, unverified assumptions and the batches and "
                    "payloads used.")
    bulletin.add_argument("--month", type=_month, metavar="YYYY-MM", help="the month (default: last month)")
    bulletin.add_argument("--province", metavar="NAME",
                          help="at national scope (ENVMON_SCOPE=national): one province's bulletin with the "
                               "per-section and per-city tables, e.g. 广西壮族自治区 (an export: with --out); "
                               "the country's is a summary by province")
    _common(bulletin)
    report = commands.add_parser(
        "assessment-report", help="the annual assessment (年度考核) of a year, from the warehouse",
        description="Each section's and river's class of the year, cross-boundary compliance against the "
                    "agreements, drinking-water sources, trends and the air of each city against GB 3095 class II.")
    report.add_argument("--year", type=_year, metavar="YYYY", help="the year (default: last year)")
    _common(report)
    issued = commands.add_parser(
        "report", help="the issued documents: list them, or rebuild one from its manifest",
        description="Every bulletin and assessment issued to ENVMON_HOME/reports is numbered "
                    "(bulletin-2026-11-nanning-r2) and keeps the rows it read. `list` names them; `rebuild ISSUE` "
                    "makes one again from its manifest (its rows, registry version and clock) and says whether "
                    "it is byte-identical (XLSX, HTML; the PDF by its text) or what differs.")
    actions = issued.add_subparsers(dest="report_action", required=True, metavar="list|rebuild")
    listing = actions.add_parser("list", help="the issued documents, newest first, superseded ones too")
    listing.add_argument("--json", action="store_true", help="one JSON object per issue")
    rebuild = actions.add_parser("rebuild", help="rebuild an issue from its manifest and compare")
    rebuild.add_argument("issue", metavar="ISSUE", help="the issue id, e.g. bulletin-2026-11-region-r1")
    rebuild.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(settings, args) -> int:
    from pipelines.reports import publish

    if args.command == "report":
        return _report(settings, args)
    formats = list(dict.fromkeys(args.formats or []))
    province = getattr(args, "province", None)
    if province is not None and (args.out is None or args.city):
        print("envmon: --province writes one province's bulletin to --out PATH (not an issue), without --city",
              file=sys.stderr)
        return 2
    if args.out is not None:
        if not formats:
            suffix = args.out.suffix.lstrip(".").lower()
            if suffix not in FORMATS:
                print(f"envmon: --out {args.out} names no format: give --format xlsx|html|pdf", file=sys.stderr)
                return 2
            formats = [suffix]
        if len(formats) != 1:
            print("envmon: --out takes one --format", file=sys.stderr)
            return 2
    formats = formats or list(FORMATS)
    reader = publish.reader_for(settings)
    if args.command == "bulletin":
        period = args.month or publish.last_month()
        try:
            document = publish.build_bulletin(period, args.city, settings, reader, province)
        except ValueError as error:
            print(f"envmon: {error}", file=sys.stderr)
            return 2
    else:
        period = args.year or publish.last_year()
        document = publish.build_assessment(period, args.city, settings, reader)
    record = publish.write(document, formats, settings, city=args.city, out=args.out, reader=reader)
    if args.json:
        print(json.dumps(record, ensure_ascii=False))
    else:
        for fmt in formats:
            print(f"{document.title} ({fmt}): {record['files'][fmt]['path']}")
    return 0


def _report(settings, args) -> int:
    from pipelines.reports import issues

    if args.report_action == "list":
        listed = issues.listing(settings)
        for row in listed:
            print(json.dumps(row, ensure_ascii=False) if args.json else
                  f"{row['issue']}  {row['number']}  {row['title']}  {row['state']}  {row['issued_at']}")
        return 0
    try:
        outcome = issues.rebuild(settings, args.issue)
    except (issues.IssueError, ValueError) as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 2
    print(json.dumps(outcome.as_dict(), ensure_ascii=False) if args.json else "\n".join(issues.rebuild_lines(outcome)))
    return 0 if outcome.identical else 1
