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
psql "$owner_url" -v ON_ERROR_STOP=1 --quiet -v api_role="$ENVMON_API_DB_USER" -f "$here/api-role.sql"
