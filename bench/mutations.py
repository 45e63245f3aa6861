"""The mutation check: deliberate breakages of envmon's core rules, each applied alone to a
throw-away copy of the tree, with the tests that should notice it run against that copy. Every
mutation must be caught (its tests fail); one that survives means a rule no test really checks.

    .venv/bin/python bench/mutations.py            # all of them; exit 1 unless every one is caught
    .venv/bin/python bench/mutations.py --list     # what they are
    .venv/bin/python bench/mutations.py --only qc-filter --only iaqi-rounding --json

The tests first run on the unbroken copy: a mutation counts as caught only if the same tests
passed without it. A mutation whose code is no longer where it says (the rule moved) is reported
as `not applied` and fails the check, so the list is kept in step with the code. The copy is the
working tree's tracked and untracked (not ignored) files; `python` is this interpreter, with the
copy first on PYTHONPATH (the `envmon` command the end-to-end tests start imports it too).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    # (file, exact text, replacement): the first candidate whose text the tree holds exactly once
    # is applied (several where the code is in the middle of a move)
    candidates: tuple[tuple[str, str, str], ...]
    tests: tuple[str, ...]  # test files (globs) or node ids
    # commands run in the copy once the mutation is in (the copy's `python` first), for a breakage
    # that goes through a generator as a reviewer's would: the GX suites regenerated from a mutated
    # qc_parameters.csv (python -m expectations.build). What they write (`after_writes`, globs) is
    # put back with the mutated file.
    after: tuple[tuple[str, ...], ...] = ()
    after_writes: tuple[str, ...] = ()


MUTATIONS = (
    Mutation(
        "qc-filter", "the nightly assessment no longer keeps only ENVMON_ASSESSABLE_FLAGS observations",
        (("pipelines/nightly.py",
          '    observations = observations[observations["qc_flag"].isin(settings.assessable_flags)]\n', ""),),
        ("tests/test_nightly.py",)),
    Mutation(
        "gb3838-class-boundary", "a value on a GB 3838 class limit takes the worse class (< for ≤), in the "
        "set-based class of many values that every water class goes through (issue 27)",
        (("pipelines/reference/standards.py", "        meets = pending & above & (values <= high)\n",
          "        meets = pending & above & (values < high)\n"),),
        ("tests/test_standards.py", "tests/test_surface_water.py",
         "tests/test_water_set_based.py::test_the_class_of_values_on_and_beside_each_limit_many_at_once_is_the_class_of_each",
         "tests/test_gb3838_oracle.py")),
    # issue 27: national scope
    Mutation(
        "national-scope-counts-out-of-scope", "at ENVMON_SCOPE=national a section outside the Beibu cities is still "
                                              "counted out of scope instead of joining the registry",
        (("pipelines/scope.py", "    return national() or bool(city) and city in registry_cities\n",
          "    return bool(city) and city in registry_cities\n"),),
        ("tests/test_national_scope.py::test_at_national_scope_every_section_of_the_real_snapshot_joins_with_its_"
         "target_unset",)),
    Mutation(
        "national-simulator-drops-an-hour", "the national air simulator leaves out the day's last hour",
        (("pipelines/sources/simulator.py", "    for index, hour in enumerate(AIR_HOURS):\n",
          "    for index, hour in enumerate(AIR_HOURS[:-1]):\n"),),
        ("tests/test_national_scope.py::test_the_national_simulator_prints_the_real_formats_for_every_station",)),
    Mutation(
        "national-filter-outside-scope", "at national scope a province outside the user's stations is taken "
                                         "instead of refused",
        (("dashboards/app/places.py", "    if province is not None and province not in set(visible[\"province\"]):\n",
          "    if False:\n"),),
        ("tests/test_national_app.py::test_a_city_bureau_sees_only_its_city_and_a_filter_outside_it_is_refused",)),
    Mutation(
        "national-filter-province-ignored", "at national scope the province chosen does not narrow the Overview's "
                                            "rows and map",
        (("dashboards/app/places.py", "    if province:\n        keep &= visible[\"province\"] == province\n", ""),),
        ("tests/test_national_app.py::test_at_national_scope_the_province_filter_narrows_the_kpi_rows_and_the_map",)),
    Mutation(
        "national-board-province-ignored", "at national scope the cross-boundary board lists every section of the "
                                           "user whatever province or city is chosen",
        (("dashboards/app/pages/cross_boundary.py", "        return places.narrowed(*places.place(context, _crossing))\n",
          "        return places.place(context, _crossing)[0]\n"),),
        ("tests/test_national_app.py::test_at_national_scope_the_cross_boundary_board_filters_by_province_and_city",)),
    Mutation(
        "national-air-every-station-by-default", "at national scope the Air page with no filter draws every station "
                                                 "of the country (3.9 s) instead of the user's province",
        (("dashboards/app/pages/air.py", "        province = places.home_province(context.user, visible)\n",
          "        pass\n"),),
        ("tests/test_national_app.py::test_at_national_scope_the_air_page_filters_by_province_and_city",)),
    Mutation(
        "national-bulletin-per-station", "at national scope the country's bulletin is the cluster's, a row per "
                                         "section and city (thousands), not the summary by province",
        (("pipelines/reports/publish.py",
          "    if province is not None or (city is None and (scope or config.scope()) == \"national\"):\n",
          "    if province is not None:\n"),),
        ("tests/test_national_bulletin.py::test_the_national_bulletin_lists_the_failures_and_the_cross_boundary_"
         "verdicts_and_stays_bounded",)),
    # issue 25: bulletins issued like documents
    Mutation(
        "bulletin-fingerprint-recipients", "the documents' fingerprint takes the bureaus' duty addresses too, so "
        "editing a recipient issues the bulletins again",
        (("pipelines/reports/document.py", 'BUREAU_COLUMNS = ["bureau_id", "name_zh", "jurisdiction"]',
          'BUREAU_COLUMNS = ["bureau_id", "name_zh", "jurisdiction", "email"]'),),
        ("tests/test_bulletin_documents.py::test_editing_a_recipients_address_issues_nothing_again",)),
    Mutation(
        "issued-document-any-city", "the app serves every city's issued documents to every user",
        (("dashboards/app/pages/documents.py", '    return user.is_regional or issue.get("city") in (None, user.bureau)',
          "    return True"),),
        ("tests/test_bulletin_documents.py::test_the_app_lists_and_serves_the_issues_by_role",)),
    Mutation(
        "bulletin-rebuild-reads-the-warehouse", "a rebuild reads the warehouse as it is now, not the rows the issue kept",
        (("pipelines/reports/issues.py",
          '    reader = SnapshotReader(data_folder(settings), snapshot["reads"], record["inputs"]["flags"])',
          "    reader = publish.reader_for(settings)"),),
        ("tests/test_bulletin_documents.py::test_each_revision_rebuilds_from_its_manifest_byte_for_byte",)),
    Mutation(
        "assessment-stored-reads-unversioned", "the data version covers the observations alone: the annual "
        "assessment's stored monthly means and air statistics, revised, neither re-issue it nor are rebuilt as kept",
        (("pipelines/reports/reading.py", 'DATA_READS = ("observations", "rollups", "air_annual")',
          'DATA_READS = ("observations",)'),),
        ("tests/test_assessment_documents.py",)),
    Mutation(
        "assessment-out-of-date-silent", "late data that change an assessment of a year before last year's raise "
        "no notice (only bulletins are told out of date)",
        (("pipelines/reports/publish.py", '        state = out_of_date(record, settings, city, touched, kind="assessment")\n',
          "        state = None\n"),),
        ("tests/test_assessment_documents.py::test_late_data_of_an_assessed_year_past_the_window_raise_one_notice",)),
    Mutation(
        "api-healthz-blind", "the open data API's /api/healthz answers ok without asking the warehouse",
        (("pipelines/api/app.py", "            db.check_reachable(warehouse_url)\n", "            pass\n"),),
        ("tests/test_healthz.py",)),
    Mutation(
        "iaqi-rounding", "the individual AQI is rounded to nearest instead of up (HJ 633 practice: ceil)",
        (("pipelines/reference/standards.py", "math.ceil(round(exact, 9))", "round(exact)"),),
        ("tests/test_standards.py", "tests/test_air_quality.py")),
    Mutation(
        "cross-boundary-verdict", "a section whose class equals its target no longer complies (< for ≤)",
        (("pipelines/assessment/surface_water.py",
          "standards.surface_class_rank(self.water_class) <= standards.surface_class_rank(self.target_class)",
          "standards.surface_class_rank(self.water_class) < standards.surface_class_rank(self.target_class)"),),
        ("tests/test_surface_water.py", "tests/test_assessment.py", "tests/test_trends_and_schemes.py",
         "tests/test_nightly.py")),
    Mutation(
        "dashboard-verdict", "the dashboard shows every assessed cross-boundary section as 达标 compliant",
        (("dashboards/report.py", 'return display.verdict_text(row["is_compliant"], LANG, "assessed", display.target_status_of(row))',
          'return display.word("compliant", LANG)'),),
        ("tests/test_dashboard.py",)),
    Mutation(
        "alert-dedup", "an alert already raised for a section and period is raised (and sent) again",
        (("warehouse/alert_store.py", '    if notice_keys(connection, [row["notice_key"]]):\n        return None\n', ""),),
        # the alert files by name: the glob would take the delivery-health file's cluster test too
        ("tests/test_alerts.py", "tests/test_alerts_month.py", "tests/test_alerts_operational.py")),
    Mutation(
        "qc-filter-archive", "the archive path assesses the touched days from every stored observation, not only "
                             "the ENVMON_ASSESSABLE_FLAGS ones",
        (("pipelines/ingest/batches.py",
          '            usable = observations[observations["qc_flag"].isin(settings.assessable_flags)]\n',
          "            usable = observations\n"),),
        ("tests/test_archive_ingest.py",)),
    Mutation(
        "read-count-archive", "the archive path counts rows read after validation (loaded + quarantined)",
        (("pipelines/ingest/batches.py", '{"rows_read": parsed.read,', '{"rows_read": len(good) + held,'),),
        ("tests/test_archive_ingest.py",)),
    Mutation(
        "read-count", "rows read are counted after validation (loaded + quarantined) instead of as ingested",
        (("pipelines/nightly.py", '"rows_read": len(ingested),', '"rows_read": len(good) + len(quarantined),'),),
        ("tests/test_nightly.py",)),
    Mutation(
        "qc-clock", "QC's time-in-the-future test asks the wall clock instead of pipelines.clock",
        (("pipelines/quality/qc.py", "    now = now or clock.now()\n",
          "    now = now or datetime.now().astimezone()\n"),),
        ("tests/test_qc.py",)),
    # issue 22: the three gaps a reviewer found (a month without data counted in a compliance rate,
    # the history switched off on the nightly/backfill/month-row path, a QC range widened far past
    # the physical with the suites regenerated)
    Mutation(
        "cross-boundary-page-rate", "the Cross-boundary page counts every month with a row (no data, too few, "
                                    "indicators incomplete) in its 12-month compliance rate",
        (("dashboards/app/pages/cross_boundary.py", "    counted = [r for r in rows if assessed(r)]\n",
          "    counted = list(rows)\n"),),
        ("tests/test_missing_months.py::test_the_page_words_each_month_and_counts_only_assessed_months",)),
    Mutation(
        "cross-boundary-year-rate", "cross_boundary.assess_year counts a month without a class (no valid value, "
                                    "too few) in the year's compliance rate",
        (("pipelines/assessment/cross_boundary.py",
          "    if not verdict.verdict.is_assessed:\n        return False\n", ""),),
        ("tests/test_missing_months.py::test_months_without_valid_data_are_not_counted_in_the_rate",
         "tests/test_missing_months.py::test_a_year_without_an_assessed_month_has_no_rate_and_no_verdict")),
    Mutation(
        "assessment-history-off", "db.replace_assessments no longer keeps the results it replaces under another "
                                  "rule version (the nightly, backfill and month-row path)",
        (("warehouse/db.py", "        _keep_superseded_rule_versions(connection, domain, period, day, rows)\n", ""),),
        ("tests/test_assessment_history_paths.py::test_the_month_rows_keep_what_they_replace",
         "tests/test_assessment_history_paths.py::test_the_nightly_run_keeps_what_it_replaces")),
    Mutation(
        "qc-pm25-upper", "PM2.5's instrument upper limit widened from 2000 to 20,000 µg/m³ in qc_parameters.csv, "
                         "the GX suites regenerated",
        (("pipelines/reference/data/qc_parameters.csv", "\npm2_5,0,2000,", "\npm2_5,0,20000,"),),
        ("tests/test_qc_ranges.py::test_pm25_above_its_upper_limit_is_quarantined_worked_example",),
        after=(("python", "-m", "expectations.build"),), after_writes=("expectations/*.json",)),

    # issues 20 and 21: the rules this wave added, each with the test that holds it
    Mutation(
        "overview-domain-day", "the Overview shows the air figures of the surface-water latest day",
        (("dashboards/app/pages/overview.py",
          'each heading names its day."""\n    lang = context.lang\n    days = domain_days(context, as_of)\n'
          '    day, air_day = days["surface_water"], days["air"]',
          'each heading names its day."""\n    lang = context.lang\n    days = domain_days(context, as_of)\n'
          '    day, air_day = days["surface_water"], days["surface_water"]'),),
        ("tests/test_dashboard_app.py::test_the_overview_states_each_domains_own_latest_day",)),
    Mutation(
        "alerts-items-json", "the Alerts page shows the stored failing items (JSON) instead of 总磷 1.8倍",
        (("dashboards/app/pages/alerts.py",
          '[display.multiples_text(items, lang) or "—" for items in episodes["failing_items"]]',
          'list(episodes["failing_items"])'),),
        ("tests/test_dashboard_app.py::test_the_alerts_page_writes_items_as_people_write_them_not_json",)),
    Mutation(
        "air-ranking-order", "the cities are ranked by comprehensive index descending (worst first)",
        (("pipelines/assessment/air_quality.py", "ordered = sorted(published.values())",
          "ordered = sorted(published.values(), reverse=True)"),),
        ("tests/test_air_annual_statistics.py::test_attainment_composite_index_and_ranking_of_two_cities_by_hand",)),
    Mutation(
        "air-annual-validity", "a year to date or a year short of GB 3095's valid days is given a verdict",
        (("pipelines/assessment/air_annual.py",
          "year_valid = closed & valid_item[:, [columns.index(c) for c in MEAN_ITEMS]].all(axis=1)",
          "year_valid = np.ones(sites, bool)"),),
        ("tests/test_air_annual_statistics.py::"
         "test_a_year_to_date_or_a_year_short_of_324_days_is_insufficient_data_never_a_verdict",)),
    Mutation(
        "air-annual-set-month-rule", "the set-based annual statistics count a year's valid days but not GB 3095 "
        "Table 4's days in each month (≥ 27, ≥ 25 in February)",
        (("pipelines/assessment/air_annual.py",
          "valid_item = (counts >= rules[\"annual_mean\"]) & (per_month >= needed[None, :, None]).all(axis=1)",
          "valid_item = counts >= rules[\"annual_mean\"]"),),
        ("tests/test_air_annual_set_based.py::test_simulated_national_stations_give_the_one_by_one_statistics",)),
    Mutation(
        "air-station-days-stale", "the annual statistics keep a day's stored daily values after the run changed its "
        "observations (a revision, a withdrawal) instead of computing them again",
        (("pipelines/assessment/air_annual.py",
          "stale = [day for day in days if day in changed or stored.get(day) != bases[day]]",
          "stale = [day for day in days if stored.get(day) != bases[day]]"),),
        ("tests/test_air_station_days.py::"
         "test_the_stored_daily_values_give_the_old_statistics_across_revisions_withdrawals_and_the_rule_change[sqlite]",)),
    Mutation(
        "air-station-days-lock", "the archive path stores a day's daily values outside the year's air-annual lock: "
        "a nightly refresh that read the day before its revision overwrites them with its older read",
        (("pipelines/assessment/air_annual.py",
          '        with db.day_lock(engine, "air-annual", date(year, 1, 1)):\n'
          "            air_annual_store.replace_station_days(",
          "        if True:\n"
          "            air_annual_store.replace_station_days("),),
        ("tests/test_air_station_days.py::"
         "test_a_refresh_that_read_a_day_before_its_revision_does_not_overwrite_the_archive_paths_newer_values[sqlite]",)),
    Mutation(
        "air-station-days-method", "the stored daily values' basis leaves out the computation's version: after an "
        "upgrade that changes the daily computation the stored days keep their old values",
        (("pipelines/assessment/air_annual.py", 'return (f"method={STATION_DAY_METHOD}|flags=',
          'return (f"method=1|flags='),),
        ("tests/test_air_station_days.py::"
         "test_a_new_version_of_the_daily_computation_computes_every_stored_day_again[sqlite]",)),
    Mutation(
        "collect-gap", "an hour that never arrives is tried for ever instead of becoming a gap after N tries",
        (("pipelines/ingest/collect.py", '    row["status"] = "gap" if row["tries"] >= max_tries else "failed"\n',
          '    row["status"] = "failed"\n'),),
        ("tests/test_collection_ledger.py::"
         "test_a_missing_hour_becomes_a_gap_told_once_and_late_and_revised_hours_come_in[sqlite]",)),
    Mutation(
        "feed-outage-once", "every run of a feed outage tells the operators again",
        (("pipelines/alerts/operational.py", "    if episode is None:\n        ", "    if episode is None or new_gaps:\n        "),),
        ("tests/test_collection_ledger.py::test_a_feed_down_for_hours_is_one_episode_not_a_notice_per_run[sqlite]",)),
    Mutation(
        "feed-format-unknown", "a renamed or unknown column of a feed is dropped in silence",
        (("pipelines/sources/files.py",
          "    unknown = sorted(checked.unknown.items())  # (position, change): values quarantined, never guessed",
          "    unknown = []"),),
        ("tests/test_feed_formats.py::"
         "test_water_json_renamed_nh3n_and_tp_are_named_and_their_values_quarantined_not_dropped",)),
    Mutation(
        "indicators-incomplete", "a section-day without a required indicator (TP) is assessed on what is left",
        (("pipelines/assessment/surface_water.py",
          "    return (INDICATORS_INCOMPLETE, missing) if missing else (ASSESSED, [])",
          "    return (ASSESSED, [])"),),
        ("tests/test_indicator_completeness.py::test_worked_example_a_day_without_tp_is_incomplete_not_compliant",)),
    Mutation(
        "episode-incomplete-day", "a day without a verdict (no data, incomplete) counts for the alert episodes",
        (("pipelines/alerts/episodes.py", "    if not _verdict(daily)[0]:", "    if False:"),),
        ("tests/test_indicator_completeness.py::"
         "test_an_incomplete_day_is_neither_a_failure_nor_a_compliant_day_for_episodes",)),
    Mutation(
        "section-silence", "a cross-boundary section silent for fewer than N days is already told as silent",
        (("pipelines/alerts/operational.py", "        if silent_days < after:", "        if silent_days < 0:"),),
        ("tests/test_indicator_completeness.py::test_a_long_silence_is_one_notice_and_opens_no_episode",)),
    Mutation(
        "alert-backlog-age", "an undelivered alert is never overdue, so no operator hears of it",
        (("pipelines/alerts/health.py", "        overdue = not deferred and age > limit.total_seconds() / 60",
          "        overdue = False"),),
        ("tests/test_alert_delivery_health.py::"
         "test_smtp_unreachable_and_a_robot_secret_missing_reach_the_operators_through_the_second_path",)),
    Mutation(
        "alert-second-path", "a failed run whose notice cannot be recorded is not sent on the second path",
        (("pipelines/alerts/__init__.py", "    if not dag_failed(context):", "    if dag_failed(context) and False:"),),
        ("tests/test_alert_delivery_health.py::"
         "test_a_failed_run_with_the_warehouse_down_reaches_the_operators_through_the_second_path",)),
    # issue 23: envmon registry import
    Mutation(
        "registry-import-scope", "a city's official list counts every other city's sections as no longer listed",
        (("pipelines/reference/official_list.py",
          'in_scope = sections[sections["city"].isin(official.cities) & ~sections["section_id"].isin(listed)]',
          'in_scope = sections[~sections["section_id"].isin(listed)]'),),
        ("tests/test_registry_import.py::test_a_gbk_csv_list_gives_its_exact_diff_as_json",)),
    Mutation(
        "registry-import-assumed-as-official", "a list's target of the same class as an assumed one is taken as "
                                               "no change (the assumed target is never made official)",
        (("pipelines/reference/official_list.py", 'if old_class == row.target_class and old_status == "official":',
          "if old_class == row.target_class:"),),
        ("tests/test_registry_import.py::test_a_cities_xlsx_list_gives_its_exact_diff",)),
    Mutation(
        "registry-import-feed-river", "a list's row is no longer matched by the river the CNEMC feed prints "
                                      "(高速公路西桥 on 大榄河 becomes a new section)",
        (("pipelines/reference/official_list.py",
          'rivers |= feed_rivers().get((name, section.get("city", "")), set())', "rivers |= set()"),),
        ("tests/test_registry_import.py::test_a_row_is_matched_by_the_river_the_cnemc_feed_prints_and_not_by_its_name_alone",)),
    Mutation(
        "simulator-over-range", "the simulator's over-range readings stay inside the instrument's range",
        (("pipelines/sources/simulator.py", "instrument_max()[parameter] * float(rng.uniform(1.2, 3.0))",
          "instrument_max()[parameter] * float(rng.uniform(0.2, 0.9))"),),
        ("tests/test_simulator.py::test_a_reading_above_the_instruments_range_is_quarantined_by_validation",)),
    Mutation(
        "late-rows-reload", "the next night no longer loads the day before again with its late rows and revisions",
        (("pipelines/nightly.py", "    earlier = day - timedelta(days=1)", "    earlier = day - timedelta(days=2)"),),
        ("tests/test_simulator.py::test_the_nightly_run_of_the_next_night_loads_the_late_rows_and_the_revisions",)),
    # issue 25: watchable and retention
    Mutation(
        "metrics-section-freshness-no-value", "a cross-boundary section's freshness counts its rows without a value "
                                              "(a feed printing -- for it looks fresh)",
        (("warehouse/metrics_store.py", "with_value = and_(o.c.station_id == section_id, o.c.value.is_not(None))",
          "with_value = and_(o.c.station_id == section_id)"),),
        ("tests/test_metrics.py::test_the_app_serves_each_family_with_the_warehouse_state_without_a_login[sqlite]",)),
    Mutation(
        "retention-db-clean-cutoff", "airflow db clean cuts at the log retention (30 days) instead of the metadata's",
        (("pipelines/operations/retention.py", 'clean_airflow_metadata(now - timedelta(days=days["ENVMON_AIRFLOW_RETENTION_DAYS"]), run)',
          'clean_airflow_metadata(now - timedelta(days=days["ENVMON_LOG_RETENTION_DAYS"]), run)'),),
        ("tests/test_retention.py::test_maintenance_cleans_the_metadata_before_its_cutoff_and_deletes_old_task_logs",)),
    Mutation(
        "inbox-refused-as-processed", "a file refused for its content is set aside as processed, without its reason",
        (("pipelines/sources/inbox.py", 'kind = REFUSED if row["status"] == "failed" and row["retryable"] is not True else PROCESSED',
          "kind = PROCESSED"),),
        ("tests/test_retention.py::test_collected_files_are_moved_aside_and_a_second_scan_reads_nothing",)),
    Mutation(
        "agreement-missing-months-pass", "an agreement year counts its months without data as compliant (met "
                                         "although the missing months could decide it)",
        (("pipelines/assessment/cross_boundary.py", "    worst = yearly.months_compliant / months_in_year\n",
          "    worst = (yearly.months_compliant + uncounted) / months_in_year\n"),),
        ("tests/test_agreements.py::test_agreement_verdict_never_counts_a_missing_month_either_way",)),
    Mutation(
        "agreement-transfer-direction", "the annual report's implied transfer takes the pass terms for a missed "
                                        "year and the fail terms for a met one (广东 → 广西 when 广西 should pay)",
        (("pipelines/assessment/cross_boundary.py",
          "    transfer = {MET: agreement.on_pass, NOT_MET: agreement.on_fail}.get(verdict)\n",
          "    transfer = {MET: agreement.on_fail, NOT_MET: agreement.on_pass}.get(verdict)\n"),),
        ("tests/test_agreements.py::test_2019_hand_worked_outcome_and_money_in_the_xlsx_and_html",)),
    # issue 23: a verdict against an assumed target says so; a day classed without a target is shown
    Mutation(
        "assumed-target-silent", "a verdict against an assumed target reads as one against an official target "
                                 "(未达标, not 未达标（目标为假定）)",
        (("pipelines/display.py", '    if target_status != "assumed":\n        return verdict\n',
          "    if True:\n        return verdict\n"),),
        ("tests/test_assumed_targets.py::test_the_overview_says_a_failure_is_against_an_assumed_target",
         "tests/test_assumed_targets.py::test_the_bulletin_says_which_verdicts_are_against_an_assumed_target")),
    Mutation(
        "unset-target-no-class", "the Overview drops a day classed without a target (status 'target unset'): "
                                 "the section reads 无数据 instead of its class and 目标未定",
        (("warehouse/queries.py", "a.c.status.in_((ASSESSED, TARGET_UNSET))", "a.c.status == ASSESSED"),),
        ("tests/test_assumed_targets.py::test_the_overview_says_a_failure_is_against_an_assumed_target",)),
    # issue 26: the open data API's tiers
    Mutation(
        "api-city-scope-everything", "a city-scoped partner key holds every city's stations (another city's raw "
                                     "series and QC flags read by URL)",
        (("pipelines/api/access.py", '            own = stations["city"] == value\n',
          '            own = stations["city"].notna()\n'),),
        ("tests/test_api.py::test_a_city_key_cannot_read_another_citys_raw_data_by_url[sqlite]",)),
    Mutation(
        "api-public-gets-qc", "the public's CoverageJSON carries the partner view (QC flags, original values, "
                              "quarantine counts)",
        (("pipelines/api/coverage.py", "        partner = station_id in partner_ids\n", "        partner = True\n"),),
        ("tests/test_api.py::test_the_public_reads_hourly_air_values_only_and_no_raw_water[sqlite]",)),
    Mutation(
        "api-page-after-repeats-the-last-row", "an EDR page read by key starts at the previous page's last row, "
                                               "not after it (each page boundary's row served twice)",
        (("warehouse/open_data.py", "tuple_(*rest) > tuple_(*last)", "tuple_(*rest) >= tuple_(*last)"),),
        ("tests/test_api.py::test_paging_by_key_gives_every_row_once_when_rows_share_a_time[sqlite]",)),
    Mutation(
        "api-prunes-from-the-start-day", "the observation read prunes partitions from the bureau day of its start, "
                                         "so a value whose averaging period began the day before is lost",
        (("warehouse/open_data.py", "_bureau_day(start - LONGEST_AVERAGING_PERIOD)", "_bureau_day(start)"),),
        ("tests/test_api.py::test_a_days_query_keeps_the_values_whose_averaging_period_began_the_day_before[sqlite]",)),
    # issue 26: the other direction (source partner-edr)
    Mutation(
        "partner-unit-unchecked", "a partner's value in another unit than the warehouse's is stored as if it were "
                                  "in the warehouse's (µg/L read as mg/L)",
        (("pipelines/sources/partner_edr.py", "    if unit != units[parameter]:\n", "    if False:\n"),),
        ("tests/test_partner_edr.py::test_the_parser_keeps_what_it_can_and_quarantines_each_value_it_cannot_with_its_reason",)),
    Mutation(
        "partner-overlap-reingested", "a page of the pull's overlap whose rows are all held already is ingested "
                                      "again (a new payload each pull: pulling again changes the warehouse)",
        (("warehouse/partner_store.py", "    if observations.empty:\n        return True\n",
          "    if True:\n        return False\n"),),
        ("tests/test_partner_edr.py::test_pulling_again_changes_nothing_then_a_answers_304[A-postgresql-B-sqlite]",)),
    # issue 24: sign-in
    Mutation(
        "signin-no-lockout", "failed sign-ins never lock a name: a brute force goes on until the throttle's "
                             "window ends, and the right password is let in at once",
        (("dashboards/app/signin.py", "                if failures >= self.rules.max_failures:\n",
          "                if failures >= 10 ** 6:\n"),),
        ("tests/test_signin.py::test_a_brute_force_is_throttled_locked_out_and_audited_and_the_lockout_holds_in_every_process",)),
    Mutation(
        "signin-totp-skipped", "a user with a second factor signs in with the password alone",
        (("dashboards/app/users.py", '    if entry.get("totp_secret"):\n', "    if False:\n"),),
        ("tests/test_signin.py::test_a_second_factor_is_asked_of_its_user",)),
    Mutation(
        "signin-unknown-name-fast", "a wrong name is answered without hashing the password: faster than a wrong "
                                    "password, so names can be told apart by the time taken",
        (("dashboards/app/users.py", '        check_password_hash(_UNKNOWN_USER_HASH, password or "")\n', ""),),
        ("tests/test_signin.py::test_a_wrong_name_is_answered_as_a_wrong_password_byte_for_byte_and_as_slowly",)),
    # issue 24: headers, cookies and CSRF
    Mutation(
        "csrf-unchecked", "the app no longer checks the CSRF token: a forged acknowledgement or login goes through",
        (("dashboards/app/security.py", "        csrf.protect()  # raises CSRFError (400) without a valid token\n", ""),),
        ("tests/test_app_security.py::test_an_acknowledgement_without_the_token_or_from_another_origin_acknowledges_nothing",
         "tests/test_app_security.py::test_a_login_without_its_csrf_token_is_refused_and_with_it_accepted")),
    Mutation(
        "frame-ancestors-any", "the CSP lets any site frame the app (frame-ancestors *; chromium then ignores X-Frame-Options)",
        (("dashboards/app/security.py", "        \"frame-ancestors 'none'\",\n", "        \"frame-ancestors *\",\n"),),
        ("tests/test_app_security.py::test_a_page_on_another_origin_that_frames_the_app_shows_nothing",
         "tests/test_app_security.py::test_every_response_carries_the_security_headers")),
    # issue 24: the deployment (TLS proxy, dependency audit)
    Mutation(
        "proxy-serves-plain-http", "the TLS proxy's port 80 serves the app in the clear instead of redirecting to https",
        (("deploy/proxy/envmon.conf", "    return 308 https://$host$request_uri;\n",
          "    location / {\n        set $envmon_app http://dashboard:8050;\n        proxy_pass $envmon_app;\n    }\n"),),
        ("tests/test_proxy.py::test_plain_http_is_redirected_to_https",
         "tests/test_compose.py::test_only_the_proxy_is_published_and_only_tls_is_served")),
    Mutation(
        "proxy-forwarded-proto", "the proxy tells the app the request came over plain http: cookies not Secure",
        (("deploy/proxy/envmon.conf", "proxy_set_header X-Forwarded-Proto $scheme;",
          "proxy_set_header X-Forwarded-Proto http;"),),
        ("tests/test_proxy.py::test_the_app_behind_the_proxy_sets_secure_cookies_and_audits_the_clients_address",)),
    Mutation(
        "audit-incomplete-passes", "make audit passes when some packages could not be looked up",
        (("deploy/audit.py", "        status = status or 2\n", "        status = status or 0\n"),),
        ("tests/test_audit.py",)),
    # issue 23: targets in force by period, the registry versioned in the warehouse
    Mutation(
        "target-of-another-day", "a section-day is judged against the latest target, not the one in force that day",
        (("pipelines/assessment/daily.py",
          "targets = [target_in_force(station_id, day) for station_id, day in keys]",
          "targets = [target_in_force(station_id, date.max) for station_id, day in keys]"),),
        ("tests/test_registry_targets.py::test_a_target_changed_from_2026_changes_2026_and_leaves_2025_alone",)),
    Mutation(
        "unset-target-judged", "a period without a target is stored as assessed, not 'target unset' (目标未定)",
        (("pipelines/assessment/daily.py", "    if not target.is_set:\n        row[\"is_compliant\"] = None\n",
          "    if False:\n        row[\"is_compliant\"] = None\n"),),
        ("tests/test_registry_targets.py::test_an_unset_target_gives_the_class_and_no_verdict",)),
    Mutation(
        "target-not-closed", "a new target leaves the one it replaces open-ended: two targets in force on a day",
        (("warehouse/registry_store.py", ".values(valid_to=valid_from - timedelta(days=1), closed_in_version=version_id))",
          ".values(closed_in_version=version_id))"),),
        ("tests/test_registry_targets.py::test_a_target_changed_from_2026_changes_2026_and_leaves_2025_alone",)),
    # issue 25: stewardship (withdrawn values, a lab's report version)
    Mutation(
        "withdrawn-value-resurrected", "a re-ingest stores its QC flag over a value a steward withdrew",
        (("warehouse/bulk.py", "        incoming = stewardship.applied(connection, source, incoming)\n", ""),),
        ("tests/test_stewardship.py::test_a_withdrawn_value_leaves_the_assessment_is_audited_shown_in_history_and_"
         "stays_withdrawn[sqlite]",)),
    Mutation(
        "report-version-arrival-order", "a lab file of a lower report version overrides a correction that arrived first",
        (("pipelines/statements.py", "            if standing is not None and standing[0] > version:",
          "            if False:"),),
        ("tests/test_stewardship.py::test_report_version_2_stands_though_version_1_arrives_after_it[sqlite]",)),
    # issue 25: backups and the restore drill
    Mutation(
        "restore-trusts-a-damaged-backup", "envmon restore checks each file's size but not its sha256, so a backup "
                                           "with one byte changed is restored",
        (("pipelines/operations/backup.py",
          '        if path.stat().st_size != expected["bytes"] or _sha256(path) != expected["sha256"]:\n',
          '        if path.stat().st_size != expected["bytes"]:\n'),),
        ("tests/test_backup_restore.py::test_a_backup_with_one_byte_changed_is_refused_with_one_line_and_nothing_"
         "restored",)),
    Mutation(
        "healthz-without-the-database", "/healthz answers ok without asking the warehouse",
        (("dashboards/app/__init__.py", "            db.check_reachable(warehouse_url)\n", "            pass\n"),),
        ("tests/test_healthz.py",)),
    # the merge of issues 23 and 24 (H-N)
    Mutation(
        "app-keeps-the-seed-registry", "the dashboard app never takes the warehouse's registry: adopted sections "
                                       "and imported targets do not reach its pages",
        (("dashboards/app/__init__.py", "        warehouse.use_its_registry()   # the registry the warehouse holds "
          "now (adopted, imported sections)\n", ""),),
        ("tests/test_dashboard_app.py::test_the_app_reads_the_registry_the_warehouse_holds_and_its_changes",)),
    Mutation(
        "bulletin-unknown-terms-pending", "the bulletin calls a 九洲江 2015–2017 year to date 待年度评价, as if its "
                                          "required rate were known",
        (("pipelines/reports/bulletin.py", "        if yearly is not None and yearly.required_rate is None:\n",
          "        if False:\n"),),
        ("tests/test_reports.py::test_a_month_of_the_2015_2017_jiuzhou_agreement_says_it_cannot_be_assessed",)),
    Mutation(
        "compose-dashboard-audit-unwritable", "compose has the dashboard write its audit log as the read-only role "
                                              "(sign-in answers 503 as deployed)",
        (("docker-compose.yml", "&dashboard-ack-url postgresql+psycopg://envmon_dashboard_ack:${ENVMON_DASHBOARD_ACK_DB_"
          "PASSWORD:?", "&dashboard-ack-url postgresql+psycopg://envmon_dashboard:${ENVMON_DASHBOARD_DB_PASSWORD:?"),),
        ("tests/test_compose.py::test_the_dashboard_writes_its_audit_log_through_a_role_the_deployment_makes_and_"
         "grants",)),
    # issue 27: the work done set-based (H-O)
    Mutation(
        "hourly-aqi-one-rule-version", "the set-based real-time AQI judges every hour under the rules of the first "
                                       "hour's version (the March 2026 hours under HJ 633-2012, or the reverse)",
        (("pipelines/assessment/air_quality.py", "        group = np.asarray(groups, dtype=np.int64)\n",
          "        group = np.zeros(len(groups), dtype=np.int64)\n"),),
        ("tests/test_hourly_set_based.py",)),
    Mutation(
        "water-days-one-rule-version", "the set-based water days judge every day under the rules in force on the "
                                       "first day (a revision in force from a later day ignored)",
        (("pipelines/assessment/daily.py", "    group_of = dict(zip(days, groups))\n    verdicts: dict[int, ",
          "    group_of = dict.fromkeys(days, 0)\n    verdicts: dict[int, "),),
        ("tests/test_water_days_set_based.py",)),
    Mutation(
        "qc-neighbours-keep-replaced", "a batch's coded QC neighbours keep the stored readings a payload replaces: a "
                                       "revised value judged against its own old value",
        (("pipelines/quality/qc.py", "        take[stored[stored >= 0]] = False\n", ""),),
        ("tests/test_qc_neighbourhood.py::test_windowed_cases_match_the_frame_context",)),
    Mutation(
        "o3-8h-window-of-7", "the set-based O3 8-h means average 7 hours, not 8",
        (("pipelines/assessment/air_quality.py", "def rolling_means_8h(series: np.ndarray, window: int = 8)",
          "def rolling_means_8h(series: np.ndarray, window: int = 7)"),),
        ("tests/test_air_quality.py::test_the_rolling_8h_means_are_pandas_to_the_last_bit",)),
    Mutation(
        "staging-never-pruned", "a loaded night's Parquet copies stay in staged_batches: the warehouse keeps every "
                                "night twice",
        (("pipelines/nightly.py", "    staging.prune_loaded(engine, source, day, batch)\n", ""),),
        ("tests/test_staging.py::test_loaded_nights_are_not_kept_twice_and_a_rerun_touches_nothing[sqlite]",)),
    Mutation(
        "copy-csv-text-unquoted", "the set-wise COPY writes text unquoted: an empty string is stored as NULL",
        (("warehouse/db.py", 'include_header=False, quoting_style="needed"', 'include_header=False, quoting_style="none"'),),
        ("tests/test_copy_buffer.py::test_edge_values_read_back_as_written",)),
    Mutation(
        "copy-read-empty-text-as-null", "the COPY-out read parses a quoted empty text as NULL: the archive "
        "path's assessment reads a stored empty layer or note as missing",
        (("warehouse/db.py", "quoted_strings_can_be_null=False", "quoted_strings_can_be_null=True"),),
        ("tests/test_copy_read.py::test_each_read_makes_the_frame_the_drivers_rows_make",)),
    Mutation(
        "archive-sha256-unchecked", "a payload re-read from the archive is not checked against the sha256 logged "
        "when it was received: a damaged copy is ingested",
        (("pipelines/storage.py", "    if sha256:\n        found = hashlib.sha256(payload)",
          "    if False:\n        found = hashlib.sha256(payload)"),),
        ("tests/test_shared_storage.py::test_a_damaged_archived_payload_is_refused_with_one_line",)),
    Mutation(
        "storage-is-the-local-home", "the shared storage is ignored: each worker archives into and reads its own "
        "ENVMON_HOME, so another worker cannot resume or re-run the payload",
        (("pipelines/storage.py", 'url = getattr(settings, "storage_url", None) or str(settings.home)',
          "url = str(settings.home)"),),
        ("tests/test_shared_storage.py::test_a_payload_worker_a_received_is_resumed_and_rerun_by_worker_b_and_its"
         "_documents_served_elsewhere[folder]",)),
    # issue 25, review: the shared storage's faults, re-archiving, Data Docs and the upgrade path
    Mutation(
        "archive-read-fault-final", "an archived copy the store cannot serve now (a 5xx, an outage) fails its payload "
        "for good: resume never tries it again",
        (("pipelines/ingest/batches.py", 'status="failed", retryable=not damaged, error=reason)',
          'status="failed", retryable=False, error=reason)'),),
        ("tests/test_shared_storage.py::test_an_archived_copy_the_store_cannot_serve_now_stays_retryable_and_a_"
         "loaded_payload_stays_loaded",)),
    Mutation(
        "archive-existing-copy-unchecked", "archiving a payload whose key exists keeps the stored copy unchecked, "
        "damaged or not",
        (("pipelines/storage.py", "    if not store.exists(key) or _stored_digest(store, key) != digest:\n",
          "    if not store.exists(key):\n"),),
        ("tests/test_shared_storage.py::test_archiving_a_payload_again_rewrites_a_stored_copy_that_is_not_it",)),
    Mutation(
        "data-docs-built-in-the-shared-home", "on an object store the Data Docs sites are built in ENVMON_HOME's "
        "one data_docs folder, which every worker sharing the home writes into",
        (("pipelines/quality/data_docs.py", "    return Path(tempfile.mkdtemp(prefix=BUILD_PREFIX))\n",
          "    return settings.data_docs_dir\n"),),
        ("tests/test_shared_storage.py::test_two_workers_sharing_envmon_home_publish_only_their_own_data_docs_site_"
         "to_the_store",)),
    Mutation(
        "init-does-not-adopt-the-home", "the init job no longer copies ENVMON_HOME's archive and documents into the "
        "storage before the migration: an upgrade to MinIO strands them",
        (("deploy/airflow-init.sh", '; print(storage.adopt_local_home(settings)["message"])\'', "'"),),
        ("tests/test_shared_storage.py::test_the_init_job_copies_an_old_envmon_home_into_an_empty_s3_store_before_"
         "the_migration",)),
    # issue 27, the house: the ingest side without import circles (tests/test_import_layers.py)
    Mutation(
        "ingest-circle-back", "the batched ingest imports the one-payload module again (inside a function, as the "
        "old circle did): pipelines.ingest.batches <-> payloads",
        (("pipelines/ingest/batches.py", "def prepare(settings: Settings) -> None:\n",
          "def prepare(settings: Settings) -> None:\n    from pipelines.ingest import payloads  # noqa: F401\n"),),
        ("tests/test_import_layers.py",)),
    Mutation(
        "alerts-nightly-circle-back", "the alerts take data_label from the nightly steps, which call them",
        (("pipelines/alerts/__init__.py", "    from pipelines.config import data_label\n",
          "    from pipelines.nightly import data_label\n"),),
        ("tests/test_import_layers.py",)),
    # issues 25/26, review: the deployment's roles and the shared storage's users
    Mutation(
        "api-role-create-twice", "deploy/postgres-init/03-api.sh creates the API's role with a bare CREATE ROLE, "
                                 "so a second run (by hand on an older volume) fails",
        (("deploy/postgres-init/03-api.sh",
          "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'api_role', :'api_password')\n"
          "WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'api_role') \\gexec\n",
          "CREATE ROLE :\"api_role\" LOGIN PASSWORD :'api_password';\n"),),
        ("tests/test_api.py::test_the_deployments_api_role_serves_a_partner_and_can_change_nothing_else",)),
    Mutation(
        "api-grants-fail-without-role", "deploy/api-grants.sh grants to a role an older postgres volume lacks: the "
                                        "init job, and with it the whole stack, fails",
        (("deploy/api-grants.sh", 'if [ "$exists" != "1" ]; then\n', "if false; then\n"),),
        ("tests/test_api.py::test_the_api_grants_skip_with_a_warning_where_the_role_is_missing",)),
    Mutation(
        "compose-dashboard-storage-writer", "compose hands the internet-facing dashboard the workers' read-write "
                                            "storage user instead of its read-only one",
        (("docker-compose.yml", "      <<: [*envmon-warehouse-reader, *envmon-storage-reader]\n",
          "      <<: [*envmon-warehouse-reader, *envmon-storage]\n"),),
        ("tests/test_compose.py::test_no_service_but_minio_and_its_init_holds_the_storage_root_and_the_dashboard_"
         "only_reads",)),
    Mutation(
        "minio-dashboard-policy-writes", "the dashboard's storage policy lets it write and delete the documents "
                                         "and the Data Docs it serves",
        (("deploy/minio/dashboard-policy.json", '      "Action": ["s3:GetObject"],\n',
          '      "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],\n'),),
        ("tests/test_compose.py::test_the_storage_policies_let_each_user_do_its_work_and_no_more_on_a_real_s3_"
         "endpoint",)),
    # issue 27: validation on the columns the suite reads (H4)
    Mutation(
        "suite-columns-lose-column-b", "GX is given the columns of each expectation's `column` and `column_A` "
                                       "only: a pair expectation's second column (instrument_min) is missing",
        (("pipelines/quality/validation.py", '("column", "column_A", "column_B")', '("column", "column_A")'),),
        ("tests/test_validation_columns.py",)),
)


def copy_tree(destination: Path) -> None:
    """The working tree's tracked and untracked, not ignored, files (a plain copy less the usual
    clutter where this is not a git checkout)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode == 0:
        for name in filter(None, listed.stdout.decode().split("\0")):
            source = ROOT / name
            if source.is_file():
                target = destination / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    else:
        shutil.copytree(ROOT, destination, dirs_exist_ok=True, symlinks=True,
                        ignore=shutil.ignore_patterns(".git", ".venv", ".envmon", "__pycache__", "*.egg-info"))


def test_paths(tree: Path, tests: tuple[str, ...]) -> list[str]:
    paths = []
    for pattern in tests:
        found = sorted(glob.glob(str(tree / pattern.split("::")[0])))
        paths += [str(Path(p).relative_to(tree)) + (pattern[len(pattern.split("::")[0]):]) for p in found] or [pattern]
    return paths


def _environment(tree: Path) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "PYTHONDONTWRITEBYTECODE": "1"}


def run_after(tree: Path, mutation: Mutation) -> dict[Path, bytes]:
    """The mutation's post-steps run in the copy; returns what the files they write held before
    (to be put back). Raises if a step fails: the breakage did not go through its generator."""
    written = {Path(p): Path(p).read_bytes() for pattern in mutation.after_writes
               for p in glob.glob(str(tree / pattern))}
    for command in mutation.after:
        argv = [sys.executable if command[0] == "python" else command[0], *command[1:]]
        result = subprocess.run(argv, cwd=tree, env=_environment(tree), capture_output=True, text=True)
        if result.returncode != 0:
            for path, content in written.items():
                path.write_bytes(content)
            raise RuntimeError(f"post-step {' '.join(command)} failed: {result.stderr.strip()[-500:]}")
    return written


def run_tests(tree: Path, tests: list[str]) -> tuple[int, float, str]:
    environment = _environment(tree)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                            cwd=tree, env=environment, capture_output=True, text=True)
    summary = (result.stdout.strip().splitlines() or [""])[-1]
    return result.returncode, time.monotonic() - started, summary


def apply(tree: Path, mutation: Mutation) -> tuple[Path, str] | None:
    """The mutation applied to the copy: (file, its original text), or None if no candidate applies."""
    for relative, text, replacement in mutation.candidates:
        path = tree / relative
        if not path.exists():
            continue
        original = path.read_text(encoding="utf-8")
        if original.count(text) == 1:
            path.write_text(original.replace(text, replacement), encoding="utf-8")
            return path, original
    return None


def check(mutations: list[Mutation], keep: bool = False, baseline: bool = True) -> list[dict]:
    scratch = Path(tempfile.mkdtemp(prefix="envmon-mutations-"))
    tree = scratch / ROOT.name
    results = []
    try:
        copy_tree(tree)
        _share_reference_beside(scratch)
        if baseline:
            baseline_tests = sorted({t for m in mutations for t in test_paths(tree, m.tests)})
            code, seconds, summary = run_tests(tree, baseline_tests)
            if code != 0:
                raise SystemExit(f"the tests fail without any mutation ({summary}); fix them first:\n  "
                                 + " ".join(baseline_tests))
            print(f"baseline: {summary} ({seconds:.0f} s)", file=sys.stderr)
        else:
            print("baseline: not run again (--suite-passed: the whole suite passed on this tree just before)",
                  file=sys.stderr)
        for mutation in mutations:
            applied = apply(tree, mutation)
            if applied is None:
                results.append({"mutation": mutation.name, "what": mutation.what, "outcome": "not applied",
                                "detail": "its code is not where the mutation says: update bench/mutations.py"})
                continue
            path, original = applied
            written: dict[Path, bytes] = {}
            try:
                try:
                    written = run_after(tree, mutation)
                except RuntimeError as error:
                    results.append({"mutation": mutation.name, "what": mutation.what, "outcome": "error (post-step)",
                                    "file": str(path.relative_to(tree)), "tests": list(mutation.tests),
                                    "detail": str(error)})
                    continue
                code, seconds, summary = run_tests(tree, test_paths(tree, mutation.tests))
            finally:
                path.write_text(original, encoding="utf-8")
                for generated, content in written.items():
                    generated.write_bytes(content)
            outcome = {1: "caught", 0: "SURVIVED"}.get(code, f"error (pytest exit {code})")
            if code == 0 and "skipped" in summary:
                # a skipped test catches nothing: say why the mutation went unchecked
                outcome = "NOT CHECKED (its tests skipped)"
            results.append({"mutation": mutation.name, "what": mutation.what, "outcome": outcome,
                            "file": str(path.relative_to(tree)), "tests": list(mutation.tests),
                            "seconds": round(seconds, 1), "detail": summary})
            print(f"{mutation.name}: {outcome} ({seconds:.0f} s)", file=sys.stderr)
    finally:
        if keep:
            print(f"copy kept at {tree}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return results


def _share_reference_beside(scratch: Path) -> None:
    """The real samples' ../shared, seen from the copy as from the checkout: without it the
    real-data tests skip, and a mutation only they can catch would pass as survived."""
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (scratch / "shared").symlink_to(shared, target_is_directory=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--only", action="append", metavar="NAME", help="run this mutation (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away copy")
    # CI runs the whole suite (make test) on the same tree right before, so the baseline run of the
    # mutations' tests would only repeat it (about a fifth of the mutation check's time)
    parser.add_argument("--suite-passed", action="store_true",
                        help="skip the baseline run: the whole test suite has just passed on this tree")
    args = parser.parse_args(argv)
    if args.list:
        for mutation in MUTATIONS:
            print(f"{mutation.name:24} {mutation.what}\n{'':24} tests: {' '.join(mutation.tests)}")
        return 0
    unknown = set(args.only or ()) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"no mutation named {', '.join(sorted(unknown))}")
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    results = check(chosen, keep=args.keep, baseline=not args.suite_passed)
    caught = sum(r["outcome"] == "caught" for r in results)
    if args.json:
        print(json.dumps({"mutations": results, "caught": caught, "tried": len(results)}, ensure_ascii=False))
    else:
        for r in results:
            print(f"{r['outcome']:12} {r['mutation']:24} {r['what']}  [{r['detail']}]")
        print(f"{caught} of {len(results)} mutations caught")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
