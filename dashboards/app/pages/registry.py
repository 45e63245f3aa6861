"""Registry (regional users only, issue 23): the registry version in force (its number, kind, when
and by whom it was applied, from which document), the versions before it, the targets in force
today that are only assumed or not set, and the sections and stations the feeds publish that the
registry lacks. A city bureau is refused the page, its link and its downloads: the registry is the
region's to keep."""
from __future__ import annotations

import pandas as pd
from dash import html

from dashboards.app import components
from dashboards.app.data import city_name
from dashboards.app.i18n import t, value_text
from dashboards.app.pages.alerts import bureau_time
from pipelines import clock, display


def allowed(context) -> bool:
    return context.user.is_regional


VERSION_HEADINGS = {"version_id": "col_version", "kind": "col_registry_kind", "applied_at": "col_applied_at",
                    "applied_by": "col_applied_by", "source_document": "col_source_document",
                    "valid_from": "col_valid_from"}


def history_table(context) -> pd.DataFrame | None:
    """Every registry version, newest first."""
    if not allowed(context):
        return None
    lang = context.lang
    versions = context.warehouse.registry_versions().copy()
    versions["kind"] = [value_text("registry_kind", k, lang) for k in versions["kind"]]
    versions["applied_at"] = bureau_time(versions["applied_at"])
    for column in ("applied_by", "source_document", "valid_from", "applied_at"):
        versions[column] = [display.text_or_dash(v) for v in versions[column]]
    return versions[list(VERSION_HEADINGS)].rename(columns={c: t(k, lang) for c, k in VERSION_HEADINGS.items()})


def assumed_table(context) -> pd.DataFrame | None:
    """The targets in force today that are not official: assumed (a default or a public source's
    reading) or not set (a section adopted from a feed), each with its basis and since when."""
    if not allowed(context):
        return None
    lang = context.lang
    columns = [t("col_section", lang), t("col_water_body", lang), t("city", lang), t("target", lang),
               t("col_target_status", lang), t("col_basis", lang), t("col_valid_from", lang), t("col_section_id", lang)]
    targets = context.warehouse.targets_in_force(clock.today())
    targets = targets[targets["status"] != "official"]
    return pd.DataFrame({
        columns[0]: [display.text_or_dash(v) for v in targets["name_zh"]],
        columns[1]: [display.text_or_dash(v) for v in targets["water_body"]],
        columns[2]: [display.text_or_dash(city_name(c, lang) if not display.is_missing(c) else None)
                     for c in targets["city"]],
        columns[3]: [display.target_text(c, lang, s) for c, s in zip(targets["target_class"], targets["status"])],
        columns[4]: [display.target_status_text(s, lang) for s in targets["status"]],
        columns[5]: [display.text_or_dash(v) for v in targets["basis"]],
        columns[6]: [display.text_or_dash(v) for v in targets["valid_from"]],
        columns[7]: list(targets["section_id"])}, columns=columns)


UNKNOWN_HEADINGS = {"name_zh": "col_name", "city": "city", "water_body": "col_water_body", "source": "col_source",
                    "first_seen_at": "col_first_seen", "last_seen_at": "col_last_seen",
                    "payloads_seen": "col_payloads_seen"}


def unknown_table(context) -> pd.DataFrame | None:
    """What the feeds publish in the registry's cities that the registry lacks
    (`envmon registry adopt` joins them)."""
    if not allowed(context):
        return None
    lang = context.lang
    unknown = context.warehouse.unknown_stations().copy()
    for column in ("first_seen_at", "last_seen_at"):
        unknown[column] = bureau_time(unknown[column])
    for column in ("name_zh", "water_body", "first_seen_at", "last_seen_at"):
        unknown[column] = [display.text_or_dash(v) for v in unknown[column]]
    unknown["city"] = [display.text_or_dash(None if display.is_missing(c) else city_name(c, lang))
                       for c in unknown["city"]]
    return unknown[list(UNKNOWN_HEADINGS)].rename(columns={c: t(k, lang) for c, k in UNKNOWN_HEADINGS.items()})


def version_in_force(context) -> html.Div:
    """The newest version: number, kind, when, by whom, from which document, from which day."""
    lang = context.lang
    versions = context.warehouse.registry_versions()
    if versions.empty:
        return components.notice(t("registry_none", lang), "info", "registry-version")
    newest = versions.iloc[0]
    facts = [(t("col_version", lang), str(int(newest["version_id"]))),
             (t("col_registry_kind", lang), value_text("registry_kind", newest["kind"], lang)),
             (t("col_applied_at", lang), display.text_or_dash(bureau_time(pd.Series([newest["applied_at"]])).iloc[0])),
             (t("col_applied_by", lang), display.text_or_dash(newest["applied_by"])),
             (t("col_source_document", lang), display.text_or_dash(newest["source_document"])),
             (t("col_valid_from", lang), display.text_or_dash(newest["valid_from"]))]
    return html.Div([html.Span([f"{label}: ", html.B(value)], className="fact") for label, value in facts],
                    id="registry-version", className="facts",
                    **{"data-version": str(int(newest["version_id"]))})


def render(context, rest):
    lang = context.lang
    if not allowed(context):
        return [components.notice(t("registry_regional_only", lang), "error", "forbidden")], None
    today = clock.today()
    body = [
        html.H3(t("registry_version", lang)),
        version_in_force(context),
        html.H4(t("registry_assumed", lang).format(day=today)),
        components.data_table("registry-assumed", assumed_table(context), "registry/assumed", context),
        html.H4(t("registry_unknown", lang)),
        components.data_table("registry-unknown", unknown_table(context), "registry/unknown", context, page_size=10),
        html.H4(t("registry_history", lang)),
        components.data_table("registry-history", history_table(context), "registry/history", context, page_size=10),
    ]
    return body, None


def register(app, current_context) -> None:
    """The page is drawn whole when it opens: no callbacks."""


TABLES = {"history": history_table, "assumed": assumed_table, "unknown": unknown_table}
