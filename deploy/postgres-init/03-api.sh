#!/usr/bin/env bash
# Creates the open data API's role (`envmon api`, docker-compose.yml's `api`, issue 26) on the first
# start of the postgres service (after 01-envmon.sh made the warehouse's database). The API reads the
# warehouse and adds rows to the partner access log through it, nothing else. Its grants on the tables
# are given by the warehouse's owner after each migration (deploy/airflow-init.sh runs
# deploy/api-role.sql through deploy/api-grants.sh), since the tables do not exist yet here. On a
# deployment whose postgres volume predates this script, run it once by hand:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/03-api.sh
# Idempotent: the role is created only where it is missing (a role that exists keeps its password;
# change that with ALTER ROLE), and the grants are given again, so running it twice does no harm.
# The names can be changed (tests/test_api.py runs it under names of its own).
set -euo pipefail
db_name="${ENVMON_DB_NAME:-envmon}"
api_role="${ENVMON_API_DB_USER:-envmon_api}"
# a password of its own: the api service holds this one alone, never the owner's
: "${ENVMON_API_DB_PASSWORD:?set ENVMON_API_DB_PASSWORD (the role of the open data API has a password of its own)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$db_name" \
  -v api_role="$api_role" -v db_name="$db_name" -v api_password="$ENVMON_API_DB_PASSWORD" <<'SQL'
-- created only where missing (a bare CREATE ROLE fails on a second run): the statement is made here
-- and run by \gexec, since psql's variables are not expanded inside a DO block's body
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'api_role', :'api_password')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'api_role') \gexec
GRANT CONNECT ON DATABASE :"db_name" TO :"api_role";
GRANT USAGE ON SCHEMA public TO :"api_role";
SQL
