"""Runs the Great Expectations suite of a dataset on a batch and splits it: rows that pass go on
to the warehouse, rows that fail go to quarantine with every expectation they failed."""
from __future__ import annotations

import json
import logging
import re
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

from pipelines.quality import qc
from pipelines.observations import QC_FLAGS, lookup

# GX logs hundreds of INFO lines when it is first imported (by whichever function here comes first)
logging.getLogger("great_expectations").setLevel(logging.WARNING)

SUITE_DIR = Path(__file__).resolve().parents[2] / "expectations"
DATASET_OF_DOMAIN = {"water": "water", "air": "air", "coastal": "coastal"}


@dataclass
class ValidationOutcome:
    good: pd.DataFrame
    quarantined: pd.DataFrame  # canonical columns plus `expectation` (rule id), `rule` (every rule id) and `reason` (words)
    suite_name: str
    success: bool


def load_suite_definition(dataset: str) -> dict:
    return json.loads((SUITE_DIR / f"{dataset}.json").read_text(encoding="utf-8"))


@cache
def _context():
    # GX logs hundreds of INFO lines and draws progress bars; neither belongs in a nightly log.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@cache
def _batch_definition_and_suite(dataset: str, station_ids: tuple[str, ...] | None = None):
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    context = _context()
    definition = load_suite_definition(dataset)
    # a suite per set of stations (a registry version's, the benchmark's network), named for it
    name = definition["name"] if station_ids is None else (
        f"{definition['name']}_{len(station_ids)}_stations_{zlib.crc32(' '.join(station_ids).encode()):08x}")
    suite = gx.ExpectationSuite(name=name)
    for item in definition["expectations"]:
        if station_ids is not None and item["kwargs"].get("column") == "station_id" and "value_set" in item["kwargs"]:
            item = {**item, "kwargs": {**item["kwargs"], "value_set": list(station_ids)}}
        configuration = ExpectationConfiguration(type=item["type"], kwargs=item["kwargs"], meta=item["meta"])
        suite.add_expectation(configuration.to_domain_obj())
    suite = context.suites.add(suite)
    asset = context.data_sources.add_pandas(f"envmon_{name}").add_dataframe_asset(dataset)
    batch_definition = asset.add_batch_definition_whole_dataframe("whole_batch")
    # A validation definition keeps each result in the context's store, from which Data Docs are built.
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{name}_validation", data=batch_definition, suite=suite))
    return definition, suite


@cache
def suite_columns(dataset: str) -> tuple[str, ...] | None:
    """The columns the dataset's expectations read: each one's column(s), and the names its row
    condition uses. None where an expectation reads the whole table (no column of its own): then
    the suite is given every column. Great Expectations copies its frame for every expectation's
    domain (a row condition, the rows with values); given only these columns, each copy is of
    them, and every expectation still runs on every row."""
    columns = []
    for item in load_suite_definition(dataset)["expectations"]:
        kwargs = item["kwargs"]
        named = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
        named += list(kwargs.get("column_list", []))
        if not named:
            return None
        condition = kwargs.get("row_condition") or ""
        without_literals = re.sub(r"\"[^\"]*\"|'[^']*'", "", condition)
        columns += named + re.findall(r"[A-Za-z_][A-Za-z0-9_]*", without_literals)
    return tuple(dict.fromkeys(columns))


def _for_the_suite(checked: pd.DataFrame, read: tuple[str, ...] | None) -> pd.DataFrame:
    """The frame the suite runs on: the columns it reads, text columns as categories (the same
    values, nulls and comparisons; copying a domain's rows copies codes, not strings). Every row,
    in place: the rows GX names failing are the batch's rows at the same index."""
    if read is None:
        return checked
    frame = checked[[c for c in checked.columns if c in read]]
    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])
            and not isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return frame.astype({c: "category" for c in text}) if text else frame


@cache
def _instrument_ranges() -> pd.DataFrame:
    from pipelines.reference import standards

    return pd.read_csv(standards.DATA_DIR / "qc_parameters.csv").set_index("code")[["instrument_min", "instrument_max"]]


def with_instrument_range(frame: pd.DataFrame) -> pd.DataFrame:
    """The batch with each row's instrument range (instrument_min, instrument_max) for its parameter."""
    ranges = _instrument_ranges()
    return frame.assign(instrument_min=lookup(frame["parameter"], ranges["instrument_min"]).astype("float64"),
                        instrument_max=lookup(frame["parameter"], ranges["instrument_max"]).astype("float64"))


def _rule_id(config) -> str:
    """The rule as the suite names it: the expectation and its column(s)."""
    if "column_A" in config.kwargs:
        return f"{config.type}({config.kwargs['column_A']}, {config.kwargs['column_B']})"
    return f"{config.type}({config.kwargs.get('column')})"


NOT_NULL_WORDS = {"station_id": "no station id", "parameter": "no parameter", "observed_at": "no valid observation time",
                  "source": "no source", "batch_id": "no batch id"}


def _shown(value) -> str:
    """A number as a person reads it, with a true minus sign."""
    try:
        return f"{float(value):g}".replace("-", "\u2212")
    except (TypeError, ValueError):
        return repr(value)


def _unit(parameter) -> str:
    """The unit the instrument range is in: the parameter's canonical one (data/parameters.csv)."""
    from pipelines.reference import standards

    unit = standards.unit_of(parameter) if parameter in standards.parameters().index else ""
    return "" if unit in ("", "dimensionless") else f" {unit}"


def _in_words(config, row: pd.Series) -> str:
    """Why the row fails the rule, in words, with its own values: "below the instrument's lower
    limit for nh3n: −9999 < 0 mg/L"."""
    kind, kwargs = config.type, config.kwargs
    column = kwargs.get("column")
    if kind == "expect_column_values_to_not_be_null":
        if column == "value":
            return f"no value, though its QC flag is {row.get('qc_flag')!r}, not 'missing'"
        return NOT_NULL_WORDS.get(column, f"no {column}")
    if kind == "expect_column_values_to_be_in_set":
        if column == "station_id":
            return f"station {row.get(column)!r} is not in the registry"
        if column == "parameter":
            return f"parameter {row.get(column)!r} is not one this dataset carries"
        if column == "qc_flag":
            return f"QC flag {row.get(column)!r} is not one of {', '.join(QC_FLAGS)}"
        return f"{column} {row.get(column)!r} is not an allowed value"
    unit = _unit(row.get("parameter"))
    if kind == "expect_column_pair_values_a_to_be_greater_than_b" and kwargs.get("column_B") == "instrument_min":
        return (f"below the instrument's lower limit for {row.get('parameter')}: "
                f"{_shown(row.get('value'))} < {_shown(row.get('instrument_min'))}{unit}")
    if kind == "expect_column_pair_values_a_to_be_greater_than_b" and kwargs.get("column_A") == "instrument_max":
        return (f"above the instrument's upper limit for {row.get('parameter')}: "
                f"{_shown(row.get('value'))} > {_shown(row.get('instrument_max'))}{unit}")
    return f"fails {_rule_id(config)}: {config.meta.get('rule', '')}".rstrip(": ")


def build_data_docs(docs_dir: Path, shared_assets: bool = False) -> Path:
    """Great Expectations Data Docs (suites and this process's validation results) in docs_dir,
    loading their scripts, styles and fonts from copies in the site (data_docs_offline): they
    render offline, from disk or through the dashboard app. `shared_assets`: a payload batch's site
    whose static/ already links the shared copy (data_docs_views.SharedAssetsSiteBuilder)."""
    from pipelines.quality.data_docs_offline import make_offline

    context = _context()
    site = f"envmon_{abs(hash(str(docs_dir)))}"
    if site not in (context.get_site_names() or []):
        from pipelines.quality.data_docs_views import site_config

        context.add_data_docs_site(site, site_config(str(docs_dir), shared_assets))
    context.build_data_docs(site_names=[site])
    if shared_assets:   # a site per batch: not kept in the context's configuration, which would grow
        context.delete_data_docs_site(site)
    make_offline(Path(docs_dir))
    # The results are on disk now; forget them, so the next site holds only its own validation and
    # a long catch-up run does not rebuild every earlier day again.
    store = context.validation_results_store
    for key in store.list_keys():
        store.remove_key(key)
    return Path(docs_dir) / "index.html"


def registry_stations(dataset: str) -> tuple[str, ...] | None:
    """The stations of the registry in force where it is not the seed the suites in expectations/
    were built from (a warehouse's version with stations adopted or imported, issue 23); None: the
    suites' own."""
    from pipelines.reference import registry

    if not registry.has_joined_stations():
        return None
    if dataset == "water":
        return tuple(sorted(registry.water_sections().index))
    if dataset == "coastal":
        return tuple(sorted(registry.sea_points().index))
    return tuple(sorted(registry.air_stations().index))


def validate(frame: pd.DataFrame, dataset: str, station_ids: tuple[str, ...] | None = None,
             docs_dir: Path | None = None) -> ValidationOutcome:
    """Validate one batch. Every row ends in exactly one of good or quarantined; rows that repeat
    a key of the batch are settled by the QC duplicate test (qc.split_duplicates). `station_ids`
    replaces the registry's stations (the national-scale benchmark uses its own network); with
    `docs_dir`, the Great Expectations Data Docs of the run are built there."""
    definition, suite = _batch_definition_and_suite(dataset, station_ids or registry_stations(dataset))
    frame = frame.reset_index(drop=True)
    checked = with_instrument_range(frame)
    suite_frame = _for_the_suite(checked, suite_columns(dataset))
    result = definition.run(batch_parameters={"dataframe": suite_frame},
                            result_format={"result_format": "COMPLETE", "return_unexpected_index_query": False})
    if docs_dir is not None:
        build_data_docs(docs_dir)
    failures: dict[int, list] = {}  # row → the configurations of the rules it fails
    for expectation_result in result.results:
        if expectation_result.success:
            continue
        indices = expectation_result.result.get("unexpected_index_list") or []
        if not indices and expectation_result.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"expectation {expectation_result.expectation_config.type} could not run: "
                f"{expectation_result.exception_info.get('exception_message')}"
            )
        for index in indices:
            failures.setdefault(int(index), []).append(expectation_result.expectation_config)
    bad_mask = frame.index.isin(list(failures))
    quarantined = frame[bad_mask].copy()
    # `expectation` the first rule's id (GX names), `rule` every rule the row fails, `reason` the same in words
    quarantined["expectation"] = [failures[i][0].type for i in quarantined.index]
    quarantined["rule"] = ["; ".join(_rule_id(c) for c in failures[i]) for i in quarantined.index]
    notes = quarantined["qc_note"] if "qc_note" in quarantined else pd.Series("", index=quarantined.index)
    quarantined["reason"] = [
        "; ".join([_in_words(c, checked.loc[i]) for c in failures[i]] + ([notes[i]] if notes[i] else []))
        for i in quarantined.index]
    good, duplicates = qc.split_duplicates(frame[~bad_mask])
    duplicates = duplicates.assign(rule="qc_duplicate") if len(duplicates) else duplicates
    return ValidationOutcome(
        good=good.reset_index(drop=True),
        quarantined=pd.concat([quarantined, duplicates], ignore_index=True) if len(duplicates) else
        quarantined.reset_index(drop=True),
        suite_name=suite.name,
        success=bool(result.success),
    )
