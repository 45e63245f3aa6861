"""A real Airflow 3 deployment on this machine, for tests/test_airflow_deployment.py and
bench/scheduler_day.py: `airflow api-server`, `scheduler`, `dag-processor` and, with the
CeleryExecutor, `airflow celery worker`s on the local Redis. Airflow's metadata and envmon's
warehouse live in two databases of their own on the local PostgreSQL, created fresh and dropped at
the end; AIRFLOW_HOME, the logs and each worker's ENVMON_HOME are in a work directory; the DAGs
folder is the project's dags/. The init is deploy/airflow-init.sh, the script docker-compose.yml
runs. Airflow's auth manager is FAB's, as in docker-compose.yml; with `make_admin` the init creates
an admin with a password made for this cluster (one more Airflow CLI process, 10-20 s here, so only
where a test signs in), and `api()` / `api_token()` call the REST API with or without a token from
FAB's /auth/token.

Every process starts in a process group of its own and is stopped through its pid (the group's
id) when the cluster closes, also when a test fails. Every wait has a deadline, and a wait for a
run fails at once when one of its tasks fails or goes up for retry (the DAG's default_args retry
after 5 minutes), with the tail of the components' logs and the failed tasks' logs in the message.

Only the standard library at import time: the workers import `worker_hostname` from here.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get("ENVMON_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ENVMON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DAG_ID = "envmon_nightly"
BAD_TASK_STATES = {"failed", "up_for_retry", "upstream_failed", "removed"}
# The worker preload (pipelines/worker_preload.py: pandas, the pipeline, Great Expectations with its
# suites), imported once by the process that task processes are forked from. Celery: the Celery
# configuration docker-compose.yml sets (tests/test_compose.py holds the two together), whose
# `imports` the worker loads before it forks its pool. LocalExecutor: the scheduler's executor
# workers come from a forkserver that imports it first, with the executor's and the task runner's
# own modules (without those each new executor worker spent 1.5-2.5 s importing them, measured).
CELERY_CONFIG_OPTIONS = "pipelines.celery_config.CELERY_CONFIG"
# Airflow's production auth manager (apache-airflow-providers-fab), as docker-compose.yml sets it
# (tests/test_compose.py holds the two together); SimpleAuthManager is for development only.
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
LOCAL_EXECUTOR_PRELOAD = {
    "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
    "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": ",".join((
        "airflow.executors.local_executor", "airflow.sdk.execution_time.supervisor",
        "airflow.sdk.execution_time.task_runner", "pipelines.worker_preload")),
}


def worker_hostname() -> str:
    """`core.hostname_callable` of the test's Celery workers: the name each was started under, so
    that a task instance's `hostname` tells the two workers on this one machine apart."""
    return os.environ.get("ENVMON_TEST_WORKER_HOSTNAME") or socket.getfqdn()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"({error})"
    return "\n".join(text.splitlines()[-lines:])


def readable_task_log(path: Path, lines: int = 60) -> str:
    """The last lines of an Airflow 3 task log (JSON lines) as text: time, level, event, and an
    exception's type, message and innermost frames."""
    out = []
    for line in tail(path, lines).splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        if not isinstance(record, dict):
            out.append(line)
            continue
        out.append(f"{record.get('timestamp', '')[11:23]} {record.get('level', ''):7} {record.get('event', '')}")
        for error in record.get("error_detail") or []:
            frames = error.get("frames") or []
            out.extend(f"    {f.get('filename')}:{f.get('lineno')} in {f.get('name')}" for f in frames[-6:])
            out.append(f"    {error.get('exc_type')}: {error.get('exc_value')}")
    return "\n".join(out)


def last_json_line(output: str):
    """`airflow ... -o json` prints warnings before its JSON: the JSON is the last line."""
    return json.loads(output.strip().splitlines()[-1])


class DeploymentError(AssertionError):
    """A component died, a wait ran out or a task failed; the message carries the logs."""


@dataclass
class Component:
    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def terminate(self) -> None:
        """SIGTERM to the process group (its id is the leader's pid)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.killpg(self.popen.pid, signal.SIGTERM)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to the process group, SIGKILL after `timeout`; then SIGKILL to whatever is
        left in the group (task processes of a worker, say)."""
        pid = self.popen.pid
        if self.alive():
            self.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                self.popen.wait(10)
        with contextlib.suppress(ProcessLookupError):  # nothing left in the group: nothing to kill
            os.killpg(pid, signal.SIGKILL)


@dataclass
class Worker:
    name: str
    envmon_home: Path
    concurrency: int


@dataclass
class AirflowCluster:
    """`with AirflowCluster(tmp_path) as cluster:` starts everything and tears it all down."""
    workdir: Path
    executor: str = "CeleryExecutor"
    workers: tuple[str, ...] = ("worker1", "worker2")
    worker_concurrency: int = 2
    use_job_schedule: bool = True      # False: the scheduler creates no scheduled runs, only manual ones run
    paused_at_creation: bool = False
    extra_env: dict = field(default_factory=dict)
    init_env: dict = field(default_factory=dict)  # for deploy/airflow-init.sh alone, over extra_env
    preload: bool = True               # False: no worker preload (each task imports what it uses)
    make_admin: bool = False           # True: the init creates the FAB admin (self.admin), as compose's does
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    timings: dict = field(default_factory=dict)

    def __post_init__(self):
        from sqlalchemy.engine import make_url

        self.workdir = Path(self.workdir)
        self.airflow_home = self.workdir / "airflow"
        self.log_folder = self.workdir / "logs"
        self.component_logs = self.workdir / "components"
        self.api_port = free_port()
        # the first admin, which deploy/airflow-init.sh creates from these two variables
        self.admin = {"_AIRFLOW_WWW_USER_USERNAME": "envmon-admin",
                      "_AIRFLOW_WWW_USER_PASSWORD": "-" + secrets.token_urlsafe(18)}  # "-": as an option would
        self.queue = f"envmon_test_{self.tag}"
        # read when the cluster is made: the test suite may have started a throwaway server (conftest)
        server = make_url(os.environ.get("ENVMON_TEST_POSTGRES_URL", POSTGRES_URL))
        self.metadata_url = server.set(database=f"envmon_airflow_{self.tag}").render_as_string(hide_password=False)
        self.warehouse_url = server.set(database=f"envmon_wh_{self.tag}").render_as_string(hide_password=False)
        self._server_url = server.render_as_string(hide_password=False)
        self.components: list[Component] = []
        self.worker_specs = [Worker(name, self.workdir / f"envmon-home-{name}", self.worker_concurrency)
                             for name in (self.workers if self.executor == "CeleryExecutor" else ())]
        self.scheduler_home = self.workdir / "envmon-home-scheduler"
        self._engines: dict[str, object] = {}
        self._databases: list[str] = []

    # ---- life cycle -------------------------------------------------------------------------

    def __enter__(self) -> "AirflowCluster":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        for folder in (self.airflow_home, self.log_folder, self.component_logs, self.scheduler_home):
            folder.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        if self.worker_specs:
            self._check_redis()
        self._create_databases()
        self.run(["bash", str(ROOT / "deploy" / "airflow-init.sh")], timeout=240, name="init",
                 env={**(self.admin if self.make_admin else {}), **self.init_env})
        self.timings["init_seconds"] = round(time.monotonic() - started, 1)
        # --proxy-headers: as docker-compose.yml runs it behind its TLS proxy
        self._start("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port),
                                   "--proxy-headers"])
        self._start("dag-processor", ["dag-processor"])
        self._start("scheduler", ["scheduler"], env=LOCAL_EXECUTOR_PRELOAD if self.executor == "LocalExecutor" and self.preload else None)
        for worker in self.worker_specs:
            worker.envmon_home.mkdir(parents=True, exist_ok=True)
            self._start(worker.name,
                        ["celery", "worker", "--celery-hostname", f"{worker.name}@{self.tag}", "--queues", self.queue,
                         "--concurrency", str(worker.concurrency), "--skip-serve-logs"],
                        env={"ENVMON_HOME": str(worker.envmon_home), "ENVMON_TEST_WORKER_HOSTNAME": worker.name,
                             "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.airflow_cluster.worker_hostname"})
        self.wait_until(self._api_healthy, 120, "the api-server to answer /api/v2/monitor/health")
        self.wait_until(self._dag_parsed, 120, f"the dag-processor to serialize {DAG_ID}")
        self.wait_until(self._scheduler_running, 120, "the scheduler to heartbeat")
        for worker in self.worker_specs:
            log = self.component_logs / f"{worker.name}.log"
            self.wait_until(lambda log=log: " ready." in log.read_text(errors="replace"), 120,
                            f"Celery worker {worker.name} to be ready")
        self.timings["startup_seconds"] = round(time.monotonic() - started, 1)

    def close(self) -> None:
        stopping = time.monotonic()
        # the scheduler first, so that nothing new is queued while the rest stops (all at once)
        for component in self.components:
            if component.name == "scheduler":
                component.stop()
        for component in self.components:
            component.terminate()
        for component in self.components:
            component.stop()
        self.timings["stop_seconds"] = round(time.monotonic() - stopping, 1)
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        self._drop_databases()
        if self.worker_specs:
            self._clean_redis()

    def _check_redis(self) -> None:
        import redis

        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5).ping()
        except redis.RedisError as error:
            raise DeploymentError(f"the Celery broker {REDIS_URL} does not answer ({error}); start Redis "
                                  "(.ci/run does) or point ENVMON_TEST_REDIS_URL at one") from None

    def _clean_redis(self) -> None:
        """The test's queue and kombu's binding of it (other keys are Celery's own, shared)."""
        import redis

        with contextlib.suppress(redis.RedisError):  # cleanup only: a broker gone already holds nothing
            client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
            client.delete(self.queue, f"_kombu.binding.{self.queue}")
            client.close()

    # ---- databases --------------------------------------------------------------------------

    def _admin(self):
        from sqlalchemy import create_engine

        return create_engine(self._server_url, isolation_level="AUTOCOMMIT")

    def _create_databases(self) -> None:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        admin = self._admin()
        try:
            with admin.connect() as connection:
                for url in (self.metadata_url, self.warehouse_url):
                    name = make_url(url).database
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
                    self._databases.append(name)
        finally:
            admin.dispose()

    def _drop_databases(self) -> None:
        from sqlalchemy import text

        if not self._databases:
            return
        admin = self._admin()
        try:
            with admin.connect() as connection:
                for name in self._databases:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self._databases.clear()
        finally:
            admin.dispose()

    def engine(self, which: str):
        """`metadata` (Airflow's database) or `warehouse` (envmon's)."""
        from sqlalchemy import create_engine

        if which not in self._engines:
            self._engines[which] = create_engine(self.metadata_url if which == "metadata" else self.warehouse_url)
        return self._engines[which]

    def query(self, which: str, sql: str, **params) -> list[dict]:
        from sqlalchemy import text

        with self.engine(which).connect() as connection:
            return [dict(row) for row in connection.execute(text(sql), params).mappings()]

    def reset_warehouse(self) -> None:
        """Empty every table of the warehouse a run writes (not the migrations' version nor the
        reference tables, which every run syncs), so that the next check sees that run alone."""
        from sqlalchemy import text

        tables = [row["relname"] for row in self.query("warehouse", """
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND c.relname NOT IN ('alembic_version', 'stations', 'parameters')""")]
        with self.engine("warehouse").begin() as connection:
            connection.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))

    # ---- processes --------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW", "ENVMON_")) or k.startswith("ENVMON_TEST_")}
        env.update({
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(self.paused_at_creation),
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
            "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
            "AIRFLOW__CORE__FERNET_KEY": self._fernet_key(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self.metadata_url,
            "AIRFLOW__API_AUTH__JWT_SECRET": f"jwt-{self.tag}",
            "AIRFLOW__API__SECRET_KEY": f"api-{self.tag}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.log_folder),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(self.use_job_schedule),
            "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.metadata_url,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "ENVMON_HOME": str(self.scheduler_home),
            "ENVMON_WAREHOUSE_URL": self.warehouse_url,
            "ENVMON_SOURCE_MODE": "simulated",
        })
        if self.preload:
            env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] = CELERY_CONFIG_OPTIONS
        env.update(self.extra_env)
        env.update(extra)
        return env

    def _fernet_key(self) -> str:
        if not hasattr(self, "_fernet"):
            from cryptography.fernet import Fernet

            self._fernet = Fernet.generate_key().decode()
        return self._fernet

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Component:
        log = self.component_logs / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen([str(BIN / "airflow"), *args], cwd=self.workdir, env=self.env(**(env or {})),
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        component = Component(name, popen, log)
        self.components.append(component)
        return component

    def run(self, args: list[str], timeout: float = 120, name: str | None = None, env: dict | None = None) -> str:
        """A one-off command (an `airflow` CLI call unless args[0] is another program), in its own
        process group, killed at the deadline; its output is kept in components/<name>.log."""
        argv = args if args[0] in ("bash", "python") or args[0].startswith("/") else [str(BIN / "airflow"), *args]
        name = name or "cli-" + "-".join(a for a in args[:3] if not a.startswith("-"))
        popen = subprocess.Popen(argv, cwd=self.workdir, env=self.env(**(env or {})), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        try:
            stdout, stderr = popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            stdout, stderr = popen.communicate()
            self._fail(f"`{' '.join(args)}` did not finish in {timeout:.0f} s:\n{stdout[-3000:]}\n{stderr[-3000:]}")
        with open(self.component_logs / f"{name}.log", "a", encoding="utf-8") as log:
            log.write(f"$ {' '.join(args)}\n{stdout}\n{stderr}\n")
        if popen.returncode != 0:
            self._fail(f"`{' '.join(args)}` exited {popen.returncode}:\n{stdout[-3000:]}\n{stderr[-5000:]}")
        return stdout

    # ---- the REST API, as a client outside the cluster calls it -------------------------------

    def api(self, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, object]:
        """GET (POST with a JSON body) on the api-server: (status, the JSON answer or its text)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}",
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json", "Accept": "application/json",
                                                  **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, text = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode("utf-8", "replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def api_token(self, username: str | None = None, password: str | None = None) -> tuple[int, object]:
        """FAB's POST /auth/token with the admin's credentials (or the ones given)."""
        return self.api("/auth/token", body={"username": username or self.admin["_AIRFLOW_WWW_USER_USERNAME"],
                                             "password": password or self.admin["_AIRFLOW_WWW_USER_PASSWORD"]})

    # ---- waiting ----------------------------------------------------------------------------

    def wait_until(self, predicate, timeout: float, what: str, interval: float = 0.5):
        deadline = time.monotonic() + timeout
        while True:
            dead = [c for c in self.components if not c.alive()]
            if dead:
                self._fail(f"while waiting for {what}: {', '.join(c.name for c in dead)} exited "
                           f"({', '.join(str(c.popen.returncode) for c in dead)})")
            try:
                value = predicate()
            except DeploymentError:
                raise
            except Exception as error:  # the database or the server is not up yet
                value, last_error = None, error
            else:
                last_error = None
            if value:
                return value
            if time.monotonic() > deadline:
                self._fail(f"timed out after {timeout:.0f} s waiting for {what}"
                           + (f" (last error: {last_error!r})" if last_error else ""))
            time.sleep(interval)

    def _api_healthy(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health", timeout=5) as response:
            return response.status == 200

    def _dag_parsed(self) -> bool:
        errors = self.query("metadata", "SELECT filename, stacktrace FROM import_error")
        if errors:
            self._fail("the DAG files do not import:\n" + "\n".join(f"{e['filename']}:\n{e['stacktrace']}" for e in errors))
        return bool(self.query("metadata", "SELECT 1 FROM serialized_dag WHERE dag_id = :d", d=DAG_ID))

    def _scheduler_running(self) -> bool:
        return bool(self.query("metadata", "SELECT 1 FROM job WHERE job_type = 'SchedulerJob' AND state = 'running'"))

    # ---- runs -------------------------------------------------------------------------------

    def runs(self, dag_id: str = DAG_ID) -> list[dict]:
        return self.query("metadata", """
            SELECT id, run_id, run_type, state, logical_date, run_after, start_date, end_date, backfill_id,
                   triggered_by
            FROM dag_run WHERE dag_id = :d ORDER BY id""", d=dag_id)

    def task_instances(self, run_id: str, dag_id: str = DAG_ID) -> list[dict]:
        return self.query("metadata", """
            SELECT task_id, state, hostname, start_date, end_date, try_number, queue, pool
            FROM task_instance WHERE dag_id = :d AND run_id = :r ORDER BY start_date NULLS LAST, task_id""",
                          d=dag_id, r=run_id)

    def xcom(self, run_id: str, task_id: str, dag_id: str = DAG_ID):
        rows = self.query("metadata", """
            SELECT value FROM xcom WHERE dag_id = :d AND run_id = :r AND task_id = :t AND key = 'return_value'""",
                          d=dag_id, r=run_id, t=task_id)
        if not rows:
            return None
        value = rows[0]["value"]
        return json.loads(value) if isinstance(value, (str, bytes)) else value

    def wait_for_run(self, run_id: str, timeout: float, dag_id: str = DAG_ID) -> dict:
        """Until the run succeeds; fails at once on a failed task, a task up for retry or a failed run."""
        def settled():
            run = next((r for r in self.runs(dag_id) if r["run_id"] == run_id), None)
            if run is None:
                return None
            bad = [t for t in self.task_instances(run_id, dag_id) if t["state"] in BAD_TASK_STATES]
            if bad or run["state"] == "failed":
                self._fail(f"run {run_id} is {run['state']}; tasks " +
                           ", ".join(f"{t['task_id']}={t['state']}" for t in bad), run_id=run_id)
            return run if run["state"] == "success" else None

        return self.wait_until(settled, timeout, f"run {run_id} to succeed", interval=1)

    def wait_for_new_run(self, timeout: float, known: set[str], dag_id: str = DAG_ID, **match) -> dict:
        def created():
            for run in self.runs(dag_id):
                if run["run_id"] not in known and all(run[k] == v for k, v in match.items()):
                    return run
            return None

        return self.wait_until(created, timeout, f"a new run of {dag_id} {match}")

    def trigger(self, dag_id: str = DAG_ID, conf: dict | None = None) -> dict:
        """`airflow dags trigger` without a logical date, as an operator would type it."""
        args = ["dags", "trigger", dag_id, "-o", "json"]
        if conf is not None:
            args += ["--conf", json.dumps(conf)]
        created = last_json_line(self.run(args, timeout=90, name="cli-dags-trigger"))
        created = created[0] if isinstance(created, list) else created
        return {"run_id": created["dag_run_id"], **created}

    def task_durations(self, run_id: str, dag_id: str = DAG_ID) -> dict[str, float]:
        return {t["task_id"]: round((t["end_date"] - t["start_date"]).total_seconds(), 2)
                for t in self.task_instances(run_id, dag_id) if t["start_date"] and t["end_date"]}

    # ---- diagnostics ------------------------------------------------------------------------

    def task_logs(self, run_id: str, dag_id: str = DAG_ID, states=BAD_TASK_STATES, lines: int = 60) -> str:
        parts = []
        for ti in self.task_instances(run_id, dag_id):
            if ti["state"] not in states:
                continue
            files = sorted((self.log_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={ti['task_id']}").glob("*.log"))
            body = "\n".join(f"[{f.name}]\n{readable_task_log(f, lines)}" for f in files) or "(no log file)"
            parts.append(f"--- task {ti['task_id']} ({ti['state']}, host {ti['hostname']}) ---\n{body}")
        return "\n".join(parts)

    def diagnostics(self, run_id: str | None = None, lines: int = 40) -> str:
        parts = [f"--- {c.name} ({'running' if c.alive() else f'exited {c.popen.returncode}'}), last {lines} lines "
                 f"of {c.log} ---\n{tail(c.log, lines)}" for c in self.components]
        try:
            parts.append("runs: " + "; ".join(
                f"{r['run_id']} ({r['run_type']}, {r['state']}, logical date {r['logical_date']}, "
                f"{r['start_date']} .. {r['end_date']})" for r in self.runs()))
            if run_id is not None:
                parts.append(self.task_logs(run_id))
                parts.append("task instances: " + "; ".join(
                    f"{t['task_id']}={t['state']}@{t['hostname']}" for t in self.task_instances(run_id)))
            else:
                for run in self.runs():
                    if run["state"] == "failed" or any(t["state"] in BAD_TASK_STATES
                                                       for t in self.task_instances(run["run_id"])):
                        parts.append(self.task_logs(run["run_id"]))
        except Exception as error:  # the metadata database may be what failed
            parts.append(f"(task logs unavailable: {error!r})")
        return "\n".join(parts)

    def _fail(self, message: str, run_id: str | None = None):
        raise DeploymentError(f"{message}\n\n{self.diagnostics(run_id)}")


def bureau_day_before(moment: datetime) -> date:
    """The bureau (Asia/Shanghai) calendar day before an aware instant: what a run at `moment` processes."""
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)


def latest_nightly_tick(now: datetime) -> datetime:
    """The last 02:00 Asia/Shanghai at or before `now`, in UTC."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    tick = local.replace(hour=2, minute=0, second=0, microsecond=0)
    if tick > local:
        tick -= timedelta(days=1)
    return tick.astimezone(timezone.utc)
