-- The open data API's grants (`envmon api`, docker-compose.yml's `api`, issue 26): it reads the
-- warehouse (every table, and those the owner creates later) and adds rows to the partner access log
-- (api_access_log); it can change nothing else: not a key, not an observation, not a row of the log.
-- Partner keys are issued as the owner (`envmon apikeys add` on a worker).
-- The role itself is made by deploy/postgres-init/03-api.sh on the postgres service's first start;
-- these grants are given by the warehouse's owner once the tables exist: deploy/airflow-init.sh runs
-- this file after every migration (GRANT is idempotent), through deploy/api-grants.sh:
--
--   ENVMON_API_DB_USER=envmon_api bash deploy/api-grants.sh
--
-- tests/test_api.py runs the two scripts against PostgreSQL and serves a partner through the role.
GRANT USAGE ON SCHEMA public TO :"api_role";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"api_role";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO :"api_role";
GRANT INSERT ON api_access_log TO :"api_role";
GRANT USAGE ON SEQUENCE api_access_log_access_id_seq TO :"api_role";
