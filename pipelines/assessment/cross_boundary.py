"""Cross-boundary assessment: monthly and yearly verdicts of a section against the scheme of
its agreement (pipelines/reference/data/cross_boundary_schemes.csv): indicators, statistic, target class
and, by year, the share of compliant months the agreement demands."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from pipelines.reference import registry, standards
from pipelines.assessment import surface_water


@dataclass
class Scheme:
    scheme_id: str
    indicators: tuple[str, ...] | None   # None: every assessment indicator
    target_class: str
    required_monthly_compliance: float
    source: str


def schemes(at=None) -> pd.DataFrame:
    """The scheme rows in force at `at` (each agreement year is a row with its effective period)."""
    return standards.in_force("cross_boundary_schemes", at)


def scheme_for(section_id: str, year: int) -> Scheme:
    """The scheme of a section for a calendar year: the rows in force on its last day (the
    agreements set their targets per year; period_changeover.csv, surface_water/year)."""
    table = schemes(date(year, 12, 31))
    for _, row in table[table["applies_to"] != "*"].iterrows():
        if section_id in row["applies_to"].split(";"):
            return Scheme(row["scheme_id"], tuple(row["indicators"].split(";")), row["target_class"],
                          float(row["required_monthly_compliance"]), row["source"])
    default = table[table["applies_to"] == "*"].iloc[0]
    return Scheme(default["scheme_id"], None, registry.sections().loc[section_id, "target_class"],
                  float(default["required_monthly_compliance"]), default["source"])


@dataclass
class MonthlyVerdict:
    section_id: str
    month: str
    verdict: surface_water.Verdict
    scheme: Scheme
    answerable_jurisdiction: str   # the upstream jurisdiction answers for the section


def assess_month(section_id: str, month: str, frame: pd.DataFrame) -> MonthlyVerdict:
    """`frame`: the month's valid values (parameter, value) of the section."""
    scheme = scheme_for(section_id, int(month[:4]))
    verdict = surface_water.classify_period(frame, "month", registry.water_body_type(section_id),
                                            scheme.target_class, scheme.indicators)
    upstream = registry.sections().loc[section_id, "upstream_jurisdiction"]
    return MonthlyVerdict(section_id, month, verdict, scheme, upstream)


@dataclass
class YearlyVerdict:
    section_id: str
    year: int
    annual: surface_water.Verdict
    months_assessed: int
    months_compliant: int
    compliance_rate: float | None
    required_rate: float
    meets_agreement: bool | None


def month_counts(verdict: MonthlyVerdict, rows: pd.DataFrame, required=None) -> bool:
    """Whether a month counts in the year's compliance rate: only an assessed month. A month with
    values but no class (too few valid values) does not count, nor one lacking a valid monthly value
    of an indicator in `required` (数据不全: it cannot show compliance), unless the indicators it has
    already fail the target (a real failure, as the bulletin reports it: 未达标)."""
    if not verdict.verdict.is_assessed:
        return False
    if verdict.verdict.is_compliant is False:
        return True
    means = surface_water.period_means(rows, "month")
    return all(code in means for code in (required or ()))


def assess_year(section_id: str, year: int, frame: pd.DataFrame, required=None) -> YearlyVerdict:
    """`frame`: the year's valid values (parameter, value, month 'YYYY-MM'). `required`: the
    indicators a month must have to count (the reports pass the scheme's own, or the required
    ones under the default scheme); a month without any valid value, with too few, or lacking a
    required one (unless it already fails) is left out of the rate. A year without a counted month
    has no rate and no verdict on the agreement (None), never a failure."""
    scheme = scheme_for(section_id, year)
    water_body_type = registry.water_body_type(section_id)
    months = [(assess_month(section_id, month, rows), rows) for month, rows in frame.groupby("month")]
    assessed = [m for m, rows in months if month_counts(m, rows[["parameter", "value"]], required)]
    compliant = sum(bool(m.verdict.is_compliant) for m in assessed)
    annual = surface_water.classify_period(surface_water.monthly_means(frame), "year", water_body_type,
                                           scheme.target_class, scheme.indicators)
    rate = compliant / len(assessed) if assessed else None
    meets = None if rate is None or not annual.is_assessed else (rate >= scheme.required_monthly_compliance
                                                                 and bool(annual.is_compliant))
    return YearlyVerdict(section_id, year, annual, len(assessed), compliant, rate,
                         scheme.required_monthly_compliance, meets)


def month_to_date_rows(monthly_rollups: pd.DataFrame, month_start) -> list[dict]:
    """One 'month' assessment row per cross-boundary water section from the month's rollup means
    (month to date), against its agreement's scheme. The upstream jurisdiction answers for it."""
    import json

    sections = registry.water_sections()
    month_end = (month_start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    version = standards.rule_version("surface_water", month_end).id  # period_changeover.csv: a month, its last day
    rows = []
    for section_id, section in sections[sections["is_cross_boundary"]].iterrows():
        mine = monthly_rollups[(monthly_rollups["station_id"] == section_id)
                               & (monthly_rollups["averaging_period"] == "PT0S") & monthly_rollups["mean"].notna()]
        scheme = scheme_for(section_id, month_start.year)
        verdict = surface_water.classify(dict(zip(mine["parameter"], mine["mean"])),
                                         registry.water_body_type(section_id), scheme.target_class,
                                         context="period_mean", indicators=scheme.indicators, at=month_end)
        rows.append({
            "station_id": section_id, "period": "month", "period_start": month_start, "domain": "surface_water",
            "standard": f"GB 3838-2002; cross-boundary scheme {scheme.scheme_id}; month to date",
            "water_class": verdict.water_class, "target_class": scheme.target_class,
            "is_compliant": verdict.is_compliant, "grade": verdict.grade,
            "indicators_assessed": ";".join(sorted(verdict.parameter_classes)),
            "failing_parameters": json.dumps([f.as_dict() for f in verdict.failing], ensure_ascii=False),
            "values_used": int(mine[mine["parameter"].isin(verdict.parameter_classes)]["values_assessable"].sum()),
            # no valid mean of any indicator: no data; means, but none the scheme classes: too few
            "is_cross_boundary": True, "status": "assessed" if verdict.is_assessed else (
                "insufficient data" if len(mine) else "no data"),
            "aqi": None, "primary_pollutants": ";".join(verdict.main_pollutants),
            "rule_version": version,
        })
        # a month to date lacking a required indicator the scheme assesses: 'indicators incomplete'
        rows[-1] = surface_water.with_required_status(rows[-1], dict(zip(mine["parameter"], mine["mean"])),
                                                      registry.water_body_type(section_id), scheme.indicators,
                                                      month_end)
    return rows
