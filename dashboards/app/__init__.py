"""The bureaus' dashboard: a Dash app on Flask with a login page, roles and every asset served by
itself (Dash's own JavaScript with serve_locally; no CDN, no map tiles).

    envmon dashboard [--host 127.0.0.1] [--port 8050]

It reads the warehouse at ENVMON_DASHBOARD_WAREHOUSE_URL (production: the read-only role
envmon_dashboard) through warehouse/queries.py only, and never recomputes an assessment. Its one
write, an alert episode's acknowledgement (pipelines.alerts.acknowledge, as `envmon alerts ack`),
goes through ENVMON_DASHBOARD_ACK_URL (production: a role that may only insert into alert_actions
and set an episode's acknowledged_at/by: deploy/dashboard-ack-role.sql); where no read-only URL
is set either (one URL for everything, development), through ENVMON_WAREHOUSE_URL; else it is off.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path

from dashboards.app import signin
from dashboards.app import security
from dashboards.app import users as users_module

log = logging.getLogger(__name__)
SESSION_HOURS = 8
# the app's own settings, beside pipelines/config.py's (the warehouse URLs, ENVMON_HOME)
ENV_VARS = ("ENVMON_DASHBOARD_USERS", "ENVMON_DASHBOARD_SECRET_KEY", "ENVMON_DASHBOARD_SESSION_HOURS",
            "ENVMON_DASHBOARD_ACK_URL")
ENV_VARS += security.ENV_VARS  # the number of trusted proxies in front (dashboards/app/security.py)
ENV_VARS += signin.ENV_VARS  # throttle, lockout, idle timeout, audit log (dashboards/app/signin.py)


def create_app(warehouse_url: str, users_path: Path, home: Path, secret_key: str | None = None,
               session_hours: float = SESSION_HOURS, cache_seconds: float | None = None,
               audit_url: str | None = None, login_rules: signin.LoginRules | None = None,
               ack_url: str | None = None, proxies: int = 0):
    import dash
    import flask
    import flask_login
    from dash import Input, Output, State, dcc, html

    from dashboards.app import components, data, pages
    from warehouse import db

    engine = db.engine_for(warehouse_url)
    warehouse = data.Warehouse(engine) if cache_seconds is None else data.Warehouse(engine, cache_seconds)
    _use_registry_of(warehouse)
    server = flask.Flask(__name__)
    if not secret_key:
        log.warning("ENVMON_DASHBOARD_SECRET_KEY is not set: sessions end when the app restarts")
        secret_key = secrets.token_urlsafe(32)
    server.config.update(SECRET_KEY=secret_key, PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours),
                         SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_REFRESH_EACH_REQUEST=False)
    login_manager = flask_login.LoginManager(server)

    class SessionUser(flask_login.UserMixin):
        def __init__(self, user):
            self.user = user
            self.id = user.name

    @login_manager.user_loader
    def load_user(name):
        user = users_module.get_user(users_path, name)  # a disabled user's session ends here
        return SessionUser(user) if user else None

    # throttle, lockout, audit log, idle timeout (hooked before the login wall: an idle session meets it)
    sign_in = signin.install(server, users_path, db.engine_for(audit_url) if audit_url else None,
                             login_rules or signin.LoginRules(), pages.login_page)

    # /metrics: Prometheus scrapes it on compose's network; the proxy never serves it (deploy/proxy)
    open_paths = ("/login", "/logout", "/healthz", "/metrics", "/assets/envmon.css")

    @server.before_request
    def require_login():
        path = flask.request.path
        if path in open_paths or flask_login.current_user.is_authenticated:
            return None
        if path.startswith(("/_dash-", "/download/", "/issued/")):
            return flask.Response("login required", status=401)
        return flask.redirect("/login?" + _next_query(flask.request.full_path))

    security.protect_forms(server)  # CSRF: after the login wall, before the callbacks' cache answers

    @server.before_request
    def start_clock():
        flask.g.envmon_clock = (time.perf_counter(), time.process_time())

    responses = data.ResponseCache() if warehouse.cache_seconds > 0 else None

    @server.before_request
    def answer_from_cache():
        """A callback's answer as it was for the same user, inputs and data version (the data
        version is read here, once per request: a nightly load, an ingest, an alert or an
        acknowledgement makes every answer before it stale at once). The Alerts page's callbacks
        are never cached: they read the duty officers' actions afresh, and one of them writes."""
        if responses is None or flask.request.path != "/_dash-update-component" or flask.request.method != "POST":
            return None
        body = flask.request.get_data(cache=True)
        output = (flask.request.get_json(silent=True) or {}).get("output", "")
        if not isinstance(output, str) or "alerts-" in output or signin.AUDIT_TABLE in output \
                or not flask_login.current_user.is_authenticated:
            return None
        user = flask_login.current_user.user
        key = (user.name, user.role, user.bureau, warehouse.refresh_version(), hashlib.sha256(body).digest())
        cached = responses.get(key)
        if cached is not None:
            return flask.Response(cached, mimetype="application/json")
        flask.g.envmon_response_key = key
        return None

    @server.after_request
    def keep_answer(response):
        key = flask.g.pop("envmon_response_key", None)
        if key is not None and response.status_code == 200 and not response.direct_passthrough:
            responses.put(key, response.get_data())
        return response

    @server.after_request
    def server_timing(response):
        """Server-Timing: the request's wall and CPU milliseconds in this app (bench/dashboard.py
        reads them: on a machine other work loads, CPU time is what a request costs; the process's,
        so requests served at the same time count in each other's)."""
        started = getattr(flask.g, "envmon_clock", None)
        if started is not None:
            wall, cpu = (time.perf_counter() - started[0]) * 1000, (time.process_time() - started[1]) * 1000
            response.headers["Server-Timing"] = f"app;dur={wall:.1f}, cpu;dur={cpu:.1f}"
        return response

    @server.get("/healthz")
    def health():
        try:  # healthy only if the warehouse answers a SELECT 1; the reason stays in the log, not the answer
            db.check_reachable(warehouse_url)
        except db.WarehouseUnreachable as error:
            log.warning("/healthz: %s", error)
            return flask.Response("warehouse unreachable", status=503, mimetype="text/plain")
        return "ok"

    @server.get("/metrics")
    def metrics():
        """envmon's Prometheus metrics, from the warehouse at each scrape (pipelines/operations/metrics.py)."""
        from pipelines.operations import metrics as envmon_metrics

        return flask.Response(envmon_metrics.exposition(engine), content_type=envmon_metrics.CONTENT_TYPE)

    @server.route("/login", methods=["GET", "POST"])
    @sign_in.throttle
    def login():
        lang = "en" if flask.request.args.get("lang") == "en" else "zh"
        failed = False
        if flask.request.method == "POST":
            form = flask.request.form
            try:  # one answer for every failure; the audit log says which it was
                user = sign_in.attempt(form.get("username", ""), form.get("password", ""), form.get("code"),
                                       flask.request.remote_addr)
            except signin.AuditUnavailable:
                return flask.Response(pages.login_page(lang, "login_unavailable"), status=503, mimetype="text/html")
            if user is not None:
                flask.session.clear()
                flask.session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME
                flask_login.login_user(SessionUser(user), remember=False)
                sign_in.started(flask.session)  # the idle timeout counts from here
                return flask.redirect(_safe_next(flask.request.args.get("next")))
            failed = True
        return flask.Response(pages.login_page(lang, failed), status=401 if failed else 200,
                              mimetype="text/html")

    @server.get("/logout")
    def logout():
        if flask_login.current_user.is_authenticated:
            sign_in.record("logout", flask_login.current_user.get_id(), flask.request.remote_addr)
        flask_login.logout_user()
        flask.session.clear()
        return flask.redirect("/login")

    # the shared storage (pipelines/storage.py: ENVMON_STORAGE_URL, else ENVMON_HOME), where every
    # validation path writes its Data Docs and the issued documents are kept, whichever worker wrote them
    from pipelines import storage

    shared = storage.from_env(home)

    @server.get("/data-docs/")
    @server.get("/data-docs/<path:name>")
    def data_docs(name: str = "index.html"):
        local = shared.local_path(storage.DATA_DOCS)
        if local is not None:
            return flask.send_from_directory(local, name)
        from pipelines.quality.data_docs import served

        try:
            body = served(shared, name)
        except OSError:
            body = None
        if body is None:
            flask.abort(404)
        import mimetypes

        return flask.Response(body, mimetype=mimetypes.guess_type(name)[0] or "application/octet-stream")

    @server.get("/issued/<issue>.<fmt>")
    def issued_document(issue: str, fmt: str):
        """An issued document's file (issue 25), to a user who may see the issue, else 404."""
        from dashboards.app.pages import documents

        path = documents.issued_file(shared, flask_login.current_user.user, issue, fmt)
        if path is None or not path.is_file():
            flask.abort(404)
        return flask.send_file(io.BytesIO(path.read_bytes()), mimetype=documents.MEDIA_TYPES[fmt],
                               as_attachment=True, download_name=path.name)

    @server.get("/download/<page>/<table>.<fmt>")
    def download(page: str, table: str, fmt: str):
        context = current_context(components.parse_search(flask.request.query_string.decode()))
        frame = pages.table_for(context, page, table)
        if frame is None or fmt not in ("csv", "xlsx"):
            flask.abort(404)
        frame = components.shown_frame(frame)  # the cells as the table shows them (no nan, None, NaT)
        name = f"envmon-{page}-{table}"
        if fmt == "csv":
            body = frame.to_csv(index=False).encode("utf-8-sig")  # Excel reads UTF-8 with a BOM as such
            return flask.Response(body, mimetype="text/csv",
                                  headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
        buffer = io.BytesIO()
        frame.to_excel(buffer, index=False, sheet_name=table[:31], engine="openpyxl")
        return flask.Response(buffer.getvalue(),
                              mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                              headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})

    def current_context(params: dict) -> components.PageContext:
        user = flask_login.current_user.user
        warehouse.use_its_registry()   # the registry the warehouse holds now (adopted, imported sections)
        stations = warehouse.stations()
        lang = "en" if params.get("lang") == "en" else "zh"
        return components.PageContext(warehouse, stations, data.scope_for(user, stations), user, lang, params)

    app = dash.Dash(__name__, server=server, title="envmon", update_title=None, serve_locally=True,
                    suppress_callback_exceptions=True, assets_folder=str(Path(__file__).parent / "assets"),
                    compress=False)
    app.layout = html.Div([dcc.Location(id="url", refresh="callback-nav"), html.Div(id="page")])

    @app.callback(Output("page", "children"), Input("url", "pathname"), State("url", "search"))
    def route(pathname, search):
        context = current_context(components.parse_search(search))
        return pages.render(context, pathname or "/")

    pages.register_callbacks(app, current_context)
    server.config["ENVMON_WAREHOUSE"] = warehouse
    server.config["ENVMON_HOME"] = home
    server.config["ENVMON_STORAGE"] = shared   # the issued documents (pages/documents.py)
    # the acknowledgements' own connection (None: acknowledging is off, `envmon alerts ack` remains)
    server.config["ENVMON_ACK_ENGINE"] = db.engine_for(ack_url) if ack_url else None
    return security.add_headers(app, proxies)  # CSP and the rest on every response; the proxies trusted


def _next_query(full_path: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": full_path.rstrip("?")})


def _safe_next(target: str | None) -> str:
    """Only a path of this app: never an absolute URL (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def app_from_environment(environ=None):
    from pipelines.config import load_settings

    env = os.environ if environ is None else environ
    settings = load_settings(env)
    return create_app(settings.dashboard_url, users_module.users_file(env), settings.home,
                      secret_key=env.get("ENVMON_DASHBOARD_SECRET_KEY"),
                      session_hours=float(env.get("ENVMON_DASHBOARD_SESSION_HOURS", SESSION_HOURS)),
                      audit_url=signin.audit_url_of(env, settings), login_rules=signin.login_rules(env),
                      ack_url=ack_url_of(env, settings), proxies=security.trusted_proxies(env))


def _use_registry_of(warehouse) -> None:
    """The warehouse's registry from the start (the app never migrates: it reads as the read-only
    role); a warehouse not reachable yet leaves the seed, and the first request reads it again."""
    from sqlalchemy.exc import DBAPIError

    try:
        warehouse.use_its_registry()
    except DBAPIError as error:
        log.warning("the warehouse's registry could not be read at start (%s); the seed files until it can",
                    str(error).splitlines()[0])


def ack_url_of(env, settings) -> str | None:
    """Where acknowledgements are written: ENVMON_DASHBOARD_ACK_URL; without it, the one warehouse
    URL where the app has no read-only URL of its own (development); never the owner's URL beside a
    read-only one (production without the acknowledging role: acknowledging is off)."""
    if env.get("ENVMON_DASHBOARD_ACK_URL"):
        return env["ENVMON_DASHBOARD_ACK_URL"]
    return None if settings.dashboard_warehouse_url else settings.warehouse_url


def serve(host: str = "127.0.0.1", port: int = 8050, environ=None) -> None:
    """Serve the app: uvicorn over the Flask app (a2wsgi), a thread pool for the WSGI calls."""
    import uvicorn
    from a2wsgi import WSGIMiddleware

    app = app_from_environment(environ)
    uvicorn.run(WSGIMiddleware(app.server, workers=8), host=host, port=port, log_level="warning", access_log=False)
