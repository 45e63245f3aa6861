"""How often envmon reproduces what the CNEMC feeds published, on the real samples in
../shared/reference/formats. Prints one JSON line with --json.

    .venv/bin/python bench/published_agreement.py --json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.quality import published

FORMATS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "formats"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--formats", type=Path, default=FORMATS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {}
    for name in ("publish-ashx-2020-05-08.json", "publish-ashx-2021-04-05.json"):
        agreement = published.water_agreement((args.formats / "cnemc-water" / name).read_text(encoding="utf-8"))
        result[name] = {"rows_with_a_class": agreement.rows, "registry_rows": agreement.registry_rows,
                        "registry_rows_agree": agreement.registry_agree,
                        "rows_agree_raw_values_either_type": agreement.any_type_agree_raw,
                        "rows_agree_displayed_values_either_type": agreement.any_type_agree_displayed}
    for name in ("beibu6-hourly-2026-03-01-to-03-28.csv", "national-hourly-2026-03-15T12.csv"):
        agreement = published.air_agreement((args.formats / "cnemc-air" / name).read_text(encoding="utf-8"))
        gap = agreement.unreproduced["published_aqi"] - agreement.unreproduced["envmon_aqi"]
        result[name] = {"hours": agreement.hours, "aqi_agree": agreement.aqi_agree,
                        "aqi_agree_share": round(agreement.aqi_agree / agreement.hours, 4),
                        "primary_pollutant_agree_when_aqi_agrees": agreement.primary_agree,
                        "unreproduced_published_higher": int((gap > 0).sum()),
                        "unreproduced_gap_median": float(gap.median()) if len(gap) else 0.0}
    print(json.dumps(result, ensure_ascii=False) if args.json else json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
