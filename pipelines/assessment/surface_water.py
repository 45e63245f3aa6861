"""Surface-water assessment: GB 3838-2002 and 地表水环境质量评价办法(试行) 2011.

The rules' numbers live in pipelines/reference/data (gb3838_*.csv, reporting_precision.csv,
surface_water_completeness.csv, river_grades.csv, tli_*.csv), each row with its source and its
effective period, read through standards.in_force: one version of each today, so the functions
without a time (`at`) use the rows in force today.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd

from pipelines.reference import standards

DATA = standards.DATA_DIR
INSUFFICIENT = "insufficient data"
ASSESSED = "assessed"
# A section-day or month lacking a valid value of an indicator its method requires
# (required_indicators.csv): never compliant, never a reason to close an alert episode, and told
# apart from a failure everywhere (pipelines/display.py: 指标不全).
INDICATORS_INCOMPLETE = "indicators incomplete"
MAIN_POLLUTANT_COUNT = 3  # 选择水质类别最差的前三项指标 (Qinzhou report; standards.md §2.2, C1)


@dataclass
class Exceedance:
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
    """The single-factor result for one sample, day, month or year of one section."""
    water_class: str | None
    parameter_classes: dict[str, str] = field(default_factory=dict)
    failing: list[Exceedance] = field(default_factory=list)        # worse than the target
    main_pollutants: list[str] = field(default_factory=list)       # only when worse than class III
    target_class: str | None = None

    @property
    def is_assessed(self) -> bool:
        return self.water_class is not None

    @property
    def grade(self) -> str | None:
        return None if self.water_class is None else _grades()[self.water_class]

    @property
    def is_compliant(self) -> bool | None:
        if self.water_class is None or not self.target_class:
            return None
        return standards.surface_class_rank(self.water_class) <= standards.surface_class_rank(self.target_class)


def _grades(at=None) -> dict[str, str]:
    return standards.water_class_grades(at)["grade"].to_dict()


def _precision(at=None) -> dict[tuple[str, str], str]:
    return _precision_of(standards.version_start("reporting_precision", at))


@standards.rule_cache
def _precision_of(start) -> dict[tuple[str, str], str]:
    table = standards.in_force("reporting_precision", start)
    return {(row["context"], row["code"]): row["decimals"] for row in table.to_dict(orient="records")}


def reported(code: str, value: float, context: str, at=None) -> float:
    """The value at the precision it is reported and compared with (修约), by context.

    realtime_feed: the raw value (the CNEMC feed classes its raw values, measured on the samples);
    period_mean: the reported decimals, rounded half to even (GB/T 8170), UNVERIFIED against 82号.
    """
    decimals = _precision(at).get((context, code))
    if decimals is None or decimals == "raw":
        return value
    quantum = Decimal(1).scaleb(-int(decimals))
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_EVEN))


def _exceedance(code, value, water_class, target, water_body_type, at=None) -> Exceedance:
    return Exceedance(code, value, water_class,
                      standards.exceedance_multiple(code, value, target, water_body_type, at),
                      standards.exceedance_multiple(code, value, standards.EXCEEDANCE_BASIS_CLASS, water_body_type, at))


def main_pollutants(classes: dict[str, str], values: dict[str, float], water_body_type: str, at=None) -> list[str]:
    """The three indicators of worst class, ties broken by the larger multiple over class III,
    named only when the section is worse than class III (standards.md §2.2)."""
    over_iii = [c for c, k in classes.items() if standards.surface_class_rank(k) > 3]

    def severity(code):
        multiple = standards.exceedance_multiple(code, values[code], "Ⅲ", water_body_type, at)
        return (standards.surface_class_rank(classes[code]), multiple if multiple is not None else -1.0)

    return sorted(over_iii, key=severity, reverse=True)[:MAIN_POLLUTANT_COUNT]


def classify(values: dict[str, float], water_body_type: str = "river", target_class: str | None = None,
             context: str = "realtime_feed", indicators=None, at=None) -> Verdict:
    """Single-factor class over the assessment indicators present (or `indicators`, a scheme's
    subset), under the GB 3838 rows in force at `at` (default: today). Failing indicators are those
    worse than the target (class III without a target)."""
    classes, compared = {}, {}
    for code in indicators or standards.assessment_indicators(at):
        value = values.get(code)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        value = reported(code, float(value), context, at)
        water_class = standards.surface_water_class(code, value, water_body_type, at)
        if water_class is not None:
            classes[code], compared[code] = water_class, value
    if not classes:
        return Verdict(None, target_class=target_class)
    worst = max(classes.values(), key=standards.surface_class_rank)
    basis = target_class or standards.EXCEEDANCE_BASIS_CLASS
    failing = [_exceedance(code, compared[code], k, basis, water_body_type, at) for code, k in classes.items()
               if standards.surface_class_rank(k) > standards.surface_class_rank(basis)]
    return Verdict(worst, classes, failing, main_pollutants(classes, compared, water_body_type, at), target_class)


def required_indicators(water_body_type: str = "river", at=None) -> tuple[str, ...]:
    """The indicators a section-day or month must have a valid value of (required_indicators.csv:
    pH, DO, CODMn, NH3-N, TP; the table says why TN is not among them, for lakes either)."""
    table = standards.in_force("required_indicators", at)
    return tuple(code for code, applies in zip(table["code"], table["applies_to"]) if applies in ("all", water_body_type))


def status_of(verdict: Verdict, values: dict, water_body_type: str = "river", indicators=None,
              at=None) -> tuple[str, list[str]]:
    """(status, required indicators without a valid value) of a section's day or month: 'insufficient
    data' when nothing could be classed, 'indicators incomplete' when a required indicator (of those
    the scheme assesses, `indicators`, where it names them) has no valid value, else 'assessed'.

    Worked example: a river section-day with pH 7.4, DO 6.1, CODMn 3.2, NH3-N 0.4 and no TP (its
    column renamed in the feed) classes Ⅱ on what it has, but its status is 'indicators incomplete'
    (missing: tp): it is not compliant, and it cannot close an episode (verdict_under)."""
    def valid(code):
        value = values.get(code)
        return value is not None and not (isinstance(value, float) and math.isnan(value))

    required = [c for c in required_indicators(water_body_type, at) if indicators is None or c in indicators]
    missing = [code for code in required if not valid(code)]
    if not verdict.is_assessed:
        return INSUFFICIENT, missing
    return (INDICATORS_INCOMPLETE, missing) if missing else (ASSESSED, [])


def verdict_under(status: str, is_compliant: bool | None) -> bool | None:
    """The compliance a row may state under its status: an incomplete period is never compliant; a
    failure on the indicators it has is still a failure (a missing one cannot make it pass)."""
    if status == ASSESSED:
        return is_compliant
    return False if is_compliant is False else None


def with_required_status(row: dict, values: dict, water_body_type: str = "river", indicators=None, at=None) -> dict:
    """An assessment row (day or month) under the required-indicator rule: an assessed row lacking
    a valid value of a required indicator becomes 'indicators incomplete', never compliant."""
    if row.get("status") != ASSESSED:
        return row
    verdict = Verdict(row.get("water_class"))
    status, _ = status_of(verdict, values, water_body_type, indicators, at)
    return {**row, "status": status, "is_compliant": verdict_under(status, row.get("is_compliant"))}


# --- periods --------------------------------------------------------------------------------

def completeness(at=None) -> pd.DataFrame:
    return standards.in_force_typed("surface_water_completeness", at).set_index("period")


def period_means(frame: pd.DataFrame, period: str) -> dict[str, float]:
    """Means of each indicator over a period, from rows (parameter, value, [month]); an indicator
    with fewer valid values than the period's rule is left out (so "insufficient data" when none
    remains). For a year, `frame` holds monthly means, one row per parameter and month."""
    minimum = int(completeness().loc[period, "min_values"])
    grouped = frame.dropna(subset=["value"]).groupby("parameter")["value"].agg(["mean", "count"])
    return {code: float(row["mean"]) for code, row in grouped.iterrows() if row["count"] >= minimum}


def classify_period(frame: pd.DataFrame, period: str, water_body_type: str = "river",
                    target_class: str | None = None, indicators=None) -> Verdict:
    means = period_means(frame, period)
    return classify(means, water_body_type, target_class, context="period_mean", indicators=indicators)


def monthly_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Month-by-month means of valid values (rows: parameter, month, value, count); months
    below the month rule are dropped, so a year counts only complete months."""
    minimum = int(completeness().loc["month", "min_values"])
    grouped = frame.dropna(subset=["value"]).groupby(["parameter", "month"])["value"].agg(["mean", "count"])
    grouped = grouped[grouped["count"] >= minimum].reset_index()
    return grouped.rename(columns={"mean": "value"})


# --- rivers and basins ----------------------------------------------------------------------

def river_grades(at=None) -> pd.DataFrame:
    return standards.in_force_typed("river_grades", at).sort_values("order")


@dataclass
class RiverVerdict:
    method: str                     # "mean of sections" (< 5) or "section shares" (≥ 5)
    grade: str | None
    water_class: str | None = None
    share_i_iii: float | None = None
    share_worse_than_v: float | None = None
    class_counts: dict[str, int] = field(default_factory=dict)


def grade_from_shares(share_i_iii: float, share_worse_than_v: float) -> str:
    for _, row in river_grades().iterrows():
        if not pd.isna(row["min_share_i_iii"]) and share_i_iii < row["min_share_i_iii"]:
            continue
        if not pd.isna(row["max_share_i_iii"]) and share_i_iii >= row["max_share_i_iii"]:
            continue
        if not pd.isna(row["min_share_worse_than_v"]) and share_worse_than_v < row["min_share_worse_than_v"]:
            continue
        if not pd.isna(row["max_share_worse_than_v"]) and share_worse_than_v >= row["max_share_worse_than_v"]:
            continue
        return row["grade"]
    raise ValueError(f"no river grade for shares {share_i_iii}, {share_worse_than_v}")


def classify_river(section_values: dict[str, dict[str, float]], water_body_type: str = "river") -> RiverVerdict:
    """A river or basin from its sections' values (section → indicator → value): fewer than 5
    sections, the mean of each indicator is classed; 5 or more, the section-share table."""
    if len(section_values) < 5:
        frame = pd.DataFrame([{"parameter": p, "value": v} for values in section_values.values()
                              for p, v in values.items()])
        means = frame.groupby("parameter")["value"].mean().to_dict() if len(frame) else {}
        verdict = classify(means, water_body_type, context="period_mean")
        return RiverVerdict("mean of sections", verdict.grade, verdict.water_class)
    classes = [classify(v, water_body_type).water_class for v in section_values.values()]
    classes = [k for k in classes if k is not None]
    if not classes:
        return RiverVerdict("section shares", None)
    share_good = sum(standards.surface_class_rank(k) <= 3 for k in classes) / len(classes)
    share_bad = sum(k == standards.SURFACE_WATER_WORST for k in classes) / len(classes)
    counts = {k: classes.count(k) for k in (*standards.SURFACE_WATER_CLASSES, standards.SURFACE_WATER_WORST)}
    return RiverVerdict("section shares", grade_from_shares(share_good, share_bad), None, share_good, share_bad, counts)


# --- drinking-water sources and reservoirs ---------------------------------------------------

def drinking_water_limits(at=None) -> pd.DataFrame:
    return standards.in_force_typed("gb3838_drinking_water", at).set_index("code")


def drinking_water_exceedances(values: dict[str, float]) -> list[dict]:
    """GB 3838 Table 2 items over their limit, for drinking-water sources."""
    found = []
    for code, row in drinking_water_limits().iterrows():
        value = values.get(code)
        if value is not None and not pd.isna(value) and value > row["limit"]:
            found.append({"parameter": code, "value": value, "limit": row["limit"],
                          "multiple": (value - row["limit"]) / row["limit"]})
    return found


def tli_parameters(at=None) -> pd.DataFrame:
    return standards.in_force_typed("tli_parameters", at).set_index("code")


def tli_grades(at=None) -> pd.DataFrame:
    return standards.in_force_typed("tli_grades", at)


@dataclass
class TrophicState:
    index: float
    grade: str
    weights: dict[str, float]


def trophic_state(values: dict[str, float]) -> TrophicState | None:
    """TLI(Σ) = Σ W_j · TLI(j), W_j = r_ij² / Σ r_ij² over the parameters present (chla in µg/L,
    SD in m, others mg/L). None when none of the five is present."""
    table = tli_parameters()
    present = {c: float(v) for c, v in values.items() if c in table.index and v is not None and v > 0}
    if not present:
        return None
    total = sum(table.loc[c, "r_ij"] ** 2 for c in present)
    weights = {c: float(table.loc[c, "r_ij"] ** 2 / total) for c in present}
    index = float(sum(weights[c] * 10 * (table.loc[c, "intercept"] + table.loc[c, "slope"] * math.log(v))
                      for c, v in present.items()))
    return TrophicState(index, trophic_grade(index), weights)


def trophic_grade(index: float) -> str:
    for _, band in tli_grades().iterrows():
        above = pd.isna(band["lower"]) or (index >= band["lower"] if band["lower_inclusive"] else index > band["lower"])
        below = pd.isna(band["upper"]) or (index <= band["upper"] if band["upper_inclusive"] else index < band["upper"])
        if above and below:
            return band["grade"]
    raise ValueError(f"TLI {index} falls in no grade band")
