#!/usr/bin/env bash
# Creates the envmon warehouse database and its owner on the first start of the postgres service.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v envmon_password="$ENVMON_DB_PASSWORD" <<'SQL'
CREATE ROLE envmon LOGIN PASSWORD :'envmon_password';
CREATE DATABASE envmon OWNER envmon;
SQL

# A read-only role for the dashboards: they read the warehouse and never write it.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname envmon \
  -v dashboard_password="${ENVMON_DASHBOARD_DB_PASSWORD:-$ENVMON_DB_PASSWORD}" <<'SQL'
CREATE ROLE envmon_dashboard LOGIN PASSWORD :'dashboard_password';
GRANT CONNECT ON DATABASE envmon TO envmon_dashboard;
ALTER DEFAULT PRIVILEGES FOR ROLE envmon IN SCHEMA public GRANT SELECT ON TABLES TO envmon_dashboard;
GRANT USAGE ON SCHEMA public TO envmon_dashboard;
SQL
