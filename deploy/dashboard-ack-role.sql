-- The dashboard's acknowledging role's grants: the writes the bureaus' app makes (an alert episode's
-- acknowledgement, pipelines.alerts.acknowledge; the security audit log of sign-ins, lockouts,
-- logouts and acknowledgements, warehouse/security_audit.py) go through it, never through the
-- read-only role the pages read with nor the owner. It may read the two alert tables it works on,
-- add a row to the audit trail (alert_actions), set an episode's acknowledged_at/acknowledged_by,
-- and read and add rows of security_audit (never change or delete one); nothing else.
-- The role itself is made by deploy/postgres-init/02-dashboard-ack.sh on the postgres service's first
-- start; these grants are given by the warehouse's owner once the tables exist: deploy/airflow-init.sh
-- runs this file after every migration (GRANT is idempotent), through deploy/dashboard-ack-grants.sh:
--
--   ENVMON_DASHBOARD_ACK_DB_USER=envmon_dashboard_ack bash deploy/dashboard-ack-grants.sh
--
-- The dashboard writes through ENVMON_DASHBOARD_ACK_URL and ENVMON_DASHBOARD_AUDIT_URL, both this role
-- in docker-compose.yml. tests/test_dashboard_app.py runs the two scripts against PostgreSQL.
GRANT USAGE ON SCHEMA public TO :"ack_role";
GRANT SELECT ON alert_episodes, alert_actions TO :"ack_role";
GRANT UPDATE (acknowledged_at, acknowledged_by) ON alert_episodes TO :"ack_role";
GRANT INSERT ON alert_actions TO :"ack_role";
GRANT USAGE ON SEQUENCE alert_actions_action_id_seq TO :"ack_role";
GRANT SELECT, INSERT ON security_audit TO :"ack_role";
GRANT USAGE ON SEQUENCE security_audit_event_id_seq TO :"ack_role";
