#!/usr/bin/env bash
# Creates the open data API's role (`envmon api`, docker-compose.yml's `api`, issue 26) on the first
# start of the postgres service (after 01-envmon.sh made the warehouse's database). The API reads the
# warehouse and adds rows to the partner access log through it, nothing else. Its grants on the tables
# are given by the warehouse's owner after each migration (deploy/airflow-init.sh runs
# deploy/api-role.sql through deploy/api-grants.sh), since the tables do not exist yet here. On a
# deployment whose postgres volume predates this script, run it once by hand:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/03-api.sh
# The names can be changed (tests/test_api.py runs it under names of its own).
set -euo pipefail
db_name="${ENVMON_DB_NAME:-envmon}"
api_role="${ENVMON_API_DB_USER:-envmon_api}"
# a password of its own: the api service holds this one alone, never the owner's
: "${ENVMON_API_DB_PASSWORD:?set ENVMON_API_DB_PASSWORD (the role of the open data API has a password of its own)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$db_name" \
  -v api_role="$api_role" -v db_name="$db_name" -v api_password="$ENVMON_API_DB_PASSWORD" <<'SQL'
CREATE ROLE :"api_role" LOGIN PASSWORD :'api_password';
GRANT CONNECT ON DATABASE :"db_name" TO :"api_role";
GRANT USAGE ON SCHEMA public TO :"api_role";
SQL
