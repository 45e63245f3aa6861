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


def classify(values: dict[str, float], water_body_type: str = "river", target_class: str | None = None,
             context: str = "realtime_feed", indicators=None, at=None) -> Verdict:
    """Single-factor class over the assessment indicators present (or `indicators`, a scheme's
    subset), under the GB 3838 rows in force at `at` (default: today). Failing indicators are those
    worse than the target (class III without a target). One sample, day or period: classify_many of
    one key, the same rules."""
    codes = list(values)
    return classify_many([0] * len(codes), codes, [values[c] for c in codes], {0: water_body_type},
                         {0: target_class}, context, indicators, at)[0]


def reported_values(codes, values, context: str, at=None) -> list[float]:
    """`reported` of each value (raw where its context keeps the raw value, the common case)."""
    precision = _precision(at)
    return [value if precision.get((context, code)) in (None, "raw") else reported(code, value, context, at)
            for code, value in zip(codes, values)]


def classify_many(keys, codes, values, water_body_types: dict, target_classes: dict,
                  context: str = "realtime_feed", indicators=None, at=None) -> dict:
    """The single-factor verdicts of many samples, days or periods at once (set-based, issue 27):
    rows (keys[i], codes[i], values[i]); `water_body_types` and `target_classes` by key, which names
    every key to judge (a key without a classed value gets an unassessed Verdict). Each value is
    classed by standards.surface_water_ranks and its exceedance multiples computed by
    standards.exceedance_multiples over all rows together; then per key: the worst class, the
    failing indicators (worse than the target, class III without one) and the main pollutants, in
    the indicators' table order, as `classify` gives them one key at a time."""
    import numpy as np

    at = standards.rule_date(at)   # the rules' day, resolved once for every lookup below
    order = {code: n for n, code in enumerate(indicators or standards.assessment_indicators(at))}
    chosen = []
    for key, code, value in zip(keys, codes, values):
        if key not in target_classes or code not in order or value is None \
                or (isinstance(value, float) and math.isnan(value)):
            continue
        chosen.append((key, code, float(value)))
    if chosen:
        position = {key: n for n, key in enumerate(target_classes)}
        chosen.sort(key=lambda r: (position.get(r[0], len(position)), order[r[1]]))
    row_keys = [r[0] for r in chosen]
    row_codes = [r[1] for r in chosen]
    types = [water_body_types[k] for k in row_keys]
    compared = reported_values(row_codes, [r[2] for r in chosen], context, at)
    ranks = standards.surface_water_ranks(row_codes, compared, types, at) if chosen else np.zeros(0, dtype=int)
    classed = np.flatnonzero(ranks > 0)
    bases = [target_classes[row_keys[i]] or standards.EXCEEDANCE_BASIS_CLASS for i in classed]
    c_codes, c_values, c_types = [row_codes[i] for i in classed], [compared[i] for i in classed], [types[i] for i in classed]
    # the multiples over the basis (the target, or class III) and over class III, in one call
    both = standards.exceedance_multiples(c_codes * 2, c_values * 2,
                                          bases + [standards.EXCEEDANCE_BASIS_CLASS] * len(classed), c_types * 2, at)
    vs_basis, vs_iii = both[:len(classed)], both[len(classed):]
    basis_rank = np.array([standards.surface_class_rank(b) for b in bases], dtype=int)
    failing_rows = ranks[classed] > basis_rank

    def plain(x):
        return None if math.isnan(x) else float(x)

    found: dict = {}
    for j, i in enumerate(classed.tolist()):
        key, code, rank = row_keys[i], row_codes[i], int(ranks[i])
        worst, classes, failing, over_iii = found.setdefault(key, [0, {}, [], []])
        water_class = standards.SURFACE_WATER_RANKED[rank]
        classes[code] = water_class
        found[key][0] = max(worst, rank)
        if failing_rows[j]:
            failing.append(Exceedance(code, c_values[j], water_class, plain(vs_basis[j]), plain(vs_iii[j])))
        if rank > 3:
            multiple = plain(vs_iii[j])
            over_iii.append((rank, multiple if multiple is not None else -1.0, code))
    verdicts = {}
    for key, target_class in target_classes.items():
        if key not in found:
            verdicts[key] = Verdict(None, target_class=target_class)
            continue
        worst, classes, failing, over_iii = found[key]
        main = [code for _, _, code in sorted(over_iii, key=lambda r: (r[0], r[1]), reverse=True)][:MAIN_POLLUTANT_COUNT]
        verdicts[key] = Verdict(standards.SURFACE_WATER_RANKED[worst], classes, failing, main, target_class)
    return verdicts


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
