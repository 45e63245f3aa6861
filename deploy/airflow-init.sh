#!/usr/bin/env bash
# The one-off init of a deployment (docker-compose.yml's airflow-init; tests/airflow_cluster.py runs
# this same script against the local PostgreSQL). Idempotent: safe on every `docker compose up`.
#   1. Airflow's metadata database (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, ..._ASYNC)
#   2. envmon's warehouse (ENVMON_WAREHOUSE_URL): Alembic migrations and the reference tables
#   3. the Airflow pools in deploy/airflow-pools.json (`cnemc`, used by the live collection DAGs)
#   4. the alert channels: in live mode a test message through each (the routing file's recipients,
#      SMTP and robots, and the operators' second path, the Airflow connection envmon_operators); the
#      init fails, naming what is missing, unless the operators and every bureau can be reached, so
#      the deployment does not start alerting nobody. Elsewhere it reports and passes (`make run`
#      writes e-mails to ENVMON_HOME/outbox as .eml files).
# The warehouse's database, its owner and the dashboards' read-only role envmon_dashboard are made
# by deploy/postgres-init/01-envmon.sh when the postgres service first starts, not here.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

airflow db migrate
python -c 'from pipelines.nightly import prepare_warehouse; print(prepare_warehouse())'
airflow pools import "${ENVMON_AIRFLOW_POOLS:-$here/airflow-pools.json}"
envmon alerts check-channels
