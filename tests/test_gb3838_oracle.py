"""An independent oracle for the GB 3838-2002 classes (issue 27's set-based code is checked against it).

tests/test_water_set_based.py compares the set-based day with the one-day reference, but both now go
through the same arrays (standards.surface_water_ranks / exceedance_multiples): a rule broken there
breaks both sides alike. Here the rules are written again, plainly, one value at a time, from the
standard (shared/reference/standards.md §1 and §2.2), reading only the limits from the rule table
itself (pipelines/reference/data/gb3838_surface_water.csv, with the csv module, not through
pipelines.reference.standards):

* class of one value: the best class whose limit it meets: value ≤ limit for an upper limit
  ('max'), value ≥ limit for DO ('min'), low ≤ value ≤ high for pH ('range', the same for every
  class); a value meeting no class is 劣Ⅴ; an item without a row for the water-body type (TN in a
  river, Table 2's supplementary items, not in this table) has no class. Lake TP is the row marked
  'lake', river TP the row marked 'river'; 'all' rows serve both.
* exceedance multiple: (C − S) / S over the basis class's limit S when C > S; none for pH, DO
  (and water temperature) or a range.
* a verdict (classify_many): over the assessment indicators present (is_assessment_indicator),
  the worst class; failing = worse than the target (class Ⅲ without one), each with its multiple
  over the target and over class Ⅲ; main pollutants, only when worse than class Ⅲ: the (at most)
  three worst-classed indicators, ties broken by the larger multiple over class Ⅲ (none counts as
  −1), then table order.

The old scalar implementation (git show 3d8b1de:pipelines/reference/standards.py, _meets and
surface_water_class; :pipelines/assessment/surface_water.py, classify/main_pollutants) is what these
functions restate; it was checked against hand-worked examples. The checks: every limit of every
item, on it and ±1e-9 and one float step either side, for each class, in river and lake contexts; and
3,000 seeded random values per item, half of them on the limits' decimal grid so many land exactly
on a limit. A boundary comparison flipped in the code under test (≤ to <) fails here.
"""
from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from pipelines.assessment import surface_water
from pipelines.reference import standards

DAY = date(2026, 11, 3)   # the rules in force on this day (every GB 3838 row has no end yet)
TABLE = Path(__file__).resolve().parents[1] / "pipelines" / "reference" / "data" / "gb3838_surface_water.csv"
NUMERALS = ("I", "II", "III", "IV", "V")                     # the table's columns
CLASSES = ("Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ")                           # GB 3838's class names
WORST = "劣Ⅴ"
RANK = {**{name: n + 1 for n, name in enumerate(CLASSES)}, WORST: 6}
NO_MULTIPLE = {"ph", "do", "water_temp"}                     # standards.md §2.2
TYPES = ("river", "lake")
# items with no row in the table: Table 2 (drinking-water sources only), water temperature
NOT_IN_TABLE = ("sulfate", "chloride", "nitrate", "fe", "mn", "water_temp")


def _in_force(row: dict, day: date) -> bool:
    return (not row["valid_from"] or date.fromisoformat(row["valid_from"]) <= day) and \
        (not row["valid_to"] or day <= date.fromisoformat(row["valid_to"]))


def _rows() -> dict[tuple[str, str], dict]:
    """(code, water-body type) → its row in force on DAY."""
    rows = {}
    with TABLE.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if not _in_force(row, DAY):
                continue
            for water_body_type in (TYPES if row["applies_to"] == "all" else (row["applies_to"],)):
                assert (row["code"], water_body_type) not in rows, "two rows in force for one item"
                rows[(row["code"], water_body_type)] = row
    return rows


ROWS = _rows()
INDICATORS = [code for code in dict.fromkeys(code for code, _ in ROWS)
              if any(ROWS.get((code, t), {}).get("is_assessment_indicator") == "true" for t in TYPES)]
CODES = sorted({code for code, _ in ROWS})


# --- the oracle -----------------------------------------------------------------------------

def oracle_class(code: str, value: float, water_body_type: str) -> str | None:
    row = ROWS.get((code, water_body_type))
    if row is None or math.isnan(value):
        return None
    for numeral, name in zip(NUMERALS, CLASSES):
        cell = row[numeral]
        if row["direction"] == "max":
            meets = value <= float(cell)
        elif row["direction"] == "min":
            meets = value >= float(cell)
        elif row["direction"] == "range":
            low, high = cell.split("-")
            meets = float(low) <= value <= float(high)
        else:
            raise AssertionError(f"the oracle does not know direction {row['direction']!r}")
        if meets:
            return name
    return WORST


def oracle_multiple(code: str, value: float, basis: str, water_body_type: str) -> float | None:
    row = ROWS.get((code, water_body_type))
    if row is None or code in NO_MULTIPLE or row["direction"] == "range":
        return None
    limit = float(row[NUMERALS[CLASSES.index(basis)]])
    if not value > limit:
        return None
    return (value - limit) / limit


def oracle_verdict(values: dict[str, float], water_body_type: str, target: str | None):
    """(worst class, {code: class}, [(code, value, class, multiple vs basis, vs Ⅲ)], main pollutants)."""
    classes = {}
    for code in INDICATORS:                                   # table order
        if code in values and not math.isnan(values[code]):
            water_class = oracle_class(code, values[code], water_body_type)
            if water_class is not None:
                classes[code] = water_class
    if not classes:
        return None, {}, [], []
    worst = max(classes.values(), key=lambda k: RANK[k])
    basis = target or "Ⅲ"
    failing = [(code, values[code], k, oracle_multiple(code, values[code], basis, water_body_type),
                oracle_multiple(code, values[code], "Ⅲ", water_body_type))
               for code, k in classes.items() if RANK[k] > RANK[basis]]
    over_iii = []
    for position, (code, k) in enumerate(classes.items()):
        if RANK[k] > 3:
            multiple = oracle_multiple(code, values[code], "Ⅲ", water_body_type)
            over_iii.append((-RANK[k], -(multiple if multiple is not None else -1.0), position, code))
    main = [code for *_, code in sorted(over_iii)[:3]]
    return worst, classes, failing, main


# --- the values checked ---------------------------------------------------------------------

def _limits(row: dict) -> list[float]:
    if row["direction"] == "range":
        return sorted({float(part) for numeral in NUMERALS for part in row[numeral].split("-")})
    return sorted({float(row[numeral]) for numeral in NUMERALS})


def boundary_values(code: str) -> list[float]:
    """Every limit of the item (river and lake rows), on it, ±1e-9 and one float step either side."""
    limits = {limit for t in TYPES if (code, t) in ROWS for limit in _limits(ROWS[(code, t)])}
    values = {0.0}
    for limit in limits:
        values |= {limit, limit - 1e-9, limit + 1e-9, float(np.nextafter(limit, -np.inf)),
                   float(np.nextafter(limit, np.inf))}
    return sorted(values)


def random_values(code: str, rng: np.random.Generator, count: int = 3000) -> list[float]:
    """Seeded values from 0 to 1.5 × the item's largest limit (pH 0–14): half continuous, half
    rounded to one decimal more than its limits carry, so many fall exactly on a limit."""
    cells = [row[numeral] for t in TYPES if (code, t) in ROWS for numeral in NUMERALS
             for row in [ROWS[(code, t)]]]
    parts = [part for cell in cells for part in cell.split("-")]
    top = 14.0 if ROWS.get((code, "river"), ROWS.get((code, "lake")))["direction"] == "range" else \
        1.5 * max(float(p) for p in parts)
    decimals = max(len(p.split(".")[1]) if "." in p else 0 for p in parts) + 1
    values = rng.uniform(0.0, top, count)
    values[count // 2:] = np.round(values[count // 2:], decimals)
    return values.tolist()


def _check_values(code: str, values: list[float]) -> None:
    for water_body_type in TYPES:
        expected_classes = [oracle_class(code, v, water_body_type) for v in values]
        ranks = standards.surface_water_ranks([code] * len(values), values, [water_body_type] * len(values), DAY)
        got = [standards.SURFACE_WATER_RANKED[int(r)] for r in ranks]
        wrong = [(v, g, e) for v, g, e in zip(values, got, expected_classes) if g != e]
        assert not wrong, f"{code} ({water_body_type}): (value, class, oracle's) {wrong[:5]}"
        for basis in CLASSES:
            expected = [oracle_multiple(code, v, basis, water_body_type) for v in values]
            multiples = standards.exceedance_multiples([code] * len(values), values, [basis] * len(values),
                                                       [water_body_type] * len(values), DAY)
            got = [None if math.isnan(m) else float(m) for m in multiples]
            wrong = [(v, g, e) for v, g, e in zip(values, got, expected) if g != e]
            assert not wrong, f"{code} ({water_body_type}) over {basis}: (value, multiple, oracle's) {wrong[:5]}"


def _check_verdicts(cases: dict) -> None:
    keys, codes, values = [], [], []
    for key, (found, _, _) in cases.items():
        keys += [key] * len(found)
        codes += list(found)
        values += list(found.values())
    verdicts = surface_water.classify_many(keys, codes, values, {k: c[1] for k, c in cases.items()},
                                           {k: c[2] for k, c in cases.items()}, context="realtime_feed", at=DAY)
    for key, (found, water_body_type, target) in cases.items():
        verdict = verdicts[key]
        failing = [(e.parameter, e.value, e.water_class, e.multiple_vs_target, e.multiple_vs_class_iii)
                   for e in verdict.failing]
        assert (verdict.water_class, verdict.parameter_classes, failing, verdict.main_pollutants) == \
            oracle_verdict(found, water_body_type, target), (key, found, water_body_type, target)


# --- the tests ------------------------------------------------------------------------------

def test_the_oracle_reads_the_table_it_should():
    """The oracle's view of the table is the standard's (standards.md §1): a guard against an oracle
    that agrees with the code because both read nothing."""
    assert len(INDICATORS) == 21 and "tn" not in INDICATORS and "fecal_coliform" not in INDICATORS
    assert [ROWS[("tp", "river")][n] for n in NUMERALS] == ["0.02", "0.1", "0.2", "0.3", "0.4"]
    assert [ROWS[("tp", "lake")][n] for n in NUMERALS] == ["0.01", "0.025", "0.05", "0.1", "0.2"]
    assert ("tn", "lake") in ROWS and ("tn", "river") not in ROWS
    assert ROWS[("do", "river")]["direction"] == "min" and ROWS[("ph", "lake")]["direction"] == "range"
    # hand-worked (standards.md §1): COD 15 is Ⅰ (I = II = 15, the better class); DO 5 is Ⅲ, 1.9 劣Ⅴ;
    # lake TP 0.04 Ⅲ, river TP 0.04 Ⅱ; pH 9.2 劣Ⅴ; NH3-N 2.5 is 1.5 over Ⅲ (1.0)
    assert oracle_class("cod", 15.0, "river") == "Ⅰ" and oracle_class("cod", 15.000001, "river") == "Ⅲ"
    assert (oracle_class("do", 5.0, "river"), oracle_class("do", 1.9, "lake")) == ("Ⅲ", WORST)
    assert (oracle_class("tp", 0.04, "lake"), oracle_class("tp", 0.04, "river")) == ("Ⅲ", "Ⅱ")
    assert oracle_class("ph", 9.2, "river") == WORST and oracle_class("ph", 6.0, "river") == "Ⅰ"
    assert oracle_multiple("nh3n", 2.5, "Ⅲ", "river") == pytest.approx(1.5)
    assert oracle_multiple("do", 1.0, "Ⅲ", "river") is None and oracle_multiple("nh3n", 1.0, "Ⅲ", "river") is None


@pytest.mark.parametrize("code", CODES + list(NOT_IN_TABLE))
def test_classes_and_multiples_on_and_beside_every_limit_are_the_oracles(code):
    values = boundary_values(code) if code in CODES else [0.0, 0.1, 1.0, 250.0, 1e6]
    _check_values(code, values)


@pytest.mark.parametrize("code", CODES)
def test_classes_and_multiples_of_random_values_are_the_oracles(code):
    _check_values(code, random_values(code, np.random.default_rng(sum(map(ord, code)))))


def test_verdicts_on_every_limit_are_the_oracles():
    """classify_many's worst class, failing indicators (with both multiples) and main pollutants,
    one key per (item, boundary value, water-body type, target), beside a fixed background."""
    background = {"ph": 7.0, "do": 6.5, "codmn": 3.0, "nh3n": 0.3}
    cases = {}
    for code in CODES + list(NOT_IN_TABLE):
        for value in (boundary_values(code) if code in CODES else [0.0, 300.0]):
            for water_body_type in TYPES:
                for target in (None, *CLASSES):
                    cases[len(cases)] = ({**background, code: value}, water_body_type, target)
    _check_verdicts(cases)


def test_verdicts_of_random_sections_are_the_oracles():
    """4,000 seeded random sections: a random subset of the items (indicators and not), random
    values (some on the limits' grid, some NaN), river or lake, a random target or none."""
    rng = np.random.default_rng(3838)
    pools = {code: random_values(code, rng, 400) for code in CODES}
    cases = {}
    for key in range(4000):
        chosen = rng.choice(CODES + list(NOT_IN_TABLE), size=int(rng.integers(0, 12)), replace=False)
        found = {}
        for code in chosen:
            value = float(rng.choice(pools[code])) if code in pools else float(rng.uniform(0, 300))
            found[str(code)] = math.nan if rng.random() < 0.05 else value
        target = [None, *CLASSES][int(rng.integers(0, 6))]
        cases[key] = (found, TYPES[int(rng.integers(0, 2))], target)
    _check_verdicts(cases)
    verdicts = [oracle_verdict(*case) for case in cases.values()]
    assert sum(bool(main) for *_, main in verdicts) > 500 and sum(bool(failing) for _, _, failing, _ in verdicts) > 1000
