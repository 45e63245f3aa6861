"""Assessment of sections and points by the single-factor method.

Surface water: GB 3838-2002 with the 2011 assessment method (地表水环境质量评价办法(试行)):
the class of a section is the worst class among the assessment indicators measured; it
complies when that class is no worse than its target. Seawater: GB 3097-1997, the same way.
Values flagged suspect, fail or missing are left out (observations.ASSESSABLE_FLAGS).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from pipelines import registry, standards
from pipelines.observations import ASSESSABLE_FLAGS

SURFACE_WATER_STANDARD = "GB 3838-2002; 地表水环境质量评价办法(试行) 2011"
SEAWATER_STANDARD = "GB 3097-1997"
SEAWATER_INDICATORS = ("ph", "do", "cod", "bod5", "din", "nonionic_ammonia", "phosphate", "petroleum",
                       "hg", "cd", "pb", "cr6", "as", "cu", "zn", "se", "cyanide", "sulfide", "phenol", "las")


@dataclass
class Failing:
    parameter: str
    value: float
    water_class: str
    multiple_vs_target: float | None
    multiple_vs_class_iii: float | None

    def as_dict(self) -> dict:
        def rounded(x):
            return None if x is None else round(x, 3)
        return {"parameter": self.parameter, "value": round(self.value, 6), "class": self.water_class,
                "multiple_vs_target": rounded(self.multiple_vs_target),
                "multiple_vs_class_iii": rounded(self.multiple_vs_class_iii)}


@dataclass
class Verdict:
    water_class: str | None
    parameter_classes: dict[str, str]
    failing: list[Failing] = field(default_factory=list)

    @property
    def is_assessed(self) -> bool:
        return self.water_class is not None


def classify_surface_water(values: dict[str, float], water_body_type: str = "river",
                           target_class: str | None = None) -> Verdict:
    """Single-factor class over the assessment indicators present in `values` (code → value).
    Failing indicators are those worse than the target (class III when no target is given)."""
    classes = {}
    for code in standards.assessment_indicators():
        value = values.get(code)
        if value is None or pd.isna(value):
            continue
        water_class = standards.surface_water_class(code, float(value), water_body_type)
        if water_class is not None:
            classes[code] = water_class
    if not classes:
        return Verdict(None, {})
    worst = max(classes.values(), key=standards.surface_class_rank)
    basis = target_class or standards.EXCEEDANCE_BASIS_CLASS
    failing = [
        Failing(code, float(values[code]), water_class,
                standards.exceedance_multiple(code, float(values[code]), basis, water_body_type),
                standards.exceedance_multiple(code, float(values[code]), standards.EXCEEDANCE_BASIS_CLASS,
                                              water_body_type))
        for code, water_class in classes.items()
        if standards.surface_class_rank(water_class) > standards.surface_class_rank(basis)
    ]
    return Verdict(worst, classes, failing)


def classify_seawater(values: dict[str, float], target_class: str | None = None) -> Verdict:
    classes = {}
    for code in SEAWATER_INDICATORS:
        value = values.get(code)
        if value is None or pd.isna(value):
            continue
        water_class = standards.seawater_class(code, float(value))
        if water_class is not None:
            classes[code] = water_class
    if not classes:
        return Verdict(None, {})
    worst = max(classes.values(), key=standards.seawater_class_rank)
    basis_rank = standards.seawater_class_rank(target_class) if target_class else 2
    failing = [Failing(code, float(values[code]), water_class, None, None)
               for code, water_class in classes.items()
               if standards.seawater_class_rank(water_class) > basis_rank]
    return Verdict(worst, classes, failing)


def daily_means(observations: pd.DataFrame) -> pd.DataFrame:
    """Mean of the assessable values of each station and parameter, with their count."""
    usable = observations[observations["qc_flag"].isin(ASSESSABLE_FLAGS) & observations["value"].notna()]
    return usable.groupby(["station_id", "parameter"])["value"].agg(["mean", "count"]).reset_index()


def _assessment_row(station_id, day, domain, standard, verdict: Verdict, target, is_compliant, grade,
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
        "failing_parameters": json.dumps([f.as_dict() for f in verdict.failing], ensure_ascii=False),
        "values_used": int(values_used),
        "is_cross_boundary": bool(is_cross_boundary),
        "status": "assessed" if verdict.is_assessed else "insufficient data",
    }


def assess_surface_water_day(observations: pd.DataFrame, day: date) -> list[dict]:
    """One row per registry surface-water section for the day, assessed or 'insufficient data'."""
    means = daily_means(observations)
    rows = []
    for section_id, section in registry.water_sections().iterrows():
        mine = means[means["station_id"] == section_id]
        values = dict(zip(mine["parameter"], mine["mean"]))
        target = section["target_class"]
        verdict = classify_surface_water(values, registry.water_body_type(section_id), target)
        is_compliant = None
        grade = None
        if verdict.is_assessed:
            is_compliant = standards.surface_class_rank(verdict.water_class) <= standards.surface_class_rank(target)
            grade = standards.water_class_grades().loc[verdict.water_class, "grade"]
        used = int(mine[mine["parameter"].isin(verdict.parameter_classes)]["count"].sum())
        rows.append(_assessment_row(section_id, day, "surface_water", SURFACE_WATER_STANDARD, verdict, target,
                                    is_compliant, grade, used, section["is_cross_boundary"]))
    return rows


def assess_seawater_day(observations: pd.DataFrame, day: date) -> list[dict]:
    means = daily_means(observations)
    rows = []
    for point_id, point in registry.sea_points().iterrows():
        mine = means[means["station_id"] == point_id]
        values = dict(zip(mine["parameter"], mine["mean"]))
        target = point["target_class"]
        verdict = classify_seawater(values, target)
        is_compliant = None
        if verdict.is_assessed:
            is_compliant = standards.seawater_class_rank(verdict.water_class) <= standards.seawater_class_rank(target)
        used = int(mine[mine["parameter"].isin(verdict.parameter_classes)]["count"].sum())
        rows.append(_assessment_row(point_id, day, "seawater", SEAWATER_STANDARD, verdict, target,
                                    is_compliant, None, used, point["is_cross_boundary"]))
    return rows
