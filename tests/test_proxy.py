"""The deployment's TLS reverse proxy for real (issue 24): deploy/proxy/envmon.conf, the file
docker-compose.yml's `proxy` service mounts, run by Debian's nginx (tests/system-packages.sh) in
the foreground, started through deploy/proxy/entrypoint.sh, which makes its self-signed
certificate as on the service's first start. Only the compose network's names and the ports are
replaced: the app is a real `envmon dashboard` told to trust one proxy (ENVMON_TRUSTED_PROXIES=1,
as compose sets it), Airflow's api-server and the open data API are stand-ins that echo what they
are sent. nginx reaches the app from 127.0.0.5 and the client comes from 127.0.0.9, so the app
cannot take the scheme or the address from the connection: only from the proxy's headers.

Attacks and checks: plain HTTP is redirected to https (method kept), on the app's port and on
Airflow's; https serves the app with one HSTS header; the app behind it sets its cookies Secure and
records the client's address, not the proxy's, in the audit log; the certificate is made once, and
a bureau's own is used as mounted. About 15 s, most of it the app's start."""
from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from dashboards.app import users
from pipelines.config import load_settings
from tests import dashboard_app_fixture as app_fixture
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "deploy" / "proxy" / "envmon.conf"
ENTRYPOINT = ROOT / "deploy" / "proxy" / "entrypoint.sh"
ENVMON = str(Path(sys.executable).with_name("envmon"))
PASSWORD = "proxy test passphrase 24"
HSTS = "max-age=31536000"
CLIENT = "127.0.0.9"    # the browser's address
PROXY_TO_APP = "127.0.0.5"  # the address nginx connects to the upstreams from


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    assert found, "nginx is not installed: tests/system-packages.sh installs Debian's nginx (make test runs it)"
    return found


class Echo(BaseHTTPRequestHandler):
    """A stand-in upstream: answers every request with its method, path and headers as JSON."""

    def _answer(self):
        body = json.dumps({"method": self.command, "path": self.path, "client": self.client_address[0],
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Strict-Transport-Security", "max-age=5")  # an upstream's own: the proxy's replaces it
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def echo_server(stack: ExitStack) -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.callback(server.server_close)
    stack.callback(server.shutdown)
    return server.server_address[1]


def substituted(ports: dict[str, int], certs: Path) -> str:
    """envmon.conf with compose's names and ports replaced by this machine's; each replacement must
    find its text, so a changed envmon.conf fails here rather than being tested half."""
    text = CONF.read_text(encoding="utf-8")
    replacements = [
        ("listen 80 default_server;", f"listen 127.0.0.1:{ports['http']} default_server;"),
        ("listen 443 ssl default_server;", f"listen 127.0.0.1:{ports['https']} ssl default_server;"),
        ("listen 8443 ssl;", f"listen 127.0.0.1:{ports['airflow']} ssl;"),
        ("https://$host:8443$request_uri", f"https://$host:{ports['airflow']}$request_uri"),
        ("/etc/nginx/certs/", f"{certs}/"),
        ("http://dashboard:8050", f"http://127.0.0.1:{ports['app']}"),
        ("http://airflow-apiserver:8080", f"http://127.0.0.1:{ports['airflow_upstream']}"),
        ("http://api:8070", f"http://127.0.0.1:{ports['api_upstream']}"),
    ]
    for old, new in replacements:
        assert old in text, f"{CONF.name} no longer has {old!r}: update tests/test_proxy.py with it"
        text = text.replace(old, new)
    return text


def main_conf(work: Path, server_conf: Path) -> str:
    """What the official image's /etc/nginx/nginx.conf gives around conf.d/default.conf, in `work`."""
    temp = "\n".join(f"    {kind}_temp_path {work / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""user {getpass.getuser()};
daemon off;
worker_processes 1;
pid {work / 'nginx.pid'};
events {{ worker_connections 256; }}
http {{
    access_log {work / 'access.log'};
{temp}
    proxy_bind {PROXY_TO_APP};
    include {server_conf};
}}
"""


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited {process.returncode}:\n{log.read_text(errors='replace')}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nginx did not listen on {port} in {timeout:.0f} s:\n{log.read_text(errors='replace')}")


def run_entrypoint(certs: Path, *command: str, hostname: str = "localhost") -> subprocess.CompletedProcess:
    env = {**os.environ, "ENVMON_TLS_DIR": str(certs), "ENVMON_TLS_HOSTNAME": hostname}
    return subprocess.run(["sh", str(ENTRYPOINT), *command], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    from pipelines import nightly

    nginx = nginx_binary()
    work = tmp_path_factory.mktemp("proxy")
    home, certs = work / "home", work / "certs"
    users_path = home / "users.json"
    users.add_user(users_path, "region", PASSWORD, "regional", "gx-dept")
    settings = load_settings({"ENVMON_HOME": str(home)})
    nightly.prepare_warehouse(settings)
    with ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        patch.setenv("ENVMON_TRUSTED_PROXIES", "1")  # as docker-compose.yml sets it for the app
        app = stack.enter_context(app_fixture.running_dashboard(home, settings.warehouse_url, users_path, "proxy-test"))
        patch.undo()
        ports = {"http": free_port(), "https": free_port(), "airflow": free_port(),
                 "app": int(app.rsplit(":", 1)[1]), "airflow_upstream": echo_server(stack),
                 "api_upstream": echo_server(stack)}
        server_conf = work / "envmon.conf"
        server_conf.write_text(substituted(ports, certs), encoding="utf-8")
        conf = work / "nginx.conf"
        conf.write_text(main_conf(work, server_conf), encoding="utf-8")
        log = work / "nginx.log"
        with open(log, "wb") as out:
            # as the service starts: the entrypoint makes the certificate, then execs nginx
            process = subprocess.Popen(
                ["sh", str(ENTRYPOINT), nginx, "-p", str(work), "-c", str(conf), "-e", "stderr"],
                env={**os.environ, "ENVMON_TLS_DIR": str(certs), "ENVMON_TLS_HOSTNAME": "localhost"},
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        stack.callback(stop, process)
        for port in (ports["http"], ports["https"], ports["airflow"]):
            wait_for_port(port, process, log)
        yield {"ports": ports, "certs": certs, "home": home, "settings": settings, "log": log, "work": work}


def stop(process: subprocess.Popen) -> None:
    """SIGQUIT: nginx's graceful stop; then SIGKILL to the group should it hang."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGQUIT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def https_client(proxy, port_name: str = "https") -> httpx.Client:
    """A browser that trusts the proxy's certificate (and nothing else), from CLIENT."""
    return httpx.Client(base_url=f"https://localhost:{proxy['ports'][port_name]}", timeout=60,
                        transport=httpx.HTTPTransport(local_address=CLIENT,
                                                      verify=str(proxy["certs"] / "fullchain.pem")))


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_plain_http_is_redirected_to_https(proxy, method):
    port = proxy["ports"]["http"]
    for host in (f"127.0.0.1:{port}", "envmon.bureau.example"):
        response = httpx.request(method, f"http://127.0.0.1:{port}/login?next=%2Fsection%2Fx",
                                 headers={"Host": host}, follow_redirects=False, timeout=30)
        # 308: permanent, and a POST stays a POST (no password sent on in the clear, nothing served)
        assert response.status_code == 308, (method, host, response.status_code, response.text[:200])
        assert response.headers["location"] == f"https://{host.split(':')[0]}/login?next=%2Fsection%2Fx"
        assert "password" not in response.text.lower()


def test_plain_http_to_the_airflow_port_is_redirected_to_https(proxy):
    port = proxy["ports"]["airflow"]
    response = httpx.get(f"http://127.0.0.1:{port}/api/v2/dags", follow_redirects=False, timeout=30)
    assert response.status_code == 308, response.text[:200]
    assert response.headers["location"] == f"https://127.0.0.1:{port}/api/v2/dags"


def test_https_serves_the_app_with_hsts_from_the_self_signed_certificate(proxy):
    from cryptography import x509

    with https_client(proxy) as http:
        response = http.get("/login")
    assert response.status_code == 200 and 'name="password"' in response.text
    assert response.headers.get_list("strict-transport-security") == [HSTS]
    certificate = x509.load_pem_x509_certificate((proxy["certs"] / "fullchain.pem").read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert oct((proxy["certs"] / "privkey.pem").stat().st_mode & 0o777) == "0o600"  # the key is nobody else's


def test_the_app_behind_the_proxy_sets_secure_cookies_and_audits_the_clients_address(proxy):
    """The app knows the request came over TLS only from the proxy's X-Forwarded-Proto (nginx
    connects to it in plain HTTP from PROXY_TO_APP): every cookie it sets is Secure, and the audit
    log has the browser's address (X-Forwarded-For), not the proxy's."""
    base = f"https://localhost:{proxy['ports']['https']}"
    with https_client(proxy) as http:
        page = http.get("/login")
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        form.update({"username": "region", "password": PASSWORD})
        signed_in = http.post("/login", data=form, headers={"Referer": f"{base}/login", "Origin": base})
        cookies = page.headers.get_list("set-cookie") + signed_in.headers.get_list("set-cookie")
        assert signed_in.status_code in (302, 303), (signed_in.status_code, signed_in.text[:300])
        assert signed_in.headers["location"] in ("/", f"{base}/"), signed_in.headers["location"]
        assert cookies and all(re.search(r";\s*Secure(;|$)", c, re.I) for c in cookies), cookies
        assert http.get("/").status_code == 200  # the session cookie works over https
    audit = subprocess.run([ENVMON, "users", "audit", "--json"], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "ENVMON_HOME": str(proxy["home"]),
                                "ENVMON_WAREHOUSE_URL": proxy["settings"].warehouse_url})
    assert audit.returncode == 0, audit.stderr
    events = [json.loads(line) for line in audit.stdout.splitlines() if line.startswith("{")]
    signins = [e for e in events if e["user_name"] == "region" and e["event"] == "sign_in"]
    assert signins and {e["address"] for e in signins} == {CLIENT}, events


def test_airflow_and_the_api_are_passed_on_with_the_forwarded_scheme(proxy):
    ports = proxy["ports"]
    with https_client(proxy, "airflow") as http:
        response = http.get("/api/v2/dags?limit=5")
    sent = response.json()
    assert sent["path"] == "/api/v2/dags?limit=5" and sent["client"] == PROXY_TO_APP
    assert sent["headers"]["x-forwarded-proto"] == "https"
    assert sent["headers"]["host"] == f"localhost:{ports['airflow']}"
    assert sent["headers"]["x-forwarded-for"] == CLIENT
    assert response.headers.get_list("strict-transport-security") == [HSTS]  # the proxy's, not the upstream's
    with https_client(proxy) as http:
        sent = http.get("/api/collections").json()
    assert sent["path"] == "/api/collections" and sent["headers"]["x-forwarded-proto"] == "https"


def test_the_certificate_is_made_once_and_a_bureaus_own_is_used_as_mounted(proxy, tmp_path):
    made = {name: (proxy["certs"] / name).read_bytes() for name in ("fullchain.pem", "privkey.pem")}
    again = run_entrypoint(proxy["certs"], "true")
    assert again.returncode == 0, again.stderr
    assert {name: (proxy["certs"] / name).read_bytes() for name in made} == made  # kept across restarts

    bureau = tmp_path / "bureau"
    bureau.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "30", "-subj", "/CN=envmon.bureau.example", "-keyout", str(bureau / "privkey.pem"),
                    "-out", str(bureau / "fullchain.pem")], check=True, capture_output=True)
    own = {name: (bureau / name).read_bytes() for name in made}
    used = run_entrypoint(bureau, "true", hostname="somewhere.else")
    assert used.returncode == 0, used.stderr
    assert {name: (bureau / name).read_bytes() for name in made} == own

    half = tmp_path / "half"
    half.mkdir()
    (half / "fullchain.pem").write_bytes(own["fullchain.pem"])
    refused = run_entrypoint(half, "true")
    assert refused.returncode == 1 and "privkey.pem is missing" in refused.stderr, refused.stderr
    assert not (half / "privkey.pem").exists()
