#!/usr/bin/env bash
# Creates the envmon warehouse database and its owner on the first start of the postgres service.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v envmon_password="$ENVMON_DB_PASSWORD" <<'SQL'
CREATE ROLE envmon LOGIN PASSWORD :'envmon_password';
CREATE DATABASE envmon OWNER envmon;
SQL
