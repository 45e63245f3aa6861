"""The repository's replay set (replay/, real recorded CNEMC payloads), cut to a few days for the
tests, played by `envmon run --replay` on the embedded default warehouse in a home of its own.

The test cut keeps every water payload (the 2020 and 2021 Publish.ashx snapshots and the 2021-04
per-section CSV exports, read through the inbox) and the air hours fetched before END_OF_AIR: the
first air collection runs at the hour its look-back reaches back to the first recorded hour
(pipelines/sources/replay.py), so a few hours more than the look-back are kept."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

REPLAY = Path(__file__).resolve().parent.parent / "replay"
ENVMON = Path(sys.executable).with_name("envmon")
LOOKBACK_HOURS = 24
AIR_HOURS = 27  # the look-back the tests set (24 h) and three hours collected one at a time


def manifest(folder: Path = REPLAY) -> list[dict]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def cut(out: Path, air_hours: int = AIR_HOURS) -> Path:
    """A replay folder of the water payloads and the first `air_hours` air hours of replay/."""
    rows = manifest()
    air = [r for r in rows if r["source"] == "cnemc-air"][:air_hours]
    keep = [r for r in rows if r["source"] != "cnemc-air"] + air
    for row in keep:
        (out / row["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPLAY / row["file"], out / row["file"])
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(keep, key=lambda r: (r["fetched_at"], r["file"])))
    return out


def environment(home: Path) -> dict[str, str]:
    """The suite's environment on a home of its own: the embedded SQLite default, no mode set."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ENVMON_WAREHOUSE_URL", "ENVMON_DASHBOARD_WAREHOUSE_URL", "ENVMON_SOURCE_MODE", "ENVMON_INBOX",
                        "ENVMON_CNEMC_WATER_URL", "ENVMON_CNEMC_AIR_URL", "ENVMON_SMTP_HOST")}
    # the shortest look-back the collection ledger allows: the first air collection takes 24 hours
    return {**env, "ENVMON_HOME": str(home), "ENVMON_COLLECT_LOOKBACK_HOURS": str(LOOKBACK_HOURS)}


def envmon(home: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(ENVMON), *args], env=environment(home), capture_output=True, text=True,
                          timeout=timeout)


def play(root: Path) -> dict:
    """Cut the replay, play it (human output), and return where and what it printed."""
    folder = cut(root / "replay")
    home = root / "home"
    home.mkdir()
    run = envmon(home, "run", "--replay", str(folder))
    assert run.returncode == 0, run.stderr + run.stdout
    return {"folder": folder, "home": home, "url": f"sqlite:///{home / 'warehouse.db'}", "run": run}


def fetch_instant(row: dict) -> datetime:
    return datetime.fromisoformat(row["fetched_at"])


def first_air_collection(rows: list[dict], lookback_hours: int) -> datetime:
    air = [fetch_instant(r) for r in rows if r["source"] == "cnemc-air"]
    return air[min(lookback_hours, len(air)) - 1]



_PLAYED: dict[str, dict] = {}


def played_once(tmp_path_factory) -> dict:
    """The cut replay played once per session, for every test module that reads its results."""
    if "run" not in _PLAYED:
        _PLAYED.update(play(tmp_path_factory.mktemp("replay-played")))
    return _PLAYED


def export(home: Path, table: str) -> list[dict]:
    result = envmon(home, "export", table, "--format", "csv")
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(result.stdout.splitlines()))
