-- The dashboard's acknowledging role: the writes the bureaus' app makes (an alert episode's
-- acknowledgement, pipelines.alerts.acknowledge; the security audit log of sign-ins, lockouts,
-- logouts and acknowledgements, warehouse/security_audit.py) go through it, never through the
-- read-only role the pages read with nor the owner. It may read the two alert tables it works on,
-- add a row to the audit trail (alert_actions), set an episode's acknowledged_at/acknowledged_by,
-- and read and add rows of security_audit (never change or delete one); nothing else. Run it once as a superuser after the warehouse is migrated (the tables must exist):
--
--   docker compose exec -T postgres psql -v ON_ERROR_STOP=1 -U postgres -d envmon \
--       -v ack_role=envmon_dashboard_ack -v ack_password="$ENVMON_DASHBOARD_ACK_DB_PASSWORD" \
--       < deploy/dashboard-ack-role.sql
--
-- then set ENVMON_DASHBOARD_ACK_URL=postgresql+psycopg://envmon_dashboard_ack:PASSWORD@postgres:5432/envmon
-- for the dashboard service (.env); the audit log is written through it too, unless
-- ENVMON_DASHBOARD_AUDIT_URL names another role with the same two grants on security_audit. tests/test_dashboard_app.py runs it against PostgreSQL.
CREATE ROLE :"ack_role" LOGIN PASSWORD :'ack_password';
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'ack_role') \gexec
GRANT USAGE ON SCHEMA public TO :"ack_role";
GRANT SELECT ON alert_episodes, alert_actions TO :"ack_role";
GRANT UPDATE (acknowledged_at, acknowledged_by) ON alert_episodes TO :"ack_role";
GRANT INSERT ON alert_actions TO :"ack_role";
GRANT USAGE ON SEQUENCE alert_actions_action_id_seq TO :"ack_role";
GRANT SELECT, INSERT ON security_audit TO :"ack_role";
GRANT USAGE ON SEQUENCE security_audit_event_id_seq TO :"ack_role";
