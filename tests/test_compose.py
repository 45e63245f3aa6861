"""docker-compose.yml cannot be started here (no Docker engine): validate it against the Compose
specification and keep it in step with the code."""
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from pipelines.config import ENV_VARS

ROOT = Path(__file__).resolve().parents[1]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _airflow_pin():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pin = next(d for d in project["project"]["dependencies"] if d.startswith("apache-airflow=="))
    return pin.split("==")[1]


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
    assert commands["airflow-apiserver"] == "api-server" and commands["airflow-dag-processor"] == "dag-processor"


def test_the_environment_variables_match_what_the_code_reads():
    services = _compose()["services"]
    for name in ("airflow-scheduler", "dashboard"):
        envmon_vars = {k for k in services[name]["environment"] if k.startswith("ENVMON_")}
        assert envmon_vars == set(ENV_VARS) - {"ENVMON_SIMULATOR_SEED"}, name
    assert services["airflow-scheduler"]["environment"]["ENVMON_WAREHOUSE_URL"].startswith("postgresql+psycopg://")


def test_no_secret_is_written_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for line in text.splitlines():
        if re.search(r"(PASSWORD|SECRET|FERNET_KEY)\w*:\s*\S", line) and "${" not in line:
            raise AssertionError(f"literal secret in docker-compose.yml: {line.strip()}")
