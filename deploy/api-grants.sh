#!/usr/bin/env bash
# Gives the open data API's role (ENVMON_API_DB_USER, made by deploy/postgres-init/03-api.sh) its
# grants on the warehouse's tables (deploy/api-role.sql), connecting as the warehouse's owner
# (ENVMON_WAREHOUSE_URL, the SQLAlchemy URL; psql takes it without the driver). deploy/airflow-init.sh
# runs it after the migrations, so a table a migration adds is granted on the next `docker compose up`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${ENVMON_API_DB_USER:?set ENVMON_API_DB_USER (the role deploy/postgres-init/03-api.sh made)}"
: "${ENVMON_WAREHOUSE_URL:?set ENVMON_WAREHOUSE_URL (the warehouse as its owner)}"
case "$ENVMON_WAREHOUSE_URL" in
  postgresql*) ;;
  *) echo "api-grants: ENVMON_WAREHOUSE_URL is not PostgreSQL; roles are PostgreSQL's" >&2; exit 1 ;;
esac
owner_url="postgresql:${ENVMON_WAREHOUSE_URL#*:}"   # postgresql+psycopg://... -> postgresql://...
# A postgres volume made before deploy/postgres-init/03-api.sh existed has no such role (the init
# scripts run only on a volume's first start): granting would fail, and with it the init job and the
# whole stack. Skip with a warning instead: the rest of the deployment starts; the api service cannot
# sign in until the role is made (README "Open data API"), and the next init job grants it.
exists="$(psql "$owner_url" -v ON_ERROR_STOP=1 --quiet --no-align --tuples-only -v api_role="$ENVMON_API_DB_USER" \
  <<<"SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = :'api_role';")"
if [ "$exists" != "1" ]; then
  echo "api-grants: WARNING: the role $ENVMON_API_DB_USER does not exist (a postgres volume older than" \
    "deploy/postgres-init/03-api.sh), so the open data API is granted nothing and cannot connect. Create it:" \
    "docker compose exec postgres bash /docker-entrypoint-initdb.d/03-api.sh, then docker compose up -d" >&2
  exit 0
fi
psql "$owner_url" -v ON_ERROR_STOP=1 --quiet -v api_role="$ENVMON_API_DB_USER" -f "$here/api-role.sql"
