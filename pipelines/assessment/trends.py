"""Trends of a section's or station's monthly series: Spearman rank correlation against time
with the critical values of the 2011 assessment method, and the Mann–Kendall and seasonal
Kendall tests from pymannkendall (standards.md §2.5)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pandas as pd
import pymannkendall
from scipy import stats

from pipelines.reference import standards


@dataclass
class Trend:
    method: str
    statistic: float
    n: int
    critical_value: float | None
    p_value: float | None
    direction: str  # "rising", "falling" or "no significant trend"
    note: str = ""


@cache
def critical_values() -> pd.DataFrame:
    return pd.read_csv(standards.DATA_DIR / "spearman_critical.csv").set_index("n")


def spearman_critical(n: int, alpha: float = 0.05) -> tuple[float, str]:
    """W_p from the table for 5 ≤ n ≤ 10; beyond it the published tables disagree in the third
    decimal (standards.md §2.5), so the t-approximation is used and said so."""
    column = "alpha_0_05" if alpha == 0.05 else "alpha_0_01"
    if n in critical_values().index:
        return float(critical_values().loc[n, column]), "table"
    if n < 5:
        raise ValueError("a Spearman trend needs at least 5 periods")
    t = stats.t.ppf(1 - alpha / 2, n - 2)
    return float(t / (t * t + n - 2) ** 0.5), "t-approximation (UNVERIFIED against the official table for n > 10)"


def spearman_trend(values, alpha: float = 0.05) -> Trend:
    """r_s = 1 − 6 Σ d² / (n (n² − 1)) of the values against their order in time."""
    series = [float(v) for v in values]
    n = len(series)
    ranks = pd.Series(series).rank().tolist()
    d_squared = sum((rank - (i + 1)) ** 2 for i, rank in enumerate(ranks))
    r_s = 1 - 6 * d_squared / (n * (n * n - 1))
    critical, basis = spearman_critical(n, alpha)
    direction = "no significant trend"
    if abs(r_s) >= critical:
        direction = "rising" if r_s > 0 else "falling"
    return Trend("spearman", r_s, n, critical, None, direction, basis)


def _from_mk(method: str, result, n: int) -> Trend:
    direction = {"increasing": "rising", "decreasing": "falling"}.get(result.trend, "no significant trend")
    return Trend(method, float(result.Tau), n, None, float(result.p), direction, f"S={result.s:.0f}, z={result.z:.3f}")


def mann_kendall(values, alpha: float = 0.05) -> Trend:
    series = [float(v) for v in values]
    return _from_mk("mann-kendall", pymannkendall.original_test(series, alpha=alpha), len(series))


def seasonal_kendall(monthly_values, alpha: float = 0.05, period: int = 12) -> Trend:
    series = [float(v) for v in monthly_values]
    return _from_mk("seasonal-kendall", pymannkendall.seasonal_test(series, period=period, alpha=alpha), len(series))
