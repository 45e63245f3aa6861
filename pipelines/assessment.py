"""Assessment of sections and points by the single-factor method.

Surface water: GB 3838-2002 with the 2011 assessment method (地表水环境质量评价办法(试行)):
the class of a section is the worst class among the assessment indicators measured; it
complies when that class is no worse than its target. Seawater: GB 3097-1997, the same way.
Values flagged suspect, fail or missing are left out (observations.ASSESSABLE_FLAGS).
The rules themselves are in pipelines.surface_water and pipelines.seawater: one implementation,
shared with `envmon classify`.
"""
from __future__ import annotations

import json
from datetime import date

import pandas as pd

from pipelines import registry, seawater, surface_water
from pipelines.observations import ASSESSABLE_FLAGS

SURFACE_WATER_STANDARD = "GB 3838-2002; 地表水环境质量评价办法(试行) 2011"
SEAWATER_STANDARD = "GB 3097-1997"


def daily_means(observations: pd.DataFrame) -> pd.DataFrame:
    """Mean of the assessable values of each station and parameter, with their count."""
    usable = observations[observations["qc_flag"].isin(ASSESSABLE_FLAGS) & observations["value"].notna()]
    return usable.groupby(["station_id", "parameter"])["value"].agg(["mean", "count"]).reset_index()


def _assessment_row(station_id, day, domain, standard, verdict, target, is_compliant, grade,
                    values_used, is_cross_boundary) -> dict:
    return {
        "station_id": station_id,
        "period": "day",
        "period_start": day,
        "domain": domain,
        "standard": standard,
        "water_class": verdict.water_class,
        "target_class": target,
        "is_compliant": is_compliant,
        "grade": grade,
        "indicators_assessed": ";".join(sorted(verdict.parameter_classes)),
        "failing_parameters": json.dumps([f.as_dict() if hasattr(f, "as_dict") else {"parameter": f}
                                          for f in verdict.failing], ensure_ascii=False),
        "values_used": int(values_used),
        "is_cross_boundary": bool(is_cross_boundary),
        "status": "assessed" if verdict.is_assessed else "insufficient data",
    }


def assess_surface_water_day(observations: pd.DataFrame, day: date) -> list[dict]:
    """One row per registry surface-water section for the day, assessed or 'insufficient data'."""
    means = daily_means(observations)
    # an indicator with fewer readings than the day rule does not enter the day's class
    means = means[means["count"] >= int(surface_water.completeness().loc["day", "min_values"])]
    rows = []
    for section_id, section in registry.water_sections().iterrows():
        mine = means[means["station_id"] == section_id]
        values = dict(zip(mine["parameter"], mine["mean"]))
        target = section["target_class"]
        verdict = surface_water.classify(values, registry.water_body_type(section_id), target)
        used = int(mine[mine["parameter"].isin(verdict.parameter_classes)]["count"].sum())
        rows.append(_assessment_row(section_id, day, "surface_water", SURFACE_WATER_STANDARD, verdict, target,
                                    verdict.is_compliant, verdict.grade, used, section["is_cross_boundary"]))
    return rows


def assess_seawater_day(observations: pd.DataFrame, day: date) -> list[dict]:
    means = daily_means(observations)
    rows = []
    for point_id, point in registry.sea_points().iterrows():
        mine = means[means["station_id"] == point_id]
        values = dict(zip(mine["parameter"], mine["mean"]))
        target = point["target_class"]
        verdict = seawater.classify(values, target)
        is_compliant = verdict.is_compliant
        used = int(mine[mine["parameter"].isin(verdict.parameter_classes)]["count"].sum())
        rows.append(_assessment_row(point_id, day, "seawater", SEAWATER_STANDARD, verdict, target,
                                    is_compliant, None, used, point["is_cross_boundary"]))
    return rows
