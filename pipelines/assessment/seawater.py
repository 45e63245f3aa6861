"""Seawater assessment: GB 3097-1997 single-factor classes per point and survey, and per bay
the share of points in classes 1–2 (优良比例) and in 劣四类 (standards.md §3)."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from pipelines.reference import standards

# Items of GB 3097 Table 1 that class a point (temperature and suspended solids are rules on
# man-made change, which needs a baseline; coliforms apply to classes 1–2 only: not classed).
INDICATORS = ("ph", "do", "cod", "bod5", "din", "nonionic_ammonia", "phosphate", "petroleum",
              "hg", "cd", "pb", "cr6", "as", "cu", "zn", "se", "cyanide", "sulfide", "phenol", "las")
GOOD_CLASSES = ("一类", "二类")


@dataclass
class Verdict:
    water_class: str | None
    parameter_classes: dict[str, str] = field(default_factory=dict)
    failing: list[str] = field(default_factory=list)   # worse than the target (class 2 without one)
    target_class: str | None = None

    @property
    def is_assessed(self) -> bool:
        return self.water_class is not None

    @property
    def is_compliant(self) -> bool | None:
        if self.water_class is None or not self.target_class:
            return None
        return standards.seawater_class_rank(self.water_class) <= standards.seawater_class_rank(self.target_class)


def classify(values: dict[str, float], target_class: str | None = None, at=None) -> Verdict:
    """Single-factor class under the GB 3097 rows in force at `at` (default: today)."""
    classes = {}
    for code in INDICATORS:
        value = values.get(code)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        water_class = standards.seawater_class(code, float(value), at)
        if water_class is not None:
            classes[code] = water_class
    if not classes:
        return Verdict(None, target_class=target_class)
    worst = max(classes.values(), key=standards.seawater_class_rank)
    basis = standards.seawater_class_rank(target_class or "二类")
    failing = [c for c, k in classes.items() if standards.seawater_class_rank(k) > basis]
    return Verdict(worst, classes, failing, target_class)


@dataclass
class BayVerdict:
    points: int
    share_good: float | None           # 优良比例: classes 1 and 2
    share_worse_than_4: float | None   # 劣四类
    class_counts: dict[str, int]
    main_exceeding_items: list[str]    # items most often worse than class 2, most frequent first


def classify_bay(point_values: dict[str, dict[str, float]]) -> BayVerdict:
    verdicts = [classify(values) for values in point_values.values()]
    classed = [v for v in verdicts if v.is_assessed]
    if not classed:
        return BayVerdict(len(point_values), None, None, {}, [])
    counts = Counter(v.water_class for v in classed)
    exceeding = Counter(code for v in classed for code in v.failing)
    return BayVerdict(
        points=len(classed),
        share_good=sum(counts[k] for k in GOOD_CLASSES) / len(classed),
        share_worse_than_4=counts[standards.SEAWATER_WORST] / len(classed),
        class_counts=dict(counts),
        main_exceeding_items=[code for code, _ in exceeding.most_common()],
    )
