"""Writes the Great Expectations suites (expectations/<dataset>.json) from the metadata tables.

The suites are generated, never edited by hand, so the limits cannot drift from the QC metadata
(pipelines/reference/data/qc_parameters.csv, whose instrument ranges they enforce) and the registry:
python -m expectations.build
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipelines.reference import registry
from pipelines.observations import QC_FLAGS
from pipelines.sources.samples import coastal_parameters, lab_parameters
from pipelines.sources.simulator import AIR_PARAMETERS, WATER_PARAMETERS

SUITE_DIR = Path(__file__).parent
QC_METADATA = Path(registry.DATA_DIR) / "qc_parameters.csv"

# Parameters each dataset may carry: what the simulator, the CNEMC feeds and the sampling files publish.
DATASET_PARAMETERS = {
    "water": tuple(sorted(set(WATER_PARAMETERS) | {"chla", "algae_density"} | lab_parameters())),
    "air": AIR_PARAMETERS + ("aqi",),
    "coastal": tuple(sorted(coastal_parameters())),
}


def _stations(dataset: str) -> list[str]:
    if dataset == "water":
        return sorted(registry.water_sections().index)
    if dataset == "coastal":
        return sorted(registry.sea_points().index)
    return sorted(registry.air_stations().index)


def _expectation(kind: str, **kwargs) -> dict:
    return {"type": kind, "kwargs": kwargs, "meta": {}}


def suite_for(dataset: str) -> dict:
    parameters = DATASET_PARAMETERS[dataset]
    ranges = pd.read_csv(QC_METADATA).set_index("code").rename(columns={"instrument_min": "min", "instrument_max": "max"})
    expectations = [
        _expectation("expect_column_values_to_not_be_null", column=column)
        for column in ("station_id", "parameter", "observed_at", "source", "batch_id")
    ]
    expectations += [
        _expectation("expect_column_values_to_be_in_set", column="station_id", value_set=_stations(dataset)),
        _expectation("expect_column_values_to_be_in_set", column="parameter", value_set=list(parameters)),
        _expectation("expect_column_values_to_be_in_set", column="qc_flag", value_set=list(QC_FLAGS)),
        _expectation("expect_column_values_to_not_be_null", column="value",
                     row_condition='qc_flag!="missing"', condition_parser="pandas"),
    ]
    # Instrument ranges: validation joins each row's range from qc_parameters.csv (columns
    # instrument_min / instrument_max), so two expectations cover every parameter in one pass each.
    for column_a, column_b, meaning in (("value", "instrument_min", "at or above"), ("instrument_max", "value", "at or below")):
        expectation = _expectation("expect_column_pair_values_a_to_be_greater_than_b", column_A=column_a,
                                   column_B=column_b, or_equal=True, ignore_row_if="either_value_is_missing")
        expectation["meta"] = {"rule": f"value {meaning} its parameter's instrument range",
                               "ranges": {code: [float(ranges.loc[code, "min"]), float(ranges.loc[code, "max"])]
                                          for code in parameters}}
        expectations.append(expectation)
    return {"name": f"envmon_{dataset}_observations", "expectations": expectations,
            "meta": {"generated_by": "python -m expectations.build",
                     "from": ["pipelines/reference/data/qc_parameters.csv", "pipelines/reference/data/sections.csv",
                              "pipelines/reference/data/air_stations.csv"]}}


def write_all() -> list[Path]:
    paths = []
    for dataset in DATASET_PARAMETERS:
        path = SUITE_DIR / f"{dataset}.json"
        path.write_text(json.dumps(suite_for(dataset), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_all():
        print(written)
