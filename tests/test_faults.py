"""Faults, injected into real processes (tests/faults.py holds the scenarios; bench/faults.py
times them for the README): after each, no partial batch is visible and the warehouse holds what a
clean run holds. Marked `faults`: `pytest -m faults` runs them alone, `-m "not faults"` skips them."""
import pytest

from tests import faults

pytestmark = pytest.mark.faults


@pytest.fixture
def warehouse(request, tmp_path):
    """The warehouse of a scenario: a file of its own, or a fresh schema of the test PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return request.getfixturevalue("postgres_url")


def _cases():
    for name, (scenario, backends) in faults.SCENARIOS.items():
        for backend in backends:
            yield pytest.param(scenario, backend, id=f"{scenario.__name__}-{backend}")


@pytest.mark.parametrize(("scenario", "warehouse"), list(_cases()), indirect=["warehouse"])
def test_fault_is_survived(scenario, warehouse, tmp_path):
    try:
        outcome = scenario(tmp_path / "work", warehouse)
    except faults.FaultNotInjectable as reason:
        pytest.skip(str(reason))
    assert outcome.recover_seconds >= 0


def test_an_error_is_one_line_and_debug_adds_the_traceback(tmp_path, monkeypatch, capsys):
    from pipelines.cli import main
    from tests.conftest import free_port

    monkeypatch.setenv("ENVMON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ENVMON_WAREHOUSE_URL", f"postgresql+psycopg://envmon@127.0.0.1:{free_port()}/envmon")
    assert main(["export", "observations"]) == 3
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "cannot reach the warehouse" in error and "Traceback" not in error
    assert main(["export", "observations", "--debug"]) == 3
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("ENVMON_DEBUG", "1")
    assert main(["export", "observations"]) == 3
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("warehouse", ["sqlite", "postgresql"], indirect=True)
def test_resume_leaves_a_payload_that_another_process_is_ingesting(warehouse, tmp_path):
    """A `received` payload whose lock another live process holds is being ingested: resume
    leaves it to that process (it would otherwise load it twice at once)."""
    import subprocess
    import sys

    from pipelines import nightly
    from pipelines.ingest.payloads import resume_payloads
    from warehouse import db

    settings = faults.settings_for(tmp_path / "home", warehouse)
    nightly.prepare_warehouse(settings)
    engine = db.engine_for(warehouse)
    payload_id = db.insert_payload(engine, {"source": faults.SOURCE, "received_at": faults.datetime.now(faults.BUREAU_TZ),
                                            "fetched_at": faults.datetime.now(faults.BUREAU_TZ), "sha256": "0" * 64,
                                            "size_bytes": 0, "archive_path": str(tmp_path / "none"), "origin": "test",
                                            "status": "received"})
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from warehouse import db\n"
         f"with db.payload_lock(db.engine_for({warehouse!r}), {payload_id}):\n"
         "    print('held', flush=True); time.sleep(120)"],
        env=faults.environment(tmp_path / "home", warehouse), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = resume_payloads(settings)
        assert result["busy"] == [payload_id] and result["resumed"] == []
        assert db.get_payload(engine, payload_id)["status"] == "received"
    finally:
        holder.kill()
        holder.wait()
