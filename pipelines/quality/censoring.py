"""Values below a detection limit ("<" in `censoring`, the limit in `detection_limit`): how they
enter means, and how a mean of them is reported. The rule is data (pipelines/reference/data/censoring.csv,
UNVERIFIED against the official text), so the method written beside each mean is the one used."""
from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd

from pipelines.reference import standards


@cache
def method() -> dict:
    return pd.read_csv(standards.DATA_DIR / "censoring.csv").iloc[0].to_dict()


def method_description() -> str:
    rule = method()
    return f"{rule['method']}: censored values counted as {rule['substitution_factor']:g} × detection limit"


def is_censored(frame: pd.DataFrame) -> pd.Series:
    return frame["censoring"].eq("<") if "censoring" in frame else pd.Series(False, index=frame.index)


def counted_values(frame: pd.DataFrame) -> pd.Series:
    """Each value as it enters a mean: a censored one as the factor times its detection limit."""
    limit = frame["detection_limit"] if "detection_limit" in frame else frame["value"]
    return frame["value"].where(~is_censored(frame), limit * method()["substitution_factor"])


def censoring_limits(frame: pd.DataFrame) -> pd.Series:
    """The detection limit of each censored value, NaN elsewhere (for the highest limit of a group)."""
    limit = frame["detection_limit"] if "detection_limit" in frame else frame["value"]
    return limit.where(is_censored(frame))


def reported_mean(mean: float, limit: float) -> str:
    """A mean as reported: '< limit' when it lies below the highest detection limit of the censored
    values it holds (it cannot then be told from 'not detected'), else the number; '' when none."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    if limit is not None and not (isinstance(limit, float) and math.isnan(limit)) and mean < limit:
        return method()["report_mean_below_limit_as"].format(limit=_plain(limit))
    return _plain(float(f"{mean:.6g}"))


def _plain(number: float) -> str:
    """Positional notation (0.00005, not 5e-05): the way a monitoring report prints a limit."""
    return np.format_float_positional(number, trim="-")
