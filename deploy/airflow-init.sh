#!/usr/bin/env bash
# The one-off init of a deployment (docker-compose.yml's airflow-init; tests/airflow_cluster.py runs
# this same script against the local PostgreSQL). Idempotent: safe on every `docker compose up`.
#   1. Airflow's metadata database (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, ..._ASYNC)
#   2. the shared storage (pipelines/storage.py): the bucket of an S3-compatible store made where missing
#      (in compose minio-init has made it: this job reaches MinIO as the workers' user, which may not
#      make buckets; deploy/minio), a probe written, read and removed, then ENVMON_HOME/archive and
#      ENVMON_HOME/reports (what a deployment kept before the shared storage) copied into it where a
#      key is missing, sizes checked
#      (storage.adopt_local_home; idempotent): before the migration 0021 turns the payload log's old
#      paths into storage keys, so no old payload or document is stranded on the volume
#   2b. envmon's warehouse (ENVMON_WAREHOUSE_URL): Alembic migrations and the reference tables; then,
#      where ENVMON_DASHBOARD_ACK_DB_USER names it (compose does), the dashboard's acknowledging role's
#      grants on the tables (deploy/dashboard-ack-grants.sh): the app signs users in only where it can
#      write the security audit log through that role; and where ENVMON_API_DB_USER names it (compose
#      does), the open data API's role's (deploy/api-grants.sh): it reads and logs partner requests
#      through that role
#   3. the Airflow pools in deploy/airflow-pools.json (`cnemc`, used by the live collection DAGs)
#   4. the first admin of Airflow's UI and REST API, in the FAB auth manager's users (the tables
#      step 1 made), from the environment: _AIRFLOW_WWW_USER_USERNAME and _AIRFLOW_WWW_USER_PASSWORD
#      (docker-compose.yml hands them from .env's AIRFLOW_ADMIN_USERNAME / AIRFLOW_ADMIN_PASSWORD;
#      the repository holds no password). A user that exists already is left as it is: a changed
#      password is set with `airflow users reset-password`. Without a password no admin is made.
#   5. the alert channels: in live mode a test message through each (the routing file's recipients,
#      SMTP and robots, and the operators' second path, the Airflow connection envmon_operators); the
#      init fails, naming what is missing, unless the operators and every bureau can be reached, so
#      the deployment does not start alerting nobody. Elsewhere it reports and passes (`make run`
#      writes e-mails to ENVMON_HOME/outbox as .eml files).
# The warehouse's database, its owner, the dashboards' read-only role envmon_dashboard, the
# acknowledging role envmon_dashboard_ack and the open data API's role envmon_api are made by
# deploy/postgres-init when the postgres service first starts, not here.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

airflow db migrate
# the shared storage (ENVMON_STORAGE_URL): its bucket made on an object store, then written, read and
# removed once, so a wrong endpoint or key stops the deployment here, not at the first payload; then
# what ENVMON_HOME kept before it copied in, before the warehouse's migration names archives by key
python -c 'from pipelines import storage; from pipelines.config import load_settings; settings = load_settings(); print(storage.prepare(settings)); print(storage.adopt_local_home(settings)["message"])'
python -c 'from pipelines.nightly import prepare_warehouse; print(prepare_warehouse())'
if [ -n "${ENVMON_DASHBOARD_ACK_DB_USER:-}" ]; then
  bash "$here/dashboard-ack-grants.sh"
fi
if [ -n "${ENVMON_API_DB_USER:-}" ]; then
  bash "$here/api-grants.sh"
fi
airflow pools import "${ENVMON_AIRFLOW_POOLS:-$here/airflow-pools.json}"
if [ -n "${_AIRFLOW_WWW_USER_PASSWORD:-}" ]; then
  # --option=value: a generated password may begin with "-"; Airflow masks --password in the
  # command line it logs to its `log` table
  airflow users create --role=Admin --username="${_AIRFLOW_WWW_USER_USERNAME:-admin}" \
    --password="$_AIRFLOW_WWW_USER_PASSWORD" --email="${_AIRFLOW_WWW_USER_EMAIL:-admin@localhost}" \
    --firstname="${_AIRFLOW_WWW_USER_FIRSTNAME:-Airflow}" --lastname="${_AIRFLOW_WWW_USER_LASTNAME:-Admin}"
else
  echo "airflow-init: no _AIRFLOW_WWW_USER_PASSWORD, so no Airflow admin is created" >&2
fi
envmon alerts check-channels
