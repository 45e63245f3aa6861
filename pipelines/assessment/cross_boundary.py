"""Cross-boundary assessment: monthly and yearly verdicts of a section against the scheme of
its agreement (pipelines/reference/data/cross_boundary_schemes.csv): indicators, statistic, target class
and, by year, the share of compliant months the agreement demands; and each agreement's outcome for a
year with the money its terms imply (cross_boundary_agreements.csv: the assessment section, the fund,
who pays whom on pass and on fail, the central award), as recorded, with the terms not recovered left
unknown rather than guessed."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from pipelines.reference import registry, standards
from pipelines.assessment import surface_water
from pipelines.assessment.daily import with_target
from pipelines.reference.targets import Target, target_in_force


@dataclass
class Scheme:
    scheme_id: str
    indicators: tuple[str, ...] | None   # None: every assessment indicator
    target_class: str
    required_monthly_compliance: float | None   # None: the agreement's rate was not recovered
    source: str
    agreement_id: str = ""              # its terms and money in cross_boundary_agreements.csv ('' default)
    target_status: str = "agreement"    # 'agreement' (its own term, as reported), 'assumed', 'section'


def schemes(at=None) -> pd.DataFrame:
    """The scheme rows in force at `at` (each agreement year is a row with its effective period)."""
    return standards.in_force("cross_boundary_schemes", at)


def scheme_for(section_id: str, year: int, at: date | None = None) -> Scheme:
    """The scheme of a section for a calendar year: the rows in force on its last day (the
    agreements set their targets per year; period_changeover.csv, surface_water/year). Under the
    default scheme the target is the section's own in force on `at` (a month: its last day; default
    the year's last day: pipelines.reference.targets), '' when unset: never a default class."""
    table = schemes(date(year, 12, 31))
    for _, row in table[table["applies_to"] != "*"].iterrows():
        if section_id in row["applies_to"].split(";"):
            return Scheme(row["scheme_id"], tuple(row["indicators"].split(";")), row["target_class"],
                          _rate(row["required_monthly_compliance"]), row["source"], row["agreement_id"],
                          row["target_status"])
    default = table[table["applies_to"] == "*"].iloc[0]
    target = target_in_force(section_id, at or date(year, 12, 31))
    return Scheme(default["scheme_id"], None, target.target_class or "",   # '': unset (as the registry writes it)
                  float(default["required_monthly_compliance"]), default["source"], "", default["target_status"])


def stored_target_status(scheme: Scheme, section_id: str, day: date) -> str:
    """assessments.target_status of a period judged under `scheme`: the section's own target's status
    under the default scheme ('section'); an agreement's own term, as recorded, is 'official'; any
    other ('assumed', a term the copies do not give) is 'assumed'. Unset when there is no class."""
    if scheme.target_status == "section":
        return target_in_force(section_id, day).status
    if not scheme.target_class:
        return "unset"
    return "official" if scheme.target_status == "agreement" else "assumed"


def _rate(text: str) -> float | None:
    """A required rate from its cell; an empty cell is a rate the agreement's copies do not give."""
    return float(text) if text.strip() else None


@dataclass
class MonthlyVerdict:
    section_id: str
    month: str
    verdict: surface_water.Verdict
    scheme: Scheme
    answerable_jurisdiction: str   # the upstream jurisdiction answers for the section


def assess_month(section_id: str, month: str, frame: pd.DataFrame) -> MonthlyVerdict:
    """`frame`: the month's valid values (parameter, value) of the section."""
    year, number = int(month[:4]), int(month[5:7])
    month_end = (date(year, number, 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    scheme = scheme_for(section_id, year, at=month_end)   # the month's own target (issue 23)
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
    required_rate: float | None
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
    required_rate = scheme.required_monthly_compliance
    meets = None if rate is None or required_rate is None or not annual.is_assessed else (
        rate >= required_rate and bool(annual.is_compliant))
    return YearlyVerdict(section_id, year, annual, len(assessed), compliant, rate,
                         scheme.required_monthly_compliance, meets)


def month_to_date_rows(monthly_rollups: pd.DataFrame, month_start) -> list[dict]:
    """One 'month' assessment row per cross-boundary water section from the month's rollup means
    (month to date), against its agreement's scheme. The upstream jurisdiction answers for it."""
    import json

    month_end = (month_start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    sections = registry.water_sections(month_end)   # the registry and the targets of the month's last day
    version = standards.rule_version("surface_water", month_end).id  # period_changeover.csv: a month, its last day
    rows = []
    for section_id, section in sections[sections["is_cross_boundary"]].iterrows():
        mine = monthly_rollups[(monthly_rollups["station_id"] == section_id)
                               & (monthly_rollups["averaging_period"] == "PT0S") & monthly_rollups["mean"].notna()]
        scheme = scheme_for(section_id, month_start.year, at=month_end)
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
        # the target it was judged against and its status; unset: the class without a verdict (目标未定)
        rows[-1] = with_target(rows[-1], Target(scheme.target_class or None,
                                                stored_target_status(scheme, section_id, month_end),
                                                scheme.source, scheme.source, None, None))
    return rows


# --- agreements: their terms and the outcome of a year ----------------------------------------

@dataclass(frozen=True)
class Transfer:
    """A payment the terms name: who pays whom, how much (yuan; None: not stated), per 'year' or
    for the whole 'agreement'."""
    payer: str
    payee: str
    amount_yuan: float | None
    per: str


@dataclass(frozen=True)
class Agreement:
    """One agreement's terms as recorded in cross_boundary_agreements.csv (each with its source
    and confidence there): the assessment section as the agreement prints it and the registry
    section envmon reads for it, the fund, who pays whom on pass and on fail (None: not recovered),
    and the central award."""
    agreement_id: str
    scheme_id: str
    name_zh: str
    name_en: str
    upstream_party: str
    downstream_party: str
    signed: str
    section_printed: str
    section_id: str
    section_match: str          # 'name' (the registry's section of that name) or 'assumed'
    section_note: str
    data_basis: str
    fund_each_yuan: float | None
    fund_per: str
    currency: str
    on_pass: Transfer | None
    on_fail: Transfer | None
    direction_status: str
    central_award_recipient: str
    central_award_yuan: float | None
    central_award_condition: str
    central_award_status: str
    other_terms: str
    reported_outcomes: str
    valid_from: date
    valid_to: date
    source: str
    status: str

    def covers(self, year: int) -> bool:
        return self.valid_from <= date(year, 12, 31) and self.valid_to >= date(year, 1, 1)


def _amount(text: str) -> float | None:
    return float(text) if text.strip() else None


def _transfer(row, side: str) -> Transfer | None:
    if not row[f"{side}_payer"]:
        return None
    return Transfer(row[f"{side}_payer"], row[f"{side}_payee"], _amount(row[f"{side}_amount_yuan"]), row[f"{side}_per"])


def agreements() -> list[Agreement]:
    """Every agreement of cross_boundary_agreements.csv, oldest first."""
    out = []
    for _, row in standards.rule_table("cross_boundary_agreements").iterrows():
        out.append(Agreement(
            row["agreement_id"], row["scheme_id"], row["name_zh"], row["name_en"], row["upstream_party"],
            row["downstream_party"], row["signed"], row["section_printed"], row["section_id"], row["section_match"],
            row["section_note"], row["data_basis"], _amount(row["fund_each_yuan"]), row["fund_per"], row["currency"],
            _transfer(row, "pass"), _transfer(row, "fail"), row["direction_status"], row["central_award_recipient"],
            _amount(row["central_award_yuan"]), row["central_award_condition"], row["central_award_status"],
            row["other_terms"], row["reported_outcomes"], date.fromisoformat(row["valid_from"]),
            date.fromisoformat(row["valid_to"]), row["source"], row["status"]))
    return sorted(out, key=lambda a: a.valid_from)


def agreements_in(year: int) -> list[Agreement]:
    """The agreements in force during a calendar year (none: the year is outside every agreement)."""
    return [a for a in agreements() if a.covers(year)]


# an agreement year's verdict: the key, and what a reader is told (pipelines.display.agreement_verdict_text)
MET, NOT_MET, PENDING, TERMS_UNKNOWN, NO_DATA = "met", "not_met", "pending", "terms_unknown", "no_data"


@dataclass
class MonthOutcome:
    month: str                  # 'YYYY-MM'
    verdict: MonthlyVerdict | None   # None: no valid value in the month
    counted: bool               # counted in the year's rate (an assessed month, see month_counts)


@dataclass
class AgreementOutcome:
    agreement: Agreement
    year: int
    scheme: Scheme
    months: list[MonthOutcome]
    yearly: YearlyVerdict | None    # None: no value at the assessment section all year
    verdict: str                    # MET, NOT_MET, PENDING, TERMS_UNKNOWN, NO_DATA
    uncounted: int                  # months of the year with no counted verdict (no data, too few, incomplete)
    transfer: Transfer | None       # what the terms imply for the verdict; None: nothing can be implied
    central_award: bool | None      # whether the central award's condition is met; None: unknown


def agreement_verdict(yearly: YearlyVerdict | None, months_in_year: int = 12) -> tuple[str, int]:
    """The verdict of an agreement year, and the months without a counted verdict. A month without
    data is never a failure and never a pass: the year is met only if it would be met had every
    such month failed, and missed only if it would be missed had every such month complied (or the
    annual mean of the months measured misses the target class); otherwise it is pending."""
    if yearly is None or yearly.months_assessed == 0:
        return NO_DATA, months_in_year
    uncounted = months_in_year - yearly.months_assessed
    if yearly.required_rate is None:
        return TERMS_UNKNOWN, uncounted
    if yearly.annual.is_assessed and yearly.annual.is_compliant is False:
        return NOT_MET, uncounted
    best = (yearly.months_compliant + uncounted) / months_in_year
    worst = yearly.months_compliant / months_in_year
    if best < yearly.required_rate:
        return NOT_MET, uncounted
    if not yearly.annual.is_assessed or worst < yearly.required_rate:
        return PENDING, uncounted
    return MET, uncounted


def agreement_outcome(agreement: Agreement, year: int, frame: pd.DataFrame, required=None) -> AgreementOutcome:
    """An agreement's year at its assessment section: `frame` the section's valid values of the
    year (parameter, value, month 'YYYY-MM'); `required` the indicators a month must have to count
    (default: the scheme's own). The transfer is the one the terms as recorded name for the verdict,
    never one for a pending or unknown year."""
    scheme = scheme_for(agreement.section_id, year)
    required = tuple(required or scheme.indicators or ())
    by_month = dict(tuple(frame.groupby("month"))) if len(frame) else {}
    months = []
    for number in range(1, 13):
        label = f"{year}-{number:02d}"
        rows = by_month.get(label)
        if rows is None:
            months.append(MonthOutcome(label, None, False))
            continue
        verdict = assess_month(agreement.section_id, label, rows[["parameter", "value"]])
        months.append(MonthOutcome(label, verdict, month_counts(verdict, rows[["parameter", "value"]], required)))
    yearly = assess_year(agreement.section_id, year, frame[["parameter", "value", "month"]], required) \
        if len(frame) else None
    verdict, uncounted = agreement_verdict(yearly)
    transfer = {MET: agreement.on_pass, NOT_MET: agreement.on_fail}.get(verdict)
    central = {MET: True, NOT_MET: False}.get(verdict)
    return AgreementOutcome(agreement, year, scheme, months, yearly, verdict, uncounted, transfer, central)
