-- Run as the owner (flowradar) after `flowradar migrate`, and again after an upgrade: what a
-- collector writes. Reading everything else comes from roles.sql's default privileges.
GRANT USAGE ON SCHEMA flowradar TO flowradar_collector;
GRANT SELECT ON flowradar.__drizzle_migrations TO flowradar_collector;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO flowradar_collector;
GRANT INSERT, UPDATE ON traffic, exporters, exporter_minutes, ingest_batches, asn_names, adm1_names TO flowradar_collector;
GRANT INSERT, UPDATE, DELETE ON flow_templates TO flowradar_collector;
