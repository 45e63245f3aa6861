"""Cut the replay set from the real samples of ../shared/reference/formats (see README.md here).

    .venv/bin/python replay/cut.py ../shared/reference/formats replay/

Nothing is converted: every payload keeps the bytes and the format its feed served, cut to the
rows the bureaus' feeds carry (the Beibu-6 air stations; the Guangxi rows of the national water
response, as the live client's AreaID=450000 request returns them). Each payload gets its own fetch
time in manifest.csv, derived from the payload itself (the archives did not record one):

- an hourly air file: its hour end + 20 min, when the air collection runs (cron `20 * * * *`);
- a water Publish.ashx snapshot: the first 2-hourly water collection (`10 */2 * * *`) at or after
  its latest 监测时间, the first moment the live client could have received it;
- a per-section CSV export: the same rule, from the export's last reading (an export is a file a
  bureau downloads, so it enters through the inbox, not the feed).
"""
from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
AIR_FILE = "cnemc-air/beibu6-hourly-2026-03-01-to-03-28.csv"
AIR_FIRST, AIR_LAST = "2026-03-08T0100", "2026-03-29T0000"  # three weeks of hours (hour ends)
WATER_SNAPSHOTS = {"cnemc-water/publish-ashx-2020-05-08.json": 2020, "cnemc-water/publish-ashx-2021-04-05.json": 2021}
EXPORTS = ("cnemc-water/by-name-csv-2021-04", 2021)
GUANGXI = "广西壮族自治区"


def next_water_collection(reading: datetime) -> datetime:
    """The first run of the water collection (every even hour at :10) at or after `reading`."""
    slot = reading.replace(minute=10, second=0, microsecond=0)
    if slot < reading:
        slot += timedelta(hours=1)
    return slot if slot.hour % 2 == 0 else slot + timedelta(hours=1)


def reading_time(text: str | None, year: int) -> datetime | None:
    if not text or text.strip() in ("*", "--", "null"):
        return None
    return datetime.strptime(f"{year}-{text.strip()}", "%Y-%m-%d %H:%M").replace(tzinfo=BEIJING)


def cut_air(formats: Path, out: Path) -> list[dict]:
    text = (formats / AIR_FILE).read_text(encoding="utf-8-sig")
    header, *lines = text.splitlines()
    hours: dict[str, list[str]] = {}
    for line in lines:
        timepoint = line.split(",", 1)[0]
        if AIR_FIRST <= timepoint <= AIR_LAST:
            hours.setdefault(timepoint, []).append(line)
    (out / "cnemc-air").mkdir(parents=True, exist_ok=True)
    rows = []
    for timepoint, hour_lines in sorted(hours.items()):
        name = f"cnemc-air/{timepoint}.csv"
        (out / name).write_text("\n".join([header, *hour_lines]) + "\n", encoding="utf-8")
        hour_end = datetime.strptime(timepoint, "%Y-%m-%dT%H%M").replace(tzinfo=BEIJING)
        rows.append({"file": name, "source": "cnemc-air", "channel": "feed",
                     "fetched_at": (hour_end + timedelta(minutes=20)).isoformat()})
    return rows


def cut_water(formats: Path, out: Path) -> list[dict]:
    rows = []
    (out / "cnemc-water").mkdir(parents=True, exist_ok=True)
    for relative, year in WATER_SNAPSHOTS.items():
        document = json.loads((formats / relative).read_text(encoding="utf-8"))
        document["tbody"] = [row for row in document["tbody"] if row[0] == GUANGXI]
        document["total"], document["records"] = 1, len(document["tbody"])  # one page of the Guangxi rows
        name = f"cnemc-water/{Path(relative).name}"
        (out / name).write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")  # the feed's own layout
        times = [t for t in (reading_time(row[3], year) for row in document["tbody"]) if t]
        latest = max(t for t in times if t.month == int(Path(relative).stem[-5:-3]))  # a stale row keeps its old date
        rows.append({"file": name, "source": "cnemc-water", "channel": "feed",
                     "fetched_at": next_water_collection(latest).isoformat()})
    folder, year = EXPORTS
    (out / folder.replace("cnemc-water/", "cnemc-water-exports/")).mkdir(parents=True, exist_ok=True)
    exports = {}
    for path in sorted((formats / folder).glob("*.csv")):
        raw = path.read_bytes()
        name = f"cnemc-water-exports/{path.name}"
        (out / name).write_bytes(raw)  # byte for byte: duplicates and maintenance rows included
        times = [reading_time(r["监测时间"], year) for r in csv.DictReader(raw.decode("utf-8-sig").splitlines())]
        exports[name] = max((t for t in times if t), default=None)
    newest = max(t for t in exports.values() if t)
    for name, latest in exports.items():  # an export of maintenance rows only: when the others were taken
        rows.append({"file": name, "source": "cnemc-water", "channel": "inbox",
                     "fetched_at": next_water_collection(latest or newest).isoformat()})
    return rows


def main(formats: str, out: str) -> None:
    formats_path, out_path = Path(formats), Path(out)
    rows = cut_water(formats_path, out_path) + cut_air(formats_path, out_path)
    rows.sort(key=lambda r: (r["fetched_at"], r["file"]))
    with open(out_path / "manifest.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "source", "channel", "fetched_at"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main(*sys.argv[1:3])
