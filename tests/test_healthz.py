"""The app's /healthz (docker-compose.yml's healthcheck asks it): "ok" only when the warehouse
answers a SELECT 1; 503 with a short reason, and no detail of the server, when it cannot."""
from sqlalchemy.engine import make_url

from dashboards.app import create_app
from tests.conftest import free_port


def test_healthz_answers_ok_when_the_warehouse_answers(tmp_path):
    from warehouse import db

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    db.migrate(db.engine_for(url))
    answer = create_app(url, tmp_path / "users.json", tmp_path, secret_key="test").server.test_client().get("/healthz")
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "ok")


def test_healthz_answers_503_with_a_short_reason_when_the_warehouse_cannot_be_reached(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVMON_DB_CONNECT_TIMEOUT", "2")
    url = make_url("postgresql+psycopg://envmon_dashboard:secret@127.0.0.1/envmon").set(port=free_port())
    app = create_app(url.render_as_string(hide_password=False), tmp_path / "users.json", tmp_path, secret_key="test")
    answer = app.server.test_client().get("/healthz")  # nothing listens on that port
    assert answer.status_code == 503
    assert answer.get_data(as_text=True) == "warehouse unreachable"  # neither host, user nor driver message


# the open data API's /api/healthz (compose's healthcheck of the api service) alike
def test_the_api_healthz_answers_ok_when_the_warehouse_answers(tmp_path):
    from starlette.testclient import TestClient

    from pipelines.api.app import create_app as create_api
    from warehouse import db

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    db.migrate(db.engine_for(url))
    answer = TestClient(create_api(url, environ={})).get("/api/healthz")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


def test_the_api_healthz_answers_503_when_the_warehouse_cannot_be_reached(monkeypatch):
    from starlette.testclient import TestClient

    from pipelines.api.app import create_app as create_api

    monkeypatch.setenv("ENVMON_DB_CONNECT_TIMEOUT", "2")
    url = make_url("postgresql+psycopg://envmon_api:secret@127.0.0.1/envmon").set(port=free_port())
    answer = TestClient(create_api(url.render_as_string(hide_password=False), environ={})).get("/api/healthz")
    assert (answer.status_code, answer.json()) == (503, {"status": "warehouse unreachable"})
    assert "127.0.0.1" not in answer.text and "envmon_api" not in answer.text
