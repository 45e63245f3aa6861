#!/usr/bin/env bash
# Creates the dashboard's acknowledging role on the first start of the postgres service (after
# 01-envmon.sh made the warehouse's database). The app writes through it what it writes: an alert
# episode's acknowledgement and the security audit log (sign-ins, lockouts, logouts); without it the
# app lets nobody sign in (503). Its grants on the tables are given by the warehouse's owner after
# each migration (deploy/airflow-init.sh runs deploy/dashboard-ack-role.sql), since the tables do not
# exist yet here. On a deployment whose postgres volume predates this script, run it once by hand:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/02-dashboard-ack.sh
# Idempotent: the role is created only where it is missing (a role that exists keeps its password;
# change that with ALTER ROLE), so running it twice does no harm.
# The names can be changed (tests/test_dashboard_role.py runs it under names of its own).
set -euo pipefail
db_name="${ENVMON_DB_NAME:-envmon}"
ack_role="${ENVMON_DASHBOARD_ACK_DB_USER:-envmon_dashboard_ack}"
# a password of its own: the dashboard holds this one and the read-only role's, never the owner's
: "${ENVMON_DASHBOARD_ACK_DB_PASSWORD:?set ENVMON_DASHBOARD_ACK_DB_PASSWORD (the acknowledging role of the dashboard has a password of its own)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$db_name" \
  -v ack_role="$ack_role" -v db_name="$db_name" -v ack_password="$ENVMON_DASHBOARD_ACK_DB_PASSWORD" <<'SQL'
-- created only where missing (a bare CREATE ROLE fails on a second run): the statement is made here
-- and run by \gexec, since psql's variables are not expanded inside a DO block's body
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'ack_role', :'ack_password')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'ack_role') \gexec
GRANT CONNECT ON DATABASE :"db_name" TO :"ack_role";
GRANT USAGE ON SCHEMA public TO :"ack_role";
SQL
