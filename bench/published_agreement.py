"""How often envmon reproduces what the CNEMC feeds published, on the real samples in
../shared/reference/formats. Prints one JSON line with --json.

    .venv/bin/python bench/published_agreement.py --json

Air hours are recomputed under the rules in force at each hour (HJ 633—2026 from 2026-03-01);
`under_hj633_2012` gives the same hours under the 2012 rules, the figure before they were data.
Per day: the lowest day's AQI and primary-pollutant agreement (tests/test_published_agreement.py
holds the floors and their reasons).
"""
from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

from pipelines.quality import published

FORMATS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "formats"


def _air(agreement: published.AirAgreement) -> dict:
    computed = agreement.unreproduced.dropna(subset=["envmon_aqi"]) if len(agreement.unreproduced) else agreement.unreproduced
    gap = computed["published_aqi"] - computed["envmon_aqi"] if len(computed) else computed
    by_day = agreement.by_day
    return {"hours": agreement.hours, "aqi_agree": agreement.aqi_agree,
            "aqi_agree_share": round(agreement.aqi_share, 4),
            "primary_pollutant_agree_when_aqi_agrees": agreement.primary_agree,
            "primary_pollutant_agree_share": round(agreement.primary_share, 4),
            "days": len(by_day),
            "lowest_day_aqi_share": round(float(by_day["aqi_share"].min()), 4) if len(by_day) else None,
            "lowest_day_primary_share": round(float(by_day["primary_share"].min()), 4) if len(by_day) else None,
            "published_where_envmon_withholds": agreement.published_withheld,
            "envmon_aqi_where_feed_published_none": agreement.unpublished_computed,
            "unreproduced_published_higher": int((gap > 0).sum()) if len(computed) else 0,
            "unreproduced_gap_median": float(gap.median()) if len(computed) else 0.0,
            "rule_versions": agreement.rule_versions}


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
        payload = (args.formats / "cnemc-air" / name).read_text(encoding="utf-8")
        result[name] = {"rules_in_force": _air(published.air_agreement(payload)),
                        "under_hj633_2012": _air(published.air_agreement(payload, rules_at=date(2026, 2, 28)))}
    print(json.dumps(result, ensure_ascii=False) if args.json else json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
