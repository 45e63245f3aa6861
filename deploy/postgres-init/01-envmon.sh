#!/usr/bin/env bash
# Creates the envmon warehouse database, its owner and the dashboards' read-only role on the first
# start of the postgres service. The names can be changed (tests/test_dashboard_role.py runs this
# script against a real PostgreSQL under names of its own).
set -euo pipefail
db_name="${ENVMON_DB_NAME:-envmon}"
owner="${ENVMON_DB_USER:-envmon}"
reader="${ENVMON_DASHBOARD_DB_USER:-envmon_dashboard}"
# the reader has a password of its own: the dashboard service must never hold the owner's
: "${ENVMON_DASHBOARD_DB_PASSWORD:?set ENVMON_DASHBOARD_DB_PASSWORD (the read-only role has a password of its own)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner="$owner" -v db_name="$db_name" -v envmon_password="$ENVMON_DB_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'envmon_password';
CREATE DATABASE :"db_name" OWNER :"owner";
SQL

# A read-only role for the dashboards: they read the warehouse and never write it. The default
# privileges cover every table the owner creates later, the monthly observation partitions too.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$db_name" \
  -v owner="$owner" -v reader="$reader" -v db_name="$db_name" \
  -v dashboard_password="$ENVMON_DASHBOARD_DB_PASSWORD" <<'SQL'
CREATE ROLE :"reader" LOGIN PASSWORD :'dashboard_password';
GRANT CONNECT ON DATABASE :"db_name" TO :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
SQL
