-- The open data API's role (`envmon api`, docker-compose.yml's `api`, issue 26): it reads the warehouse
-- (every table, the observation partitions the owner creates later too) and adds rows to the partner
-- access log (api_access_log); it can change nothing else: not a key, not an observation, not a row
-- of the log. Partner keys are issued as the owner (`envmon apikeys add` on a worker). Run it once as
-- a superuser after the warehouse is migrated (api_access_log must exist):
--
--   docker compose exec -T postgres psql -v ON_ERROR_STOP=1 -U postgres -d envmon \
--       -v api_role=envmon_api -v api_password="$ENVMON_API_DB_PASSWORD" -v owner=envmon \
--       < deploy/api-role.sql
CREATE ROLE :"api_role" LOGIN PASSWORD :'api_password';
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'api_role') \gexec
GRANT USAGE ON SCHEMA public TO :"api_role";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"api_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"api_role";
GRANT INSERT ON api_access_log TO :"api_role";
GRANT USAGE ON SEQUENCE api_access_log_access_id_seq TO :"api_role";
