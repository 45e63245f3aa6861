"""Documents (issue 25): the issued bulletins and assessments, numbered, newest first, with their
files. A regional user sees every issue; a city bureau its own city's and the region's. A file is
served by /issued/<issue>.<format> only to a user who may see the issue (the same rule, so a
crafted address gets nothing more than the page shows); superseded issues are listed as such."""
from __future__ import annotations

from datetime import datetime

import flask
from dash import html

from dashboards.app import components
from dashboards.app.i18n import t
from pipelines.clock import BUREAU_TZ

FORMATS = ("xlsx", "html", "pdf")
MEDIA_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "html": "text/html", "pdf": "application/pdf"}


def may_see(user, issue: dict) -> bool:
    """Regional users every issue; a city bureau the region's and its own city's."""
    return user.is_regional or issue.get("city") in (None, user.bureau)


def visible_issues(home, user) -> list[dict]:
    """`home`: the shared storage (pipelines/storage.py), or ENVMON_HOME."""
    from pipelines.reports import issues

    return [row for row in issues.listing(home) if may_see(user, row)]


def issued_file(home, user, identifier: str, fmt: str):
    """The file of an issue the user may see, or None (unknown issue, format, or not the user's)."""
    from pipelines.reports import issues

    if fmt not in FORMATS:
        return None
    try:
        issues.parse_issue_id(identifier)
    except ValueError:
        return None
    for row in issues.listing(home):
        if row["issue"] == identifier and may_see(user, row) and fmt in row["files"]:
            from pipelines import storage

            return storage.same_kind(issues.reports_root(home), row["files"][fmt])
    return None


def _row(context, issue: dict) -> html.Tr:
    lang = context.lang
    links = []
    for fmt in FORMATS:
        if fmt in issue["files"]:
            links += [html.A(fmt.upper(), href=f"/issued/{issue['issue']}.{fmt}", className="download",
                             id=f"doc-{issue['issue']}-{fmt}"), " "]
    state = t("document_current", lang) if issue["state"] == "current" else t("document_superseded", lang)
    issued = datetime.fromisoformat(issue["issued_at"]).astimezone(BUREAU_TZ).strftime("%Y-%m-%d %H:%M")
    return html.Tr([html.Td(issue["number"]), html.Td(issue["title"]), html.Td(state), html.Td(issued),
                    html.Td(issue["issue"]), html.Td(links or "—")],
                   className="superseded" if issue["state"] != "current" else "")


def render(context, rest):
    lang = context.lang
    home = flask.current_app.config.get("ENVMON_STORAGE") or flask.current_app.config.get("ENVMON_HOME")
    rows = visible_issues(home, context.user) if home is not None else []
    if not rows:
        return [html.H3(t("documents", lang)), components.notice(t("documents_none", lang), "info", "documents-none")], None
    headings = [t("col_issue_number", lang), t("col_document_title", lang), t("col_document_state", lang),
                t("col_issued_at", lang), t("col_issue_id", lang), t("col_files", lang)]
    table = html.Table([html.Thead(html.Tr([html.Th(h) for h in headings])),
                        html.Tbody([_row(context, issue) for issue in rows])], id="documents-table",
                       className="documents")
    return [html.H3(t("documents", lang)), html.P(t("documents_intro", lang), className="note"), table], None


def register(app, current_context) -> None:
    """The page is drawn whole when it opens: no callbacks."""


TABLES = {}
