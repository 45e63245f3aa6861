"""docker-compose.yml cannot be started here (no Docker engine): validate it against the Compose
specification and keep it in step with the code."""
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from dashboards.app import ENV_VARS as DASHBOARD_ENV_VARS
from pipelines.api.access import ENV_VARS as API_ENV_VARS
from pipelines.config import ENV_VARS
from tests.airflow_cluster import CELERY_CONFIG_OPTIONS, FAB_AUTH_MANAGER

ROOT = Path(__file__).resolve().parents[1]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _pins() -> dict[str, str]:
    """pyproject.toml's dependencies as {name (extras dropped): version}."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {re.sub(r"\[.*\]", "", d.split("==")[0]).lower(): d.split("==")[1]
            for d in project["project"]["dependencies"]}


def _airflow_pin():
    return _pins()["apache-airflow"]


def _airflow_services(services):
    return {name: s for name, s in services.items() if "AIRFLOW__CORE__EXECUTOR" in (s.get("environment") or {})}


def _workers(services):
    return {name: s for name, s in services.items()
            if s.get("command") in (["celery", "worker"], "celery worker")}


def test_compose_file_validates_against_the_compose_specification():
    checker = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    result = subprocess.run([checker, "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_the_official_airflow_image_at_the_pinned_version():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^FROM apache/airflow:(\S+)", dockerfile, re.M).group(1)
    assert base == f"{_airflow_pin()}-python3.11"
    assert _airflow_pin() in _compose()["services"]["airflow-scheduler"]["image"]


def test_airflow_3_components_and_the_dashboard_are_services():
    services = _compose()["services"]
    assert {"postgres", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
            "dashboard"} <= set(services)
    commands = {name: services[name].get("command") for name in services}
    assert commands["airflow-apiserver"] == ["api-server", "--proxy-headers"]  # behind the proxy
    assert commands["airflow-dag-processor"] == "dag-processor"


def test_the_environment_variables_match_what_the_code_reads():
    services = _compose()["services"]
    # the workers run the tasks: every setting of the code (the seed is the simulator's, for tests)
    envmon_vars = {k for k in services["airflow-worker"]["environment"] if k.startswith("ENVMON_")}
    assert envmon_vars - {"ENVMON_DASHBOARD_USERS"} == set(ENV_VARS) - {"ENVMON_SIMULATOR_SEED"}  # users: the backup's
    assert services["airflow-worker"]["environment"]["ENVMON_WAREHOUSE_URL"].startswith("postgresql+psycopg://")
    for name, service in services.items():  # nobody is handed a setting the code does not read
        unknown = {k for k in service.get("environment") or {} if k.startswith("ENVMON_")} - set(ENV_VARS)
        if name == "dashboard":  # the app's own settings (dashboards/app)
            unknown -= set(DASHBOARD_ENV_VARS)
        if name in ("airflow-worker", "envmon-restore"):  # the backup copies the users file, the restore writes it
            unknown -= {"ENVMON_DASHBOARD_USERS"}
        if name == "api":  # the open data API's own settings (pipelines/api/access.py)
            unknown -= set(API_ENV_VARS)
        if name == "proxy":  # the ones its entrypoint reads (the certificate)
            unknown -= set(re.findall(r"\$\{(ENVMON_\w+)", (ROOT / "deploy" / "proxy" / "entrypoint.sh").read_text()))
        if name == "airflow-init":  # the role its script grants to (deploy/dashboard-ack-grants.sh)
            unknown -= set(re.findall(r"\$\{(ENVMON_\w+)", (ROOT / "deploy" / "airflow-init.sh").read_text()))
        assert unknown <= {"ENVMON_DB_PASSWORD", "ENVMON_DASHBOARD_DB_PASSWORD", "ENVMON_DASHBOARD_ACK_DB_PASSWORD",
                           "ENVMON_API_DB_PASSWORD"} \
            if name == "postgres" else not unknown, \
            (name, unknown)


def _secrets_of(service: dict) -> set[str]:
    """The .env variables a service's environment is made from: ${NAME...} in its values."""
    names = set()
    for value in (service.get("environment") or {}).values():
        names |= set(re.findall(r"\$\{(\w+)", str(value)))
    return names


SECRETS = {"POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD", "ENVMON_DB_PASSWORD", "ENVMON_DASHBOARD_DB_PASSWORD",
           "ENVMON_SMTP_PASSWORD", "ENVMON_SMTP_USER", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY",
           "ENVMON_DASHBOARD_SECRET_KEY", "AIRFLOW_ADMIN_PASSWORD", "ENVMON_API_DB_PASSWORD",
           "ENVMON_DASHBOARD_ACK_DB_PASSWORD", "ENVMON_STORAGE_SECRET_KEY", "ENVMON_STORAGE_WORKERS_SECRET_KEY",
           "ENVMON_STORAGE_DASHBOARD_SECRET_KEY"}
AIRFLOW_SECRETS = {"AIRFLOW_DB_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"}
# which service may hold which secret, and why
ALLOWED_SECRETS = {
    "postgres": {"POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD", "ENVMON_DB_PASSWORD",  # the superuser; creates the roles
                 "ENVMON_DASHBOARD_DB_PASSWORD", "ENVMON_DASHBOARD_ACK_DB_PASSWORD", "ENVMON_API_DB_PASSWORD"},
    "envmon-restore": {"ENVMON_DB_PASSWORD",                               # restores the warehouse as its owner
                       "ENVMON_STORAGE_WORKERS_SECRET_KEY"},               # and the archive and documents
    "minio": {"ENVMON_STORAGE_SECRET_KEY"},                                # the shared storage itself (root)
    "minio-init": {"ENVMON_STORAGE_SECRET_KEY",                            # as root: the bucket, the policies
                   "ENVMON_STORAGE_WORKERS_SECRET_KEY", "ENVMON_STORAGE_DASHBOARD_SECRET_KEY"},  # and the users
    "airflow-init": AIRFLOW_SECRETS | {"ENVMON_DB_PASSWORD",                # migrates both databases
                                       "ENVMON_STORAGE_WORKERS_SECRET_KEY",          # probes the storage
                                       "ENVMON_SMTP_PASSWORD", "ENVMON_SMTP_USER",   # tests the channels
                                       "AIRFLOW_ADMIN_PASSWORD"},                    # creates the first admin
    "airflow-worker": AIRFLOW_SECRETS | {"ENVMON_DB_PASSWORD", "ENVMON_DASHBOARD_DB_PASSWORD",  # runs the tasks
                                         "ENVMON_STORAGE_WORKERS_SECRET_KEY",      # archives, issues, Data Docs
                                         "ENVMON_SMTP_PASSWORD", "ENVMON_SMTP_USER"},
    "dashboard": {"ENVMON_DASHBOARD_DB_PASSWORD",                            # reads, as the read-only role
                  "ENVMON_DASHBOARD_ACK_DB_PASSWORD",                        # writes its audit log, acknowledges
                  "ENVMON_DASHBOARD_SECRET_KEY",                             # signs its session cookies
                  "ENVMON_STORAGE_DASHBOARD_SECRET_KEY"},                    # reads the documents, Data Docs
    "api": {"ENVMON_API_DB_PASSWORD"},                                      # reads, and logs partner requests
}


def test_each_service_gets_only_its_own_secrets():
    services = _compose()["services"]
    for name, service in services.items():
        allowed = ALLOWED_SECRETS.get(name, AIRFLOW_SECRETS if name.startswith("airflow-") else set())
        extra = (_secrets_of(service) & SECRETS) - allowed
        assert not extra, f"{name} is handed secrets it does not use: {sorted(extra)}"
    # the owner's password and the SMTP password reach the task runners and no Airflow server
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert not _secrets_of(services[name]) & {"ENVMON_DB_PASSWORD", "ENVMON_SMTP_PASSWORD"}, name


def test_the_dashboard_connects_as_the_read_only_role():
    dashboard = _compose()["services"]["dashboard"]["environment"]
    urls = [v for k, v in dashboard.items() if k.endswith("WAREHOUSE_URL")]
    assert len(urls) == 2  # ENVMON_WAREHOUSE_URL too: whatever the dashboard reads, it reads as the reader
    for url in urls:
        user = url.split("://", 1)[1].split(":", 1)[0]
        assert user == "envmon_dashboard" and _secrets_of({"environment": {"url": url}}) == {"ENVMON_DASHBOARD_DB_PASSWORD"}
    # the reader has its own password: no fallback to the owner's, in compose or in the init script
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert ":-${ENVMON_DB_PASSWORD}" not in text
    script = (ROOT / "deploy" / "postgres-init" / "01-envmon.sh").read_text(encoding="utf-8")
    assert "${ENVMON_DASHBOARD_DB_PASSWORD:?" in script and ":-$ENVMON_DB_PASSWORD" not in script


def _interpolated(value: str, env: dict) -> str:
    """A compose value with its ${NAME:?...}/${NAME:-default} filled from env, as compose fills them."""
    def fill(match):
        name, operator, rest = match.group(1), match.group(2), match.group(3)
        if name in env:
            return env[name]
        assert operator == ":-", f"{name} is required and not set"
        return rest
    return re.sub(r"\$\{(\w+)(:\?|:-)?([^}]*)\}", fill, str(value))


def test_the_dashboard_writes_its_audit_log_through_a_role_the_deployment_makes_and_grants():
    """Sign-in answers 503 where the app cannot write security_audit (dashboards/app/signin.py): the
    URL the app takes for it (signin.audit_url_of on the dashboard's own environment) must be a role
    that deploy/postgres-init creates, with its password required from .env, and that the init job
    grants INSERT on security_audit after the migration."""
    from dashboards.app import signin
    from pipelines.config import load_settings

    services = _compose()["services"]
    dot_env = {name: f"{name.lower()}-value" for name in SECRETS}
    environment = {k: _interpolated(v, dot_env) for k, v in services["dashboard"]["environment"].items()}
    audit_url = signin.audit_url_of(environment, load_settings(environment))
    assert audit_url, "the dashboard has no URL to write the security audit log through: sign-in answers 503"
    role = audit_url.split("://", 1)[1].split(":", 1)[0]
    assert role != "envmon_dashboard", "the read-only role cannot write the audit log"
    assert role not in ("envmon", "postgres"), "the dashboard must not hold the owner's or the superuser's password"
    # made on the postgres service's first start, with a password .env must give (no default)
    script = (ROOT / "deploy" / "postgres-init" / "02-dashboard-ack.sh").read_text(encoding="utf-8")
    assert f'ack_role="${{ENVMON_DASHBOARD_ACK_DB_USER:-{role}}}"' in script
    assert "format('CREATE ROLE %I LOGIN PASSWORD %L', :'ack_role', :'ack_password')" in script
    assert "WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'ack_role') \\gexec" in script
    assert "${ENVMON_DASHBOARD_ACK_DB_PASSWORD:?" in script
    assert "${ENVMON_DASHBOARD_ACK_DB_PASSWORD:?" in services["postgres"]["environment"]["ENVMON_DASHBOARD_ACK_DB_PASSWORD"]
    assert "${ENVMON_DASHBOARD_ACK_DB_PASSWORD:?" in services["dashboard"]["environment"]["ENVMON_DASHBOARD_AUDIT_URL"]
    # granted by the owner after the migration: the init job names the role and runs the grants
    assert services["airflow-init"]["environment"]["ENVMON_DASHBOARD_ACK_DB_USER"] == role
    steps = [line.strip() for line in (ROOT / "deploy" / "airflow-init.sh").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    migrate = steps.index("python -c 'from pipelines.nightly import prepare_warehouse; print(prepare_warehouse())'")
    assert steps[migrate + 1:migrate + 4] == ['if [ -n "${ENVMON_DASHBOARD_ACK_DB_USER:-}" ]; then',
                                                'bash "$here/dashboard-ack-grants.sh"', "fi"]
    grants = (ROOT / "deploy" / "dashboard-ack-role.sql").read_text(encoding="utf-8")
    assert 'GRANT SELECT, INSERT ON security_audit TO :"ack_role";' in grants
    assert 'GRANT USAGE ON SEQUENCE security_audit_event_id_seq TO :"ack_role";' in grants
    assert "dashboard-ack-role.sql" in (ROOT / "deploy" / "dashboard-ack-grants.sh").read_text(encoding="utf-8")


def test_the_api_reads_through_a_role_the_deployment_makes_and_grants():
    """The open data API reads and logs partner requests as the role in its URL: a role that
    deploy/postgres-init creates on the postgres service's first start, with its password required
    from .env, and that the init job grants (deploy/api-role.sql) after every migration, before the
    api service starts. tests/test_api.py runs the two scripts against PostgreSQL."""
    services = _compose()["services"]
    dot_env = {name: f"{name.lower()}-value" for name in SECRETS}
    url = _interpolated(services["api"]["environment"]["ENVMON_API_WAREHOUSE_URL"], dot_env)
    role = url.split("://", 1)[1].split(":", 1)[0]
    assert role not in ("envmon", "postgres", "envmon_dashboard", "envmon_dashboard_ack"), role
    assert _secrets_of({"environment": {"url": services["api"]["environment"]["ENVMON_API_WAREHOUSE_URL"]}}) \
        == {"ENVMON_API_DB_PASSWORD"}
    # made on the postgres service's first start, with a password .env must give (no default)
    assert "./deploy/postgres-init:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]
    script = (ROOT / "deploy" / "postgres-init" / "03-api.sh").read_text(encoding="utf-8")
    assert f'api_role="${{ENVMON_API_DB_USER:-{role}}}"' in script
    assert "format('CREATE ROLE %I LOGIN PASSWORD %L', :'api_role', :'api_password')" in script \
        and "WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'api_role') \\gexec" in script \
        and "${ENVMON_API_DB_PASSWORD:?" in script  # made only where missing: tests/test_api.py runs it twice
    assert "${ENVMON_API_DB_PASSWORD:?" in services["postgres"]["environment"]["ENVMON_API_DB_PASSWORD"]
    # granted by the owner after the migration: the init job names the role and runs the grants
    assert services["airflow-init"]["environment"]["ENVMON_API_DB_USER"] == role
    steps = [line.strip() for line in (ROOT / "deploy" / "airflow-init.sh").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    migrate = steps.index("python -c 'from pipelines.nightly import prepare_warehouse; print(prepare_warehouse())'")
    grant = steps.index('bash "$here/api-grants.sh"')
    assert grant > migrate and steps[grant - 1:grant + 2] == ['if [ -n "${ENVMON_API_DB_USER:-}" ]; then',
                                                              'bash "$here/api-grants.sh"', "fi"]
    assert "api-role.sql" in (ROOT / "deploy" / "api-grants.sh").read_text(encoding="utf-8")
    grants = (ROOT / "deploy" / "api-role.sql").read_text(encoding="utf-8")
    assert 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"api_role";' in grants
    assert 'GRANT INSERT ON api_access_log TO :"api_role";' in grants
    assert "\nENVMON_API_DB_PASSWORD=\n" in (ROOT / ".env.example").read_text(encoding="utf-8")
    # the api starts once the init job has granted
    assert services["api"]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_env_files_stay_out_of_git_and_out_of_the_image():
    for ignore in (".gitignore", ".dockerignore"):
        patterns = (ROOT / ignore).read_text(encoding="utf-8").split()
        assert ".env" in patterns, ignore
    # the Dockerfile copies the tree, so .dockerignore is what keeps .env out of the image
    assert re.search(r"^COPY .* \. /opt/envmon-src$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.M)
    assert ".envmon" in (ROOT / ".dockerignore").read_text(encoding="utf-8").split()  # the local warehouse


def test_no_secret_is_written_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for line in text.splitlines():
        if re.search(r"(PASSWORD|SECRET|FERNET_KEY)\w*:\s*\S", line) and "${" not in line:
            raise AssertionError(f"literal secret in docker-compose.yml: {line.strip()}")


def test_airflow_runs_the_celery_executor_on_redis_with_at_least_two_workers():
    services = _compose()["services"]
    airflow = _airflow_services(services)
    assert {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
            "airflow-worker"} <= set(airflow)
    for name, service in airflow.items():
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        assert "${AIRFLOW_JWT_SECRET" in env["AIRFLOW__API_AUTH__JWT_SECRET"], name
    assert "redis" in services and services["redis"]["image"].startswith("redis:")
    assert "healthcheck" in services["redis"]
    assert services["airflow-scheduler"]["depends_on"]["redis"]["condition"] == "service_healthy"
    workers = _workers(services)
    assert sum(w.get("deploy", {}).get("replicas", 1) for w in workers.values()) >= 2
    for name, worker in workers.items():
        assert worker["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name
        assert "ports" not in worker and "container_name" not in worker, name  # replicas need neither
    # the Celery configuration with the worker preload, as tests/test_airflow_deployment.py runs it
    assert {s["environment"]["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] for s in airflow.values()} == {CELERY_CONFIG_OPTIONS}
    module, _, name = CELERY_CONFIG_OPTIONS.rpartition(".")
    config = getattr(importlib.import_module(module), name)
    assert config["imports"] and all(importlib.util.find_spec(m) for m in config["imports"])


def test_database_urls_use_the_driver_pyproject_pins():
    pins = _pins()
    assert "psycopg" in pins and "psycopg2" not in pins and "psycopg2-binary" not in pins and "asyncpg" not in pins
    assert pins["celery"] == "5.6.3"  # 5.7.0 breaks the scheduler and the worker (stack-notes)
    assert "apache-airflow-providers-celery" in pins
    assert importlib.util.find_spec("asyncpg") is None  # the async URL below must not need it
    for name, service in _airflow_services(_compose()["services"]).items():
        env = service["environment"]
        metadata = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert metadata.startswith("postgresql+psycopg://") and metadata.endswith("@postgres:5432/airflow"), name
        # without it Airflow derives a postgresql+asyncpg URL, and asyncpg is not installed
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == metadata, name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + metadata, name
        assert env.get("ENVMON_WAREHOUSE_URL", "postgresql+psycopg://").startswith("postgresql+psycopg://"), name


def test_the_init_job_migrates_both_databases_and_imports_the_pools():
    services = _compose()["services"]
    init = services["airflow-init"]
    assert init["restart"] == "no" and init["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert init["command"] == ["bash", "/opt/envmon-src/deploy/airflow-init.sh"]  # the Dockerfile copies the tree there
    assert re.search(r"^COPY .* \. /opt/envmon-src$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.M)
    script = (ROOT / "deploy" / "airflow-init.sh").read_text(encoding="utf-8")
    steps = [line.strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "airflow db migrate" in steps
    assert "python -c 'from pipelines.nightly import prepare_warehouse; print(prepare_warehouse())'" in steps
    assert any(step.startswith("airflow pools import") and "airflow-pools.json" in step for step in steps)
    # the last step: in live mode a test message through every channel, the init failing without them
    assert steps[-1] == "envmon alerts check-channels" and "set -euo pipefail" in steps
    assert {"ENVMON_SOURCE_MODE", "ENVMON_CNEMC_WATER_URL", "ENVMON_CNEMC_AIR_URL", "ENVMON_SMTP_HOST",
            "ENVMON_ALERT_ROUTING"} <= set(init["environment"])
    # the read-only role comes from deploy/postgres-init on the postgres service's first start
    assert "./deploy/postgres-init:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]
    assert "CREATE ROLE :\"reader\"" in (ROOT / "deploy" / "postgres-init" / "01-envmon.sh").read_text(encoding="utf-8")


def test_the_pools_file_holds_the_pool_the_collection_dags_use():
    pools = json.loads((ROOT / "deploy" / "airflow-pools.json").read_text(encoding="utf-8"))
    used = set(re.findall(r'^CNEMC_POOL = "(\w+)"', (ROOT / "dags" / "envmon_collect.py").read_text(encoding="utf-8"), re.M))
    assert used and used <= set(pools)
    for name, pool in pools.items():
        assert isinstance(pool["slots"], int) and pool["slots"] >= 1 and pool["description"], name


def test_task_logs_and_envmon_home_are_shared_volumes():
    services = _compose()["services"]
    for name, service in _airflow_services(services).items():
        assert "airflow-logs:/opt/airflow/logs" in service["volumes"], name
        assert "envmon-home:/opt/envmon" in service["volumes"], name
    assert "envmon-home:/opt/envmon:ro" in services["dashboard"]["volumes"]


ALERT_SECRETS_FILE = ".env.alerts"
# the components that send alerts: the channel check at start, the tasks and their failure callbacks
# (the dag-processor runs those of tasks that died outside their process)
ALERT_SENDERS = {"airflow-init", "airflow-worker", "airflow-scheduler", "airflow-dag-processor"}


def _env_files(service: dict) -> list[str]:
    files = service.get("env_file") or []
    return [f if isinstance(f, str) else f["path"] for f in ([files] if isinstance(files, (str, dict)) else files)]


def test_every_secret_the_routing_names_reaches_the_workers_and_the_scheduler():
    """alert_routing.toml names its secrets as env:NAME; each is documented in .env.alerts.example,
    and that file is handed whole (env_file) to the components that send, and to no other."""
    from pipelines.alerts.routing import DEFAULT_FILE

    routing = tomllib.loads(DEFAULT_FILE.read_text(encoding="utf-8"))
    named = {value.removeprefix("env:") for entry in routing["recipients"] + routing["operators"]
             for value in entry.values() if isinstance(value, str) and value.startswith("env:")}
    assert {"ENVMON_WECOM_KEY_YULIN", "ENVMON_DINGTALK_SECRET_FANGCHENGGANG", "ENVMON_WEBHOOK_SECRET_GX"} <= named
    example = (ROOT / ".env.alerts.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^(\w+)=", example, re.M))
    assert named | {"AIRFLOW_CONN_ENVMON_OPERATORS"} <= documented, sorted(named - documented)
    services = _compose()["services"]
    for name, service in services.items():
        handed = ALERT_SECRETS_FILE in _env_files(service)
        assert handed == (name in ALERT_SENDERS), name
    # the simulated default starts without the file; live mode is refused by the init's check instead
    assert services["airflow-worker"]["env_file"] == [{"path": ALERT_SECRETS_FILE, "required": False}]
    # never committed nor in the image (".env.*"), the example excepted
    import fnmatch

    for ignore in (".gitignore", ".dockerignore"):
        patterns = (ROOT / ignore).read_text(encoding="utf-8").split()
        assert any(fnmatch.fnmatch(ALERT_SECRETS_FILE, p) for p in patterns if not p.startswith("!")), ignore
    assert "!.env.alerts.example" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


# ---- production sign-in and TLS (issue 24) --------------------------------------------------------

PROXY_CONF = ROOT / "deploy" / "proxy" / "envmon.conf"


def _proxy_servers() -> list[dict]:
    """deploy/proxy/envmon.conf's server blocks: their listen lines, return and proxy_pass targets."""
    text = re.sub(r"#.*", "", PROXY_CONF.read_text(encoding="utf-8"))
    servers = []
    for block in re.split(r"\bserver\s*\{", text)[1:]:
        servers.append({"listen": re.findall(r"^\s*listen\s+([^;]+);", block, re.M),
                        "return": re.findall(r"^\s*return\s+([^;]+);", block, re.M),
                        "upstreams": re.findall(r"^\s*set\s+\$\w+\s+(http://[^;]+);", block, re.M)})
    return servers


def test_only_the_proxy_is_published_and_only_tls_is_served():
    services = _compose()["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert set(published) == {"proxy"}, f"published besides the proxy: {sorted(set(published) - {'proxy'})}"
    ports = {int(str(p).split(":")[-1]) for p in published["proxy"]}
    servers = _proxy_servers()
    listening = {int(listen.split()[0].rsplit(":", 1)[-1]): listen for server in servers for listen in server["listen"]}
    assert ports == set(listening), (ports, listening)
    for server in servers:
        tls = all(" ssl" in listen for listen in server["listen"])
        # a server without TLS serves nothing: it redirects every request to https
        assert tls or server["return"] == ["308 https://$host$request_uri"], server
    assert [p for p, listen in listening.items() if " ssl" not in listen] == [80]
    conf = PROXY_CONF.read_text(encoding="utf-8")
    assert re.search(r"^ssl_protocols TLSv1\.2 TLSv1\.3;$", conf, re.M)
    assert conf.count('add_header Strict-Transport-Security "max-age=31536000" always;') == 2  # both TLS servers
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in conf


def test_the_proxy_reaches_the_app_and_airflow_on_their_ports():
    services = _compose()["services"]
    upstreams = {u for server in _proxy_servers() for u in server["upstreams"]}
    assert {"http://dashboard:8050", "http://airflow-apiserver:8080"} <= upstreams
    assert "--port 8050" in " ".join(services["dashboard"]["command"])
    # the api-server listens on 8080 (Airflow's default), where the workers' execution API is too
    env = services["airflow-apiserver"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    for upstream in upstreams - {"http://api:8070"}:  # the open data API's service comes with issue 26
        assert upstream.split("//")[1].split(":")[0] in services, upstream
    # the app and the api-server trust the proxy's X-Forwarded-Proto
    assert services["dashboard"]["environment"]["ENVMON_TRUSTED_PROXIES"] == "1"
    assert env["FORWARDED_ALLOW_IPS"] == "*"
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:") and proxy["entrypoint"] == ["sh", "/opt/envmon-proxy/entrypoint.sh"]
    assert "./deploy/proxy/envmon.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]
    assert "./deploy/proxy/entrypoint.sh:/opt/envmon-proxy/entrypoint.sh:ro" in proxy["volumes"]
    # the self-signed certificate's volume, or the bureau's own directory (read-only)
    assert "${ENVMON_TLS_CERTS:-proxy-certs}:/etc/nginx/certs${ENVMON_TLS_CERTS:+:ro}" in proxy["volumes"]
    assert "proxy-certs" in _compose()["volumes"]
    assert "/etc/nginx/certs/fullchain.pem" in PROXY_CONF.read_text(encoding="utf-8")


def test_every_airflow_component_signs_in_with_fab_and_the_init_makes_the_admin():
    services = _compose()["services"]
    for name, service in _airflow_services(services).items():
        assert service["environment"]["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER, name
    assert "apache-airflow-providers-fab" in _pins()
    module, _, name = FAB_AUTH_MANAGER.rpartition(".")
    assert hasattr(importlib.import_module(module), name)
    init = services["airflow-init"]["environment"]
    # the password from .env, required, never a default in the repository
    assert init["_AIRFLOW_WWW_USER_PASSWORD"] == "${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD in .env}"
    assert init["_AIRFLOW_WWW_USER_USERNAME"].startswith("${AIRFLOW_ADMIN_USERNAME")
    admin_vars = {"_AIRFLOW_WWW_USER_USERNAME", "_AIRFLOW_WWW_USER_PASSWORD"}
    assert not [n for n, s in services.items() if n != "airflow-init" and admin_vars & set(s.get("environment") or {})]
    script = (ROOT / "deploy" / "airflow-init.sh").read_text(encoding="utf-8")
    assert re.search(r"airflow users create --role=Admin .*\n.*--password=\"\$_AIRFLOW_WWW_USER_PASSWORD\"", script)
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert re.search(r"^AIRFLOW_ADMIN_PASSWORD=$", example, re.M)  # documented, left empty


def test_airflow_metadata_has_a_database_and_a_role_of_its_own():
    """Not the server's superuser nor the warehouse's database: the superuser's password stays in the
    postgres service, and deploy/postgres-init/00-airflow.sh makes Airflow's role and database."""
    services = _compose()["services"]
    assert services["postgres"]["environment"]["POSTGRES_USER"] == "postgres"
    for name, service in services.items():
        assert "POSTGRES_PASSWORD" not in _secrets_of(service) or name == "postgres", name
    for name, service in _airflow_services(services).items():
        metadata = service["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert metadata.split("://", 1)[1].startswith("airflow:${AIRFLOW_DB_PASSWORD"), name
    script = (ROOT / "deploy" / "postgres-init" / "00-airflow.sh").read_text(encoding="utf-8")
    assert 'CREATE DATABASE :"db_name" OWNER :"owner"' in script


def test_the_daily_backup_runs_on_the_workers_into_a_volume_of_its_own():
    services = _compose()["services"]
    for name in ("airflow-worker", "airflow-dag-processor"):  # runs it; parses the DAG, which exists where the folder is set
        assert services[name]["environment"]["ENVMON_BACKUP_DIR"] == "/opt/envmon-backups", name
    worker = services["airflow-worker"]
    assert "envmon-backups:/opt/envmon-backups" in worker["volumes"]
    # the users file it copies, read-only, where the dashboard keeps it
    assert "dashboard-users:/opt/envmon-dashboard:ro" in worker["volumes"]
    assert worker["environment"]["ENVMON_DASHBOARD_USERS"] == services["dashboard"]["environment"]["ENVMON_DASHBOARD_USERS"]
    restore = services["envmon-restore"]
    assert restore["profiles"] == ["restore"] and "envmon-backups:/opt/envmon-backups:ro" in restore["volumes"]
    assert "envmon-backups" in _compose()["volumes"]
    # pg_dump of the server's major version in the image (an older one refuses a newer server)
    major = services["postgres"]["image"].split(":")[1].split(".")[0]
    assert f"postgresql-client-{major}" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


# ---- watching it (issue 25) -----------------------------------------------------------------------

ONE_SHOT = {"airflow-init", "envmon-restore", "minio-init"}  # jobs that run and exit: nothing to watch


def _healthcheck(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test[1:]) if isinstance(test, list) else test


def test_every_long_running_service_has_a_real_healthcheck():
    services = _compose()["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no" and "healthcheck" not in service, name
            continue
        assert "healthcheck" in service and not service["healthcheck"].get("disable"), f"{name} has no healthcheck"
    checks = {name: _healthcheck(s) for name, s in services.items() if name not in ONE_SHOT}
    assert checks["airflow-scheduler"] == "airflow jobs check --job-type SchedulerJob --local"
    assert checks["airflow-triggerer"] == "airflow jobs check --job-type TriggererJob --local"
    assert checks["airflow-dag-processor"] == "airflow jobs check --job-type DagProcessorJob --local"
    assert checks["airflow-worker"] == ("celery --app airflow.providers.celery.executors.celery_executor.app "
                                        'inspect ping -d "celery@$${HOSTNAME}"')  # $$: compose's escape of $
    assert checks["airflow-apiserver"].endswith("http://localhost:8080/api/v2/monitor/health")
    assert "/healthz" in checks["dashboard"]
    # each command is what Airflow 3.3 offers: its CLI's job types, the Celery app, the health route
    from airflow.cli.cli_config import ARG_JOB_TYPE_FILTER
    from airflow.api_fastapi.core_api.routes.public.monitor import monitor_router

    assert {"SchedulerJob", "TriggererJob", "DagProcessorJob"} <= set(ARG_JOB_TYPE_FILTER.kwargs["choices"])
    module, _, app = "airflow.providers.celery.executors.celery_executor.app".rpartition(".")
    assert type(getattr(importlib.import_module(module), app)).__name__ == "Celery"
    assert "/monitor/health" in {route.path for route in monitor_router.routes}


def test_airflow_sends_its_metrics_to_the_statsd_exporter_which_prometheus_scrapes_with_envmon():
    services = _compose()["services"]
    exporter = services["statsd-exporter"]
    assert exporter["image"].startswith("prom/statsd-exporter:")
    assert "--statsd.listen-udp=:9125" in exporter["command"]
    assert "./deploy/statsd/mapping.yml:/etc/statsd/mapping.yml:ro" in exporter["volumes"]
    for name, service in _airflow_services(services).items():
        env = service["environment"]
        assert (env["AIRFLOW__METRICS__STATSD_ON"], env["AIRFLOW__METRICS__STATSD_HOST"],
                env["AIRFLOW__METRICS__STATSD_PORT"]) == ("True", "statsd-exporter", "9125"), name
        assert env["AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED"] == "True", name  # tags become labels
    assert "statsd" in _pins()  # Airflow's statsd_on imports it
    mapping = yaml.safe_load((ROOT / "deploy" / "statsd" / "mapping.yml").read_text(encoding="utf-8"))
    assert mapping["defaults"]["observer_type"] == "histogram"
    prometheus = services["prometheus"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {job["job_name"]: (job.get("metrics_path", "/metrics"), job["static_configs"][0]["targets"])
               for job in config["scrape_configs"]}
    assert targets == {"envmon": ("/metrics", ["dashboard:8050"]), "airflow": ("/metrics", ["statsd-exporter:9102"])}
    assert "--port 8050" in " ".join(services["dashboard"]["command"])
    assert not exporter.get("ports") and not prometheus.get("ports")  # neither is published


def test_the_shared_storage_is_a_pinned_minio_every_service_that_reads_or_writes_it_reaches():
    """Issue 25: the archive, the issued documents and the Data Docs in one S3-compatible store
    (pipelines/storage.py): the workers write them, the init job probes the bucket, the dashboard
    serves them, the restore writes them back; the keys come from .env, never the file."""
    services = _compose()["services"]
    minio = services["minio"]
    assert re.fullmatch(r"minio/minio:RELEASE\.\d{4}-\d\d-\d\dT[\dZ-]+", minio["image"])   # a pinned release
    assert "ports" not in minio and "healthcheck" in minio
    for name in ("airflow-worker", "airflow-init", "dashboard", "envmon-restore"):
        environment = services[name]["environment"]
        assert environment["ENVMON_STORAGE_URL"].endswith("s3://envmon}"), name
        assert "http://minio:9000" in environment["ENVMON_STORAGE_ENDPOINT_URL"], name
        # after minio-init has made the bucket and the users (so after minio is healthy)
        assert services[name]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully", name
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-triggerer", "api", "proxy"):
        assert "ENVMON_STORAGE_URL" not in (services[name].get("environment") or {}), name
    assert "ENVMON_DATA_DOCS_DIR" not in (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "storage.prepare" in (ROOT / "deploy" / "airflow-init.sh").read_text(encoding="utf-8")
    assert "ENVMON_STORAGE_SECRET_KEY=" in (ROOT / ".env.example").read_text(encoding="utf-8")


MINIO_READ_ACTIONS = {"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"}


def _policy(name: str) -> list[dict]:
    document = json.loads((ROOT / "deploy" / "minio" / f"{name}-policy.json").read_text(encoding="utf-8"))
    assert document["Version"] == "2012-10-17"
    assert all(statement["Effect"] == "Allow" for statement in document["Statement"])
    return document["Statement"]


def test_no_service_but_minio_and_its_init_holds_the_storage_root_and_the_dashboard_only_reads():
    """Least privilege on the shared storage: MinIO's root user stays with minio and minio-init, which
    makes (as root, after minio is healthy) the bucket, then a read-write user for the workers, the
    init job and the restore and a read-only one for the internet-facing dashboard (data_docs/ and
    reports/ only); each service reaches the store as its own user, with a secret .env must give."""
    services = _compose()["services"]
    root_password = services["minio"]["environment"]["MINIO_ROOT_PASSWORD"]
    root_user = services["minio"]["environment"]["MINIO_ROOT_USER"]
    dot_env = {name: f"{name.lower()}-value" for name in SECRETS}
    holders = {name for name, service in services.items() if "ENVMON_STORAGE_SECRET_KEY" in _secrets_of(service)}
    assert holders == {"minio", "minio-init"}, holders
    init = services["minio-init"]
    assert re.fullmatch(r"minio/mc:RELEASE\.\d{4}-\d\d-\d\dT[\dZ-]+", init["image"])   # a pinned release
    assert init["depends_on"] == {"minio": {"condition": "service_healthy"}} and init["restart"] == "no"
    assert init["environment"]["MINIO_ROOT_PASSWORD"] == root_password
    assert init["environment"]["MINIO_ROOT_USER"] == root_user
    assert "./deploy/minio:/opt/envmon-minio:ro" in init["volumes"]
    assert init["entrypoint"] == ["/bin/sh", "/opt/envmon-minio/minio-init.sh"]
    users = {"workers": ("WORKERS", ("airflow-worker", "airflow-init", "envmon-restore")),
             "dashboard": ("DASHBOARD", ("dashboard",))}
    for policy, (prefix, clients) in users.items():
        secret = f"ENVMON_STORAGE_{prefix}_SECRET_KEY"
        assert init["environment"][f"{prefix}_SECRET_KEY"] == f"${{{secret}:?set {secret} in .env}}"  # required
        assert f"\n{secret}=\n" in (ROOT / ".env.example").read_text(encoding="utf-8")
        for name in clients:
            environment = services[name]["environment"]
            assert environment["AWS_SECRET_ACCESS_KEY"] == init["environment"][f"{prefix}_SECRET_KEY"], name
            assert environment["AWS_ACCESS_KEY_ID"] == init["environment"][f"{prefix}_ACCESS_KEY"], name
            assert environment["AWS_SECRET_ACCESS_KEY"] != root_password, name
            assert _interpolated(environment["AWS_ACCESS_KEY_ID"], dot_env) != _interpolated(root_user, dot_env), name
    # the script: the bucket first, then the policies, then the users with them
    script = [line.strip() for line in (ROOT / "deploy" / "minio" / "minio-init.sh").read_text(encoding="utf-8")
              .splitlines() if line.strip().startswith("mc ")]
    bucket = script.index('mc mb --ignore-existing "storage/$bucket"')
    assert 'bucket=envmon' in (ROOT / "deploy" / "minio" / "minio-init.sh").read_text(encoding="utf-8")
    for policy, (prefix, _clients) in users.items():
        create = script.index(f'mc admin policy create storage envmon-{policy} "$here/{policy}-policy.json"')
        add = script.index(f'mc admin user add storage "${prefix}_ACCESS_KEY" "${prefix}_SECRET_KEY"')
        attach = script.index(f'mc admin policy attach storage envmon-{policy} --user "${prefix}_ACCESS_KEY"')
        assert bucket < create < attach and add < attach
    # the workers: objects of the bucket envmon, nothing else (no other bucket, no admin action)
    for statement in _policy("workers"):
        assert all(r in ("arn:aws:s3:::envmon", "arn:aws:s3:::envmon/*") for r in statement["Resource"]), statement
        assert all(a.startswith("s3:") and "*" not in a for a in statement["Action"]), statement
    assert {"s3:PutObject", "s3:DeleteObject", "s3:GetObject", "s3:ListBucket"} \
        <= {a for st in _policy("workers") for a in st["Action"]}
    # the dashboard: reads and lists, under data_docs/ and reports/ only
    for statement in _policy("dashboard"):
        assert set(statement["Action"]) <= MINIO_READ_ACTIONS, statement   # no Put, Delete, no wildcard
        if "s3:GetObject" in statement["Action"]:
            assert statement["Resource"] == ["arn:aws:s3:::envmon/data_docs/*", "arn:aws:s3:::envmon/reports/*"]
        if "s3:ListBucket" in statement["Action"]:
            assert statement.get("Condition") == {"StringLike": {"s3:prefix": ["data_docs/*", "reports/*"]}}
    assert {a for st in _policy("dashboard") for a in st["Action"]} == MINIO_READ_ACTIONS
    # the prefixes the dashboard reads are the ones pipelines/storage.py names
    from pipelines import storage

    assert {storage.DATA_DOCS, storage.REPORTS} == {"data_docs", "reports"}


def test_the_storage_policies_let_each_user_do_its_work_and_no_more_on_a_real_s3_endpoint(tmp_path, monkeypatch):
    """deploy/minio/*-policy.json enforced by moto's S3 server (IAM on, a real HTTP endpoint; no MinIO
    here), through pipelines/storage.py as the services use it: the dashboard's user reads and lists the
    Data Docs and the issued documents and may not write, delete or read the payload archive; the
    workers' user prepares, writes, lists and removes in the bucket and may not make another bucket.
    (moto does not evaluate the s3:prefix condition of the dashboard's listing: the test above checks it.)"""
    import logging

    import boto3
    import moto.settings
    import s3fs
    from moto.server import ThreadedMotoServer

    from pipelines import storage
    from pipelines.config import load_settings
    from pipelines.quality.data_docs import served

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    enforced_from = moto.settings.INITIAL_NO_AUTH_ACTION_COUNT
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        admin = {"aws_access_key_id": "root", "aws_secret_access_key": "root-secret", "region_name": "us-east-1",
                 "endpoint_url": endpoint}
        s3, iam = boto3.client("s3", **admin), boto3.client("iam", **admin)
        s3.create_bucket(Bucket="envmon")  # as minio-init does, as root
        for key in ("data_docs/index.html", "data_docs/2026-11-01/validation.html",
                    "reports/bulletins/2026-11/manifest.json", "archive/cnemc-water/2026/11/a.gz"):
            s3.put_object(Bucket="envmon", Key=key, Body=b"{}")
        keys = {}
        for user in ("workers", "dashboard"):
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName=f"envmon-{user}",
                                PolicyDocument=(ROOT / "deploy" / "minio" / f"{user}-policy.json").read_text())
            created = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = (created["AccessKeyId"], created["SecretAccessKey"])
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # every request from here is checked against IAM
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

        def as_user(user):
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys[user][0])
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys[user][1])
            storage._filesystem.cache_clear()
            s3fs.S3FileSystem.clear_instance_cache()
            return storage.Storage("s3://envmon", endpoint)

        def denied(action):
            try:
                action()
            except PermissionError:
                return True
            return False

        dashboard = as_user("dashboard")
        assert dashboard.read("data_docs/index.html") == b"{}"
        assert dashboard.keys("data_docs") == ["data_docs/2026-11-01/validation.html", "data_docs/index.html"]
        assert [p.name for p in (storage.reports_root(dashboard) / "bulletins").glob("*/manifest*.json")] \
            == ["manifest.json"]  # as the Documents page lists the issues
        assert served(dashboard, "index.html") == b"{}" and served(dashboard, "missing.html") is None
        assert denied(lambda: dashboard.read("archive/cnemc-water/2026/11/a.gz"))
        assert denied(lambda: dashboard.write("reports/bulletins/2026-11/forged.pdf", b"x"))
        assert denied(lambda: dashboard.write("data_docs/index.html", b"x"))
        assert denied(lambda: dashboard.remove("data_docs/index.html"))

        workers = as_user("workers")
        settings = load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_STORAGE_URL": "s3://envmon",
                                  "ENVMON_STORAGE_ENDPOINT_URL": endpoint})
        assert storage.prepare(settings) == "shared storage ready: s3://envmon/"  # the init job's probe
        workers.write("archive/cnemc-water/2026/11/b.gz", b"payload")
        assert workers.read("archive/cnemc-water/2026/11/b.gz") == b"payload"
        assert workers.keys("archive") == ["archive/cnemc-water/2026/11/a.gz", "archive/cnemc-water/2026/11/b.gz"]
        workers.remove("archive/cnemc-water/2026/11/b.gz")
        assert not workers.exists("archive/cnemc-water/2026/11/b.gz")
        assert denied(lambda: workers.fs.mkdir("another-bucket"))
    finally:
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = enforced_from
        storage._filesystem.cache_clear()
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def test_every_container_log_is_rotated_by_size_with_settings():
    """The containers' own output (the scheduler's, the workers', nginx's...) is Docker's json-file log,
    unbounded unless rotated: each service keeps CONTAINER_LOG_FILES files of CONTAINER_LOG_MAX_SIZE."""
    for name, service in _compose()["services"].items():
        logging = service.get("logging") or {}
        assert logging.get("driver") == "json-file", f"{name}: no rotated log"
        assert logging["options"] == {"max-size": "${CONTAINER_LOG_MAX_SIZE:-20m}",
                                      "max-file": "${CONTAINER_LOG_FILES:-5}"}, name
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "CONTAINER_LOG_MAX_SIZE" in readme and "CONTAINER_LOG_FILES" in readme
