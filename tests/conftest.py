import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pipelines import clock

SHARED = Path(__file__).resolve().parents[2] / "shared"
FORMATS = SHARED / "reference" / "formats"
FIXTURES = Path(__file__).parent / "fixtures"
# the configured server; the tests ask postgres_server_url(), which falls back to a throwaway server
POSTGRES_URL = os.environ.get("ENVMON_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _answers(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure to connect means: not this server
        return False
    finally:
        engine.dispose()


def _postgres_binaries() -> Path | None:
    """The newest PostgreSQL server binaries of the system: Debian's /usr/lib/postgresql/<v>/bin,
    else initdb and pg_ctl on PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


class ThrowawayPostgres:
    """A PostgreSQL server of the system's binaries in a temporary folder, on a free loopback port,
    with trust authentication and a database `test`; removed at exit. initdb refuses to run as
    root, so as root the server runs as the `postgres` user (Debian's package makes it) or `nobody`."""

    def __init__(self, binaries: Path):
        import pwd
        import tempfile

        self.binaries, self.port = binaries, free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="envmon-test-postgres-"))
        self.data = self.folder / "data"
        self.user = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    self.user = pwd.getpwnam(name)
                    break
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/test"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.user.pw_name, "--"] if self.user else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, cwd=self.folder)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()[-1000:]}")

    def start(self) -> str:
        self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8")
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder} " \
                  "-c fsync=off -c max_connections=200"
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "server.log"), "-w", "-t", "60", "start")
        admin = create_engine(self.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE test"))
        admin.dispose()
        return self.url

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


_postgres: dict = {}


def postgres_server_url() -> str:
    """The PostgreSQL server of the tests that need one: ENVMON_TEST_POSTGRES_URL's when it
    answers, else a throwaway one started here with the system's binaries (once per process, and
    handed to the processes the tests start through ENVMON_TEST_POSTGRES_URL), else a skip that
    says why."""
    if "url" in _postgres:
        return _postgres["url"]
    if "skip" in _postgres:
        pytest.skip(_postgres["skip"])
    configured = os.environ.get("ENVMON_TEST_POSTGRES_URL", POSTGRES_URL)
    if _answers(configured):
        _postgres["url"] = configured
        return configured
    binaries = _postgres_binaries()
    if binaries is None:
        _postgres["skip"] = (f"needs PostgreSQL: the server at {configured} does not answer, and there are no "
                             "PostgreSQL server binaries (initdb, pg_ctl) to start a throwaway one")
        pytest.skip(_postgres["skip"])
    server = ThrowawayPostgres(binaries)
    try:
        url = server.start()
    except Exception as error:  # noqa: BLE001 - reported as the reason of the skip
        server.stop()
        _postgres["skip"] = f"needs PostgreSQL: {configured} does not answer and a throwaway server did not start: {error}"
        pytest.skip(_postgres["skip"])
    atexit.register(server.stop)
    os.environ["ENVMON_TEST_POSTGRES_URL"] = url
    _postgres["url"] = url
    return url


# The suite's "now": every test, and every process a test starts (`envmon`, Airflow's task runners),
# reads this instant, running on from it at the real clock's rate, whatever the day the suite runs.
# Noon on the bureaus' clock, after the newest fixture (the CNEMC water snapshot of 12-31 20:00,
# fetched 2027-01-01 02:00), so no fixture lies in the future of QC's time test.
SUITE_NOW = datetime(2027, 1, 1, 12, 0, tzinfo=clock.BUREAU_TZ)

# What the whole session runs with: the clock above; a failed Airflow task retried once after a
# second, a failed feed request after 50 ms (production: minutes), so a broken run fails in seconds;
# Airflow's home in the session's own folder, set before anything imports airflow (its
# configuration is read once per process).


def _session_environment(tmp_root: Path) -> dict[str, str]:
    return {
        clock.NOW_VARIABLE: clock.setting_for(SUITE_NOW),
        "ENVMON_TASK_RETRIES": "1",
        "ENVMON_TASK_RETRY_DELAY_SECONDS": "1",
        "ENVMON_FETCH_FIRST_WAIT_SECONDS": "0.05",
        "AIRFLOW_HOME": str(tmp_root / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


@pytest.fixture(scope="session", autouse=True)
def session_environment(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _session_environment(tmp_path_factory.mktemp("session")).items():
            patch.setenv(name, value)
        yield


@pytest.fixture(autouse=True)
def environment_left_as_found():
    """A test that changes the environment must undo it (monkeypatch does): one test's variables
    must not decide another's result."""
    before = _environment()
    yield
    after = _environment()
    if after != before:
        changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
        for name in changed:
            if name in before:
                os.environ[name] = before[name]
            else:
                del os.environ[name]
        pytest.fail(f"the test left the environment changed: {changed}")


@pytest.fixture(autouse=True)
def _registry_back_to_seed():
    """A test on a warehouse makes its registry version this process's registry (db.migrate does,
    issue 23): the next test starts from the repository's seed files again."""
    yield
    from pipelines.reference import registry

    registry.use_seed()


@pytest.fixture(autouse=True)
def _no_log_handler_on_a_closed_stream():
    """A command run under capsys may leave a logging handler on the stream captured for that test,
    closed when the test ends: a later test's log line then prints '--- Logging error ---' and its
    traceback into that later test's stderr (seen in the whole suite, never in a file alone)."""
    _drop_handlers_on_closed_streams()
    yield
    _drop_handlers_on_closed_streams()


def _drop_handlers_on_closed_streams() -> None:
    import logging

    loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    for logger in loggers:
        for handler in list(logger.handlers):
            if getattr(getattr(handler, "stream", None), "closed", False):
                logger.removeHandler(handler)


def _environment() -> dict[str, str]:
    """The environment less pytest's own variable and the harness's (ENVMON_TEST_*: the test servers
    it finds or starts once for the session)."""
    return {name: value for name, value in os.environ.items()
            if name != "PYTEST_CURRENT_TEST" and not name.startswith("ENVMON_TEST_")}


@pytest.fixture
def set_clock(monkeypatch):
    """Move the clock for one test (and the processes it starts): set_clock(instant[, running])."""
    def move(instant: datetime, running: bool = False) -> None:
        monkeypatch.setenv(clock.NOW_VARIABLE, clock.setting_for(instant, running))
    return move


def real_data(relative: str) -> Path:
    """A file of the real samples in ../shared, or a skip with the reason where it is absent."""
    path = FORMATS / relative
    if not path.exists():
        pytest.skip(f"real sample {path} is not present (../shared is not beside this clone)")
    return path


@contextlib.contextmanager
def fresh_postgres_schema():
    """A URL whose connections work in a fresh schema of the test PostgreSQL, dropped afterwards."""
    server = postgres_server_url()
    schema = f"envmon_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(autouse=True)
def _postgres_for_marked_tests(request):
    """A test marked `postgres` gets the server (or its skip) before it starts what needs it."""
    if request.node.get_closest_marker("postgres") is not None:
        postgres_server_url()


@pytest.fixture
def postgres_url():
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return request.getfixturevalue("postgres_url")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes
        from email.policy import default

        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default)))
        return "250 OK"


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback that keeps what it receives."""
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()
