"""Security headers, cookies and CSRF for envmon's web apps (issue 24).

Headers, on every response (pages, assets, callbacks, downloads, errors), by a WSGI middleware
(SecurityHeaders) or an ASGI one (SecurityHeadersASGI, for an ASGI app such as the open data API):
- a Content-Security-Policy that allows the app itself and nothing else (content_security_policy);
- frame-ancestors 'none' and X-Frame-Options DENY: no other site may frame the app (clickjacking);
- X-Content-Type-Options nosniff; Referrer-Policy same-origin;
- over TLS only: Strict-Transport-Security, and Secure on every cookie.

TLS is known from the request's scheme. Behind the deployment's reverse proxy, which terminates TLS,
that scheme is X-Forwarded-Proto: trusted only from ENVMON_TRUSTED_PROXIES proxies in front
(werkzeug's ProxyFix; default 0, not behind a proxy: the headers are ignored, so that nobody can
claim TLS, or another address, by sending them).

CSRF, in the Dash app (protect_forms), by Flask-WTF's CSRFProtect: a random token kept in the
signed session, sent back signed with every state-changing request:
- the login form carries it as a hidden field (csrf_field);
- Dash's renderer sends the cookie `_csrf_token` back as the header X-CSRFToken with every callback
  (dash-renderer's getCSRFHeader, Dash's config csrf_token_name/csrf_header_name). The app sets
  that cookie to the session's signed token. Another site can neither read the cookie (the
  same-origin policy) nor send a custom header cross-origin without a CORS preflight this app never
  grants, so a forged callback, the acknowledgement's among them, arrives without a valid token and
  is refused with 400. This is OWASP's synchronizer token, its header carried by the renderer.
- Beside it, a request whose Origin header names another origin is refused with 403 whatever its
  token (OWASP's standard-header check; browsers send Origin with every cross-origin POST). Over
  TLS, CSRFProtect also wants a Referer of this host (Referrer-Policy same-origin keeps it).
"""
from __future__ import annotations

import base64
import hashlib
import html
import logging
import os
import re

log = logging.getLogger(__name__)

ENV_VARS = ("ENVMON_TRUSTED_PROXIES",)
CSRF_COOKIE = "_csrf_token"  # the name dash-renderer reads (Dash's csrf_token_name)
CSRF_HEADER = "X-CSRFToken"  # the header it sends (Dash's csrf_header_name)
HSTS = "max-age=31536000"  # a year; not includeSubDomains: the bureau's other hosts are not ours to bind
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
DOCUMENTS = "/data-docs/"  # Great Expectations' Data Docs, served by the app: a policy of their own (document_policy)
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
EVENT_HANDLER = re.compile(r"""\son[a-z]+\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)


def content_security_policy(script_hashes=()) -> str:
    """The app and nothing else (tests/test_app_security.py visits every page in chromium with it and
    fails on any violation).

    - scripts: the app's own files, and the one inline script Dash writes into its page
      (`new DashRenderer()`) by its hash (app.csp_hashes(), which would take clientside callbacks
      too); no 'unsafe-inline', no 'unsafe-eval': plotly.js evaluates code only for its WebGL traces
      (regl), and the app draws none.
    - styles: the app's own files and 'unsafe-inline'. Dash's renderer, its core components (date
      pickers, dropdowns), its tables and plotly.js all insert <style> elements as they draw, and
      plotly.js writes style="" attributes on its SVG; none of them can be given a nonce or a hash
      (the rules are made in the browser), and without them the graphs and controls are unstyled.
      An inline style cannot run code; scripts stay strict.
    - images: the app's own, and the data: and blob: URLs plotly.js makes itself (heatmaps are drawn
      as data: images; the modebar's 'Download plot as a PNG' draws the graph through a blob: image).
    - connections, forms, the document's base: this app only. No plugins. No framing by anyone.
    """
    scripts = " ".join(["'self'", *script_hashes])
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def document_policy(page: str) -> str:
    """The policy of one Data Docs page: the app's, with the page's own inline scripts and event
    handlers (onclick="...") allowed by their hashes ('unsafe-hashes' for the handlers). Great
    Expectations builds its pages of them; the nightly wrote them, and nothing else inline runs: not
    a handler that a value in a table (bootstrap-table writes cells as HTML) would bring in."""
    scripts = {_sha256(body) for body in INLINE_SCRIPT.findall(page)}
    handlers = {_sha256(html.unescape(a or b)) for a, b in EVENT_HANDLER.findall(page)}
    return content_security_policy(sorted(scripts | handlers) + (["'unsafe-hashes'"] if handlers else []))


def security_headers(csp: str, secure: bool) -> list[tuple[str, str]]:
    """The headers of every response; `secure`: the request came over TLS."""
    headers = [("Content-Security-Policy", csp), ("X-Frame-Options", "DENY"),
               ("X-Content-Type-Options", "nosniff"),
               # the path stays within the site (CSRFProtect's TLS check reads it); other sites get nothing
               ("Referrer-Policy", "same-origin")]
    if secure:
        headers.append(("Strict-Transport-Security", HSTS))
    return headers


def with_security_headers(headers: list[tuple[str, str]], csp: str, secure: bool) -> list[tuple[str, str]]:
    """A response's headers with ours set (replacing any of the same name) and, over TLS, every
    cookie marked Secure."""
    ours = security_headers(csp, secure)
    names = {name.lower() for name, _ in ours}
    kept = [(name, secure_cookie(value) if secure and name.lower() == "set-cookie" else value)
            for name, value in headers if name.lower() not in names]
    return kept + ours


def secure_cookie(set_cookie: str) -> str:
    attributes = {part.strip().lower() for part in set_cookie.split(";")[1:]}
    return set_cookie if "secure" in attributes else set_cookie + "; Secure"


class SecurityHeaders:
    """WSGI middleware: the headers on every response of `app` (its errors too). Under the
    `own_policy` path prefixes, a policy the app set itself is kept (the Data Docs': document_policy)."""

    def __init__(self, app, csp: str, own_policy: tuple[str, ...] = ()):
        self.app, self.csp, self.own_policy = app, csp, own_policy

    def __call__(self, environ, start_response):
        secure = environ.get("wsgi.url_scheme") == "https"
        path = environ.get("PATH_INFO", "")
        keeps_own = any(path.startswith(prefix) for prefix in self.own_policy)

        def start(status, headers, exc_info=None):
            own = [v for k, v in headers if k.lower() == "content-security-policy"] if keeps_own else []
            return start_response(status, with_security_headers(headers, own[0] if own else self.csp, secure), exc_info)

        return self.app(environ, start)


class SecurityHeadersASGI:
    """ASGI middleware: the same headers on every HTTP response of `app` (uvicorn's
    --proxy-headers with --forwarded-allow-ips gives the scheme behind the proxy)."""

    def __init__(self, app, csp: str):
        self.app, self.csp = app, csp

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        secure = scope.get("scheme") == "https"

        async def sending(message):
            if message["type"] == "http.response.start":
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
                message = {**message, "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                                                  for k, v in with_security_headers(headers, self.csp, secure)]}
            await send(message)

        return await self.app(scope, receive, sending)


def trusted_proxies(env=None) -> int:
    """ENVMON_TRUSTED_PROXIES: how many reverse proxies stand in front of the app (0: none)."""
    env = os.environ if env is None else env
    value = env.get("ENVMON_TRUSTED_PROXIES", "0").strip() or "0"
    if not value.isdigit():
        raise ValueError(f"ENVMON_TRUSTED_PROXIES must be a whole number of proxies, not {value!r}")
    return int(value)


def behind_proxies(wsgi_app, proxies: int):
    """`wsgi_app` reading the client's address, scheme, host and port from the X-Forwarded-*
    headers of the last `proxies` proxies (none: the headers are ignored)."""
    if proxies <= 0:
        return wsgi_app
    from werkzeug.middleware.proxy_fix import ProxyFix

    return ProxyFix(wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)


def add_headers(app, proxies: int = 0):
    """The Dash app `app` (complete: every callback registered) with the headers on every response
    and the proxy setting applied; returns it."""
    server = app.server
    csp = content_security_policy(app.csp_hashes())
    server.config["ENVMON_CSP"] = csp

    @server.after_request
    def data_docs_policy(response):
        import flask

        if not flask.request.path.startswith(DOCUMENTS) or response.mimetype != "text/html":
            return response
        # never revalidated (a 304 would carry the app's policy, not the page's); they are small
        response.headers["Cache-Control"] = "no-store"
        if response.status_code == 200:
            response.direct_passthrough = False  # a file: read it to hash its scripts
            response.headers["Content-Security-Policy"] = document_policy(response.get_data(as_text=True))
        return response

    server.wsgi_app = behind_proxies(SecurityHeaders(server.wsgi_app, csp, own_policy=(DOCUMENTS,)), proxies)
    return app


# --- CSRF --------------------------------------------------------------------------------------------
def protect_forms(server, open_paths=("/login",)) -> None:
    """CSRF protection on every state-changing request to `server` (a Flask app with Flask-Login):
    the login form's POST and every Dash callback. Requests of nobody logged in elsewhere than
    `open_paths` are left to the login wall (which answers them 401 and changes nothing)."""
    import flask
    import flask_login
    from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf, validate_csrf
    from wtforms import ValidationError

    # the check is called below, in the order of the app's hooks, not by Flask-WTF's own hook
    server.config.update(WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_HEADERS=[CSRF_HEADER],
                         # the token lives as long as the session that keeps it (the session's own limit)
                         WTF_CSRF_TIME_LIMIT=None)
    csrf = CSRFProtect(server)

    @server.before_request
    def refuse_forged_requests():
        request = flask.request
        if request.method not in STATE_CHANGING:
            return None
        if request.path not in open_paths and not flask_login.current_user.is_authenticated:
            return None
        origin = request.headers.get("Origin")
        if origin is not None and origin != request.host_url.rstrip("/"):
            log.warning("refused a %s to %s from the origin %r", request.method, request.path, origin)
            return flask.Response("cross-origin request refused", status=403, mimetype="text/plain")
        csrf.protect()  # raises CSRFError (400) without a valid token
        return None

    @server.errorhandler(CSRFError)
    def refused(error):
        log.warning("refused a %s to %s: %s", flask.request.method, flask.request.path, error.description)
        return flask.Response(f"request refused: {error.description}", status=400, mimetype="text/plain")

    @server.after_request
    def hand_the_renderer_its_token(response):
        """The cookie dash-renderer sends back as X-CSRFToken, set whenever the logged-in user's
        browser lacks a valid one (the first page after the login, which renews the session)."""
        if not flask_login.current_user.is_authenticated:
            return response
        try:
            validate_csrf(flask.request.cookies.get(CSRF_COOKIE))
        except ValidationError:
            response.set_cookie(CSRF_COOKIE, generate_csrf(), httponly=False, samesite="Strict",
                                secure=flask.request.is_secure)
        return response


def csrf_field() -> str:
    """The login form's hidden field with the session's token (in a request)."""
    from flask_wtf.csrf import generate_csrf

    return f'<input type="hidden" name="csrf_token" value="{generate_csrf()}">'
