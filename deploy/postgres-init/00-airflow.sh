#!/usr/bin/env bash
# Creates Airflow's metadata database and its owner on the first start of the postgres service, so
# that Airflow connects as a role of its own, not as the server's superuser, and its metadata lives
# apart from the warehouse (01-envmon.sh): each is backed up, restored and bounded on its own. The
# names can be changed (tests/test_backup_restore.py runs this script under names of its own).
set -euo pipefail
db_name="${AIRFLOW_DB_NAME:-airflow}"
owner="${AIRFLOW_DB_USER:-airflow}"
: "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD (the metadata role of Airflow has a password of its own)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner="$owner" -v db_name="$db_name" -v airflow_password="$AIRFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'airflow_password';
CREATE DATABASE :"db_name" OWNER :"owner";
SQL
