"""The pages: one module each, with `render(context, path)` (the page, its figures drawn), its
callbacks (`register`) and the tables it offers for download (`TABLES`)."""
from __future__ import annotations

import html as html_escape

from dash import html

from dashboards.app import components, security
from dashboards.app.i18n import t
from dashboards.app.pages import (
    air, alerts, coastal, cross_boundary, overview, quality, registry, reservoirs, section,
)
from dashboards.app.pages import documents

PAGES = {"overview": overview, "cross-boundary": cross_boundary, "section": section, "reservoirs": reservoirs,
         "coastal": coastal, "air": air, "alerts": alerts, "quality": quality, "registry": registry}
PAGES["documents"] = documents  # issue 25: the issued bulletins and assessments


def page_of(path: str):
    parts = [p for p in path.split("/") if p]
    if not parts:
        return overview, []
    return PAGES.get(parts[0]), parts[1:]


def render(context: components.PageContext, path: str):
    module, rest = page_of(path)
    if module is None:
        body, days = components.notice(t("not_found", context.lang), "error", "not-found"), None
    else:
        body, days = module.render(context, rest)
    sources = context.warehouse.sources_between(*days) if days and days[0] and days[1] else []
    return html.Div([components.header(context, path, sources), html.Main(body, className="content")],
                    lang="en" if context.lang == "en" else "zh-CN")


def register_callbacks(app, current_context) -> None:
    for module in PAGES.values():
        module.register(app, current_context)


def table_for(context: components.PageContext, page: str, table: str):
    module = PAGES.get(page)
    if module is None or table not in module.TABLES:
        return None
    return module.TABLES[table](context)


def login_page(lang: str, failed: bool | str) -> str:
    """The login form; `failed`: True after a failed sign-in (one answer for every failure), or the
    key of another notice (login_throttled, login_unavailable)."""
    notice = "login_failed" if failed is True else failed
    error = f'<p class="error" id="login-error">{html_escape.escape(t(notice, lang))}</p>' if notice else ""
    other = ("English", "?lang=en") if lang != "en" else ("中文", "?")
    return f"""<!DOCTYPE html><html lang="{'en' if lang == 'en' else 'zh-CN'}"><head><meta charset="utf-8">
<title>envmon · {t('login', lang)}</title><link rel="stylesheet" href="/assets/envmon.css"></head>
<body class="login"><form method="post" class="login-box" id="login-form">{security.csrf_field()}
<h1>{html_escape.escape(t('title', lang))}</h1>{error}
<label>{t('username', lang)}<input name="username" id="username" autocomplete="username" required></label>
<label>{t('password', lang)}<input name="password" id="password" type="password" autocomplete="current-password" required></label>
<label>{t('otp_code', lang)}<input name="code" id="code" inputmode="numeric" autocomplete="one-time-code" maxlength="8"></label>
<button type="submit" id="login-button">{t('login', lang)}</button>
<p class="lang"><a href="/login{other[1]}">{other[0]}</a></p></form></body></html>"""
