"""`envmon bulletin` and `envmon assessment-report`: their arguments and what they do. Light to
import (argparse only); the documents are built inside `run`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COMMANDS = ("bulletin", "assessment-report")
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
    _common(bulletin)
    report = commands.add_parser(
        "assessment-report", help="the annual assessment (年度考核) of a year, from the warehouse",
        description="Each section's and river's class of the year, cross-boundary compliance against the "
                    "agreements, drinking-water sources, trends and the air of each city against GB 3095 class II.")
    report.add_argument("--year", type=_year, metavar="YYYY", help="the year (default: last year)")
    _common(report)


def run(settings, args) -> int:
    from pipelines.reports import publish

    formats = list(dict.fromkeys(args.formats or []))
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
    if args.command == "bulletin":
        period = args.month or publish.last_month()
        document = publish.build_bulletin(period, args.city, settings)
    else:
        period = args.year or publish.last_year()
        document = publish.build_assessment(period, args.city, settings)
    record = publish.write(document, formats, settings, city=args.city, out=args.out)
    if args.json:
        print(json.dumps(record, ensure_ascii=False))
    else:
        for fmt in formats:
            print(f"{document.title} ({fmt}): {record['files'][fmt]['path']}")
    return 0
