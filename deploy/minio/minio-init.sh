#!/bin/sh
# The shared storage's one-off init (docker-compose.yml's minio-init, issue 25), run with MinIO's
# root credentials, which only this service and minio hold, once minio is healthy:
#   1. the bucket `envmon` (ENVMON_STORAGE_URL's s3://envmon), made where it is missing;
#   2. two policies (this folder): envmon-workers (read, write and delete objects in that bucket, list
#      it; no other bucket, no admin action) and envmon-dashboard (read and list only under
#      data_docs/ and reports/ of it: the Data Docs and the issued documents the dashboard serves);
#   3. two users, their keys from .env: the workers' (the Celery workers, the init job, the restore)
#      with envmon-workers, the dashboard's with envmon-dashboard. Nobody else gets the root user.
# Idempotent, so it runs on every `docker compose up`: `mc mb --ignore-existing`, `mc admin policy
# create` replaces a policy, `mc admin user add` sets an existing user's secret again; `mc admin policy
# attach` exits 1 where the policy is attached already (minio/mc#4863), so each is detached first.
# POSIX sh and mc only: the minio/mc image has no grep or sed.
set -eu
here="${0%/*}"   # this folder (mounted at /opt/envmon-minio)
bucket=envmon
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}"
: "${WORKERS_ACCESS_KEY:?}" "${WORKERS_SECRET_KEY:?}" "${DASHBOARD_ACCESS_KEY:?}" "${DASHBOARD_SECRET_KEY:?}"
if [ "$WORKERS_ACCESS_KEY" = "$MINIO_ROOT_USER" ] || [ "$DASHBOARD_ACCESS_KEY" = "$MINIO_ROOT_USER" ] \
   || [ "$WORKERS_ACCESS_KEY" = "$DASHBOARD_ACCESS_KEY" ]; then
  echo "minio-init: the workers', the dashboard's and the root access keys must be three different names" >&2
  exit 1
fi

mc alias set storage "${MINIO_URL:-http://minio:9000}" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "storage/$bucket"
mc admin policy create storage envmon-workers "$here/workers-policy.json"
mc admin policy create storage envmon-dashboard "$here/dashboard-policy.json"
mc admin user add storage "$WORKERS_ACCESS_KEY" "$WORKERS_SECRET_KEY"
mc admin user add storage "$DASHBOARD_ACCESS_KEY" "$DASHBOARD_SECRET_KEY"
mc admin policy detach storage envmon-workers --user "$WORKERS_ACCESS_KEY" >/dev/null 2>&1 || true
mc admin policy attach storage envmon-workers --user "$WORKERS_ACCESS_KEY"
mc admin policy detach storage envmon-dashboard --user "$DASHBOARD_ACCESS_KEY" >/dev/null 2>&1 || true
mc admin policy attach storage envmon-dashboard --user "$DASHBOARD_ACCESS_KEY"
echo "minio-init: bucket $bucket; users $WORKERS_ACCESS_KEY (envmon-workers) and $DASHBOARD_ACCESS_KEY (envmon-dashboard)"
