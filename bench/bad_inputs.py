"""Bad input, by the numbers (issue 11): malformed payloads of the four file sources, each run
through `envmon ingest` (pipelines.cli.main, the command's own code, in this process; --subprocess
starts the real `envmon` for each) on a temporary warehouse, and counted by kind: how many were
refused with a reason, how many were loaded with some rows or values quarantined, how many loaded
clean, and how many values were lost (read by an independent count of the payload, here with the
csv and json modules, and neither loaded, quarantined nor out of scope; must be 0). A traceback or
an unexpected exit counts as a crash, and as every value of the payload lost.

    .venv/bin/python bench/bad_inputs.py [--markdown] [--json] [--subprocess] [--keep DIR]
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIXTURES = ROOT / "tests" / "fixtures"
TEMPLATES = ROOT / "pipelines" / "templates"
AIR_VALUE_COLUMNS = ("pm10", "pm10_24h", "pm2_5", "pm2_5_24h", "o3", "o3_8h", "no2", "no2_24h", "so2", "so2_24h",
                     "co", "co_24h")
WATER_VALUE_HEADERS = ("水温", "pH", "溶解氧", "电导率", "浊度", "高锰酸盐指数", "氨氮", "总磷", "总氮", "叶绿素α", "藻密度")
FETCHED = "2027-01-01T02:00:00+08:00"
SOURCES = ("cnemc-water", "cnemc-air", "lab", "coastal")


# --- the well-formed payloads the bad ones are made from ----------------------------------------

def _air() -> str:
    lines = (FIXTURES / "cnemc-air-hourly.csv").read_text(encoding="utf-8").splitlines()
    return "\n".join([lines[0], lines[-1], *lines[1:-1]]) + "\n"  # a registry station's row last


def _water_json() -> str:
    return (FIXTURES / "cnemc-water-publish.json").read_text(encoding="utf-8")


def _water_csv() -> str:
    """The per-section CSV export form of the water feed (displayed values), made from the fixture."""
    import re

    document = json.loads(_water_json())
    header = [re.sub(r"<br/><span class='unit'>(.*)</span>", r"\1", h) for h in document["thead"]]
    shown = lambda cell: re.sub(r"<[^>]+>", "", "" if cell is None else str(cell))  # noqa: E731
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for record in document["tbody"]:
        writer.writerow(["*" if cell is None else shown(cell) for cell in record])
    return buffer.getvalue()


BASE = {
    "cnemc-water": ("publish.json", _water_json),
    "cnemc-air": ("hourly.csv", _air),
    "lab": ("lab-results.csv", lambda: (TEMPLATES / "lab-results-example.csv").read_text(encoding="utf-8")),
    "coastal": ("coastal-survey.csv", lambda: (TEMPLATES / "coastal-survey-example.csv").read_text(encoding="utf-8")),
}


def _replace_cell(text: str, source: str, column: str | None, value: str, row: int = -1) -> str:
    """The CSV text with one cell replaced (`column` None: the value column of the source)."""
    lines = text.splitlines()
    header = next(csv.reader([lines[0]]))
    column = column or {"cnemc-air": "pm10", "lab": "result", "coastal": "result", "cnemc-water": "氨氮(mg/L)"}[source]
    body = [i for i, line in enumerate(lines) if i and line.strip()]
    index = body[row]
    fields = next(csv.reader([lines[index]]))
    fields[header.index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    lines[index] = buffer.getvalue()
    return "\n".join(lines) + "\n"


def _water_record(mutate) -> str:
    document = json.loads(_water_json())
    record = next(r for r in document["tbody"] if "横塘" in str(r[2]))
    mutate(record)
    return json.dumps(document, ensure_ascii=False)


def _cut_inside_number(text: str) -> str:
    """The payload cut in the middle of the last row's first number of two or more digits."""
    import re

    last = text.rstrip("\n").rsplit("\n", 1)
    match = re.search(r",(\d+\.\d{2,}|\d{2,})(?=,)", last[-1])
    return last[0] + "\n" + last[-1][: match.end() - 1]  # e.g. ...,17 cut to ...,1


def _cut_inside_character(data: bytes) -> bytes:
    """The payload cut inside its last multi-byte (UTF-8) character."""
    for position in range(len(data) - 1, 0, -1):
        if data[position] >= 0xC0:    # the lead byte of a multi-byte character
            return data[: position + 1]
    return data[:-1]


def _workbook(text: str) -> bytes:
    import pandas as pd

    buffer = io.BytesIO()
    pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False).to_excel(buffer, index=False)
    return buffer.getvalue()


def _time_of(source: str, value: str) -> str:
    text = BASE[source][1]()
    if source == "cnemc-water":
        return _water_record(lambda r: r.__setitem__(3, value))
    return _replace_cell(text, source, "timepoint" if source == "cnemc-air" else "sampled_at", value)


def cases() -> list[dict]:
    """(kind, source, file name, payload bytes, fetched-at) of every malformed payload tried."""
    made = []

    def add(kind, source, payload, name=None, fetched=FETCHED):
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        made.append({"kind": kind, "source": source, "name": name or BASE[source][0], "payload": data,
                     "fetched_at": fetched})

    for source in SOURCES:
        name, base = BASE[source]
        text = base()
        add("empty file", source, b"")
        add("blank lines only", source, "\n\n  \n")
        add("binary garbage", source, bytes(range(256)) * 16)
        add("HTML page instead of data", source, "<html><body>502 Bad Gateway</body></html>")
        add("GBK-encoded (Excel on Chinese Windows)", source, text.replace("µ", "μ").encode("gbk", errors="replace"))
        add("UTF-8 with a byte-order mark", source, b"\xef\xbb\xbf" + text.encode())
        add("truncated mid-character", source, _cut_inside_character(text.encode()))
        add("truncated mid-number", source, _cut_inside_number(text) if source != "cnemc-water"
            else text[: text.index("原始值：0.41234") + 9])
        add("80-character Chinese file name", source, text, name="北部湾城市群" * 13 + "监测" + Path(name).suffix)
        add("a stray NUL byte in a cell", source, text.replace("0.41234", "0.4\x001234", 1) if source == "cnemc-water"
            else _replace_cell(text, source, None, "1\x007"))
        add("header only", source, text.splitlines()[0] + "\n" if source != "cnemc-water"
            else json.dumps(json.loads(text) | {"tbody": []}, ensure_ascii=False))
        add("a required column missing", source, text.replace("监测时间", "时间", 1) if source == "cnemc-water"
            else text.replace({"cnemc-air": "timepoint", "lab": "section_id", "coastal": "point_id"}[source], "when", 1))
        add("every row twice", source, text.replace("]]}", "]," + json.dumps(json.loads(text)["tbody"], ensure_ascii=False)
                                                    [1:-1] + "]}") if source == "cnemc-water"
            else text + "\n".join(text.splitlines()[1:]) + "\n")
        for value in ("inf", "1e300", "1e309", "abc"):
            add(f"one bad cell: {value}", source, _replace_cell(text, source, None, value) if source != "cnemc-water"
                else text.replace("原始值：0.41234'>0.412", f"原始值：{value}'>{value}"))
        if source == "cnemc-water":
            add("impossible time 13-45 99:99", source, _time_of(source, "13-45 99:99"))
            add("impossible time 02-30", source, _time_of(source, "02-30 08:00"))
            add("record shorter than the header", source, _water_record(lambda r: r.__delitem__(slice(8, None))))
            add("tbody null", source, json.dumps(json.loads(text) | {"tbody": None}, ensure_ascii=False))
            add("JSON that does not close", source, text[: len(text) // 2])
            add("a record that is not a list", source, json.dumps(json.loads(text) | {
                "tbody": json.loads(text)["tbody"] + [None]}, ensure_ascii=False))
            add("--fetched-at before the readings", source, text, fetched="2026-10-01T00:00:00+08:00")
            csv_text = _water_csv()
            add("section CSV: ragged row", source, csv_text.replace("\r\n", ",x,y\r\n", 2).replace(",x,y\r\n", "\r\n", 1),
                name="section.csv")
            add("section CSV: short row", source, csv_text.rstrip("\r\n").rsplit(",", 6)[0] + "\r\n", name="section.csv")
            add("section CSV: GBK-encoded", source, csv_text.encode("gbk"), name="section.csv")
        else:
            column = "timepoint" if source == "cnemc-air" else "sampled_at"
            impossible = "2026-02-30T0800" if source == "cnemc-air" else "2026-02-30 08:00"
            add("impossible time", source, _replace_cell(text, source, column, impossible))
            add("year 1900", source, _replace_cell(text, source, column, "1900-01-01T0100" if source == "cnemc-air"
                                                   else "1900-01-01 09:00"))
            add("time far ahead", source, _replace_cell(text, source, column, "2099-01-01T0100" if source == "cnemc-air"
                                                        else "2099-01-01 09:00"))
            lines = text.splitlines()
            add("ragged row", source, "\n".join(lines[:2] + [lines[2] + ",extra,cells"] + lines[3:]) + "\n")
            add("short row", source, "\n".join(lines[:2] + [lines[2].rsplit(",", 4)[0]] + lines[3:]) + "\n")
            add("unterminated quote", source, text.rstrip("\n") + '\n"' + lines[-1])
            if source in ("lab", "coastal"):
                add("XLSX: not a workbook", source, b"PK\x03\x04 not a zip archive", name="results.xlsx")
                add("XLSX: one bad cell", source, _workbook(_replace_cell(text, source, None, "inf")), name="results.xlsx")
    return made


# --- counting what a payload holds, independently of envmon's parsers ------------------------------

def held_values(source: str, payload: bytes, name: str = "") -> int:
    """Values the payload holds by the csv and json modules (openpyxl for a workbook) alone, 0
    when they cannot read it."""
    if name.endswith(".xlsx"):
        try:
            import openpyxl

            sheet = openpyxl.load_workbook(io.BytesIO(payload), read_only=True).worksheets[0]
            rows = [r for r in sheet.iter_rows(values_only=True) if any(c not in (None, "") for c in r)]
            return max(0, len(rows) - 1)
        except Exception:  # noqa: BLE001 - not a workbook: it holds nothing readable
            return 0
    text = None
    for codec in ("utf-8-sig", "gb18030"):
        try:
            text = payload.decode(codec)
            break
        except UnicodeDecodeError as error:
            if error.reason == "unexpected end of data" and error.end == len(payload):
                text = payload[:error.start].decode(codec, errors="replace")   # cut inside its last character
                break
    if text is None:
        return 0
    text = text.replace("\x00", "")
    if source == "cnemc-water" and text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
            columns = sum(any(h.startswith(k) for k in WATER_VALUE_HEADERS) for h in document["thead"])
            return len(document["tbody"]) * columns
        except (ValueError, KeyError, TypeError):
            return 0
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline="")) if any(f.strip() for f in r)]
    except csv.Error:
        return 0
    if len(rows) < 2:
        return 0
    header = [h.strip() for h in rows[0]]
    per_row = {"cnemc-air": sum(h in AIR_VALUE_COLUMNS for h in header),
               "cnemc-water": sum(any(h.startswith(k) for k in WATER_VALUE_HEADERS) for h in header)}.get(source, 1)
    return (len(rows) - 1) * per_row


# --- running one payload through `envmon ingest` ----------------------------------------------------

def run_in_process(home: Path, path: Path, source: str, fetched_at: str) -> tuple[int, str, str]:
    from pipelines import cli

    out, err = io.StringIO(), io.StringIO()
    os.environ["ENVMON_HOME"] = str(home)
    os.environ.pop("ENVMON_WAREHOUSE_URL", None)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["ingest", "--source", source, "--file", str(path), "--fetched-at", fetched_at, "--json"])
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 2
        except BaseException:  # noqa: BLE001 - what the bench counts as a crash
            traceback.print_exc(file=err)
            code = -1
    return code, out.getvalue(), err.getvalue()


def run_subprocess(home: Path, path: Path, source: str, fetched_at: str) -> tuple[int, str, str]:
    env = {**os.environ, "ENVMON_HOME": str(home)}
    env.pop("ENVMON_WAREHOUSE_URL", None)
    envmon = str(Path(sys.executable).parent / "envmon")
    done = subprocess.run([envmon, "ingest", "--source", source, "--file", str(path), "--fetched-at", fetched_at,
                           "--json"], capture_output=True, text=True, env=env, timeout=600)
    return done.returncode, done.stdout, done.stderr


def outcome(case: dict, code: int, out: str, err: str) -> dict:
    held = held_values(case["source"], case["payload"], case["name"])
    crashed = code not in (0, 1) or "Traceback" in err
    if code == 0 and not crashed:
        try:
            entry = json.loads(out.strip().splitlines()[-1])["sources"][case["source"]]
        except (ValueError, KeyError, IndexError):
            return {"result": "crash", "lost": held, "detail": out[-300:]}
        accounted = entry["loaded"] + entry["quarantined"] + entry["out_of_scope"]
        return {"result": "partly quarantined" if entry["quarantined"] else "loaded clean",
                "lost": max(0, held - accounted), "read": entry["read"], "held": held,
                "detail": f"read {entry['read']}, loaded {entry['loaded']}, quarantined {entry['quarantined']}, "
                          f"out of scope {entry['out_of_scope']}"}
    lines = [line for line in err.strip().splitlines() if line]
    if code == 1 and not crashed and len(lines) == 1 and "refused as a" in lines[0]:
        return {"result": "refused with reason", "lost": 0, "detail": lines[0]}
    return {"result": "crash", "lost": held, "detail": (err or out)[-300:]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown, for the README")
    parser.add_argument("--json", action="store_true", help="print every case's outcome as JSON lines")
    parser.add_argument("--subprocess", action="store_true", help="start the real `envmon` for each payload")
    parser.add_argument("--keep", type=Path, help="keep the payloads and the warehouse in this folder")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="envmon-bad-inputs-"))
    run = run_subprocess if args.subprocess else run_in_process
    started = time.monotonic()
    results = []
    for number, case in enumerate(cases(), start=1):
        folder = work / "payloads" / f"{number:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / case["name"]
        path.write_bytes(case["payload"])
        code, out, err = run(work / "home", path, case["source"], case["fetched_at"])
        results.append({"kind": case["kind"], "source": case["source"], **outcome(case, code, out, err)})
        if args.json:
            print(json.dumps(results[-1], ensure_ascii=False), flush=True)
    _print_table(results, args.markdown, time.monotonic() - started)
    return 1 if any(r["result"] == "crash" or r["lost"] for r in results) else 0


def _print_table(results: list[dict], markdown: bool, seconds: float) -> None:
    by_kind = defaultdict(list)
    for result in results:
        by_kind[result["kind"]].append(result)
    columns = ("kind", "tried", "refused with reason", "partly quarantined", "loaded clean", "crashed", "values lost")
    rows = []
    for kind, items in by_kind.items():
        count = lambda name: sum(r["result"] == name for r in items)  # noqa: E731
        rows.append((kind, len(items), count("refused with reason"), count("partly quarantined"),
                     count("loaded clean"), count("crash"), sum(r["lost"] for r in items)))
    total = ("all", *(sum(row[i] for row in rows) for i in range(1, len(columns))))
    if markdown:
        print("| " + " | ".join(columns) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|")
        for row in [*rows, total]:
            cells = [f"**{c}**" if row is total else str(c) for c in row]
            print("| " + " | ".join(cells) + " |")
        print(f"\n{total[1]} payloads across {len({r['source'] for r in results})} sources, "
              f"through `envmon ingest` in {seconds:.0f} s.")
        return
    width = max(len(row[0]) for row in rows) + 2
    print(f"{'kind':<{width}}" + "".join(f"{c:>20}" for c in columns[1:]))
    for row in [*rows, total]:
        print(f"{row[0]:<{width}}" + "".join(f"{c:>20}" for c in row[1:]))
    print(f"{total[1]} payloads in {seconds:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
