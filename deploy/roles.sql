-- The roles flowradar runs as on a PostgreSQL + TimescaleDB server. See docs/deploy.md.
-- test/server-roles.test.ts runs this file as it stands (with its placeholder passwords) and
-- checks that `serve` and `collect` work under these roles and that a collector can do no more.
--
-- Run as a superuser, connected to the database flowradar will use (psql -d flowradar -f roles.sql),
-- after replacing the passwords. psql variables override them: -v owner_password=… -v collector_password=…
\if :{?owner_password}
\else
  \set owner_password 'change-me-owner'
\endif
\if :{?collector_password}
\else
  \set collector_password 'change-me-collector'
\endif

-- TimescaleDB is created by a superuser, once.
CREATE EXTENSION IF NOT EXISTS timescaledb;

-- The owner of every flowradar object: `flowradar migrate` and `flowradar serve` (which migrates
-- at start and runs maintenance). TimescaleDB lets only the owner of a continuous aggregate or
-- hypertable refresh it, compress its chunks or drop them, so maintenance needs this role.
CREATE ROLE flowradar LOGIN PASSWORD :'owner_password';
GRANT CREATE, CONNECT, TEMPORARY ON DATABASE :"DBNAME" TO flowradar;
GRANT CREATE, USAGE ON SCHEMA public TO flowradar;

-- Collectors (`flowradar collect`): write flows, templates and exporter counters, and read what the
-- API they also serve reads. No DDL: they start only against a database already migrated by the owner.
CREATE ROLE flowradar_collector LOGIN PASSWORD :'collector_password';
GRANT CONNECT ON DATABASE :"DBNAME" TO flowradar_collector;
GRANT USAGE ON SCHEMA public TO flowradar_collector;

-- Through a transaction pooler (pgbouncer, Hyperdrive) the service cannot send its statement
-- timeout with the connection: the role carries it (keep it equal to queryTimeout).
ALTER ROLE flowradar SET statement_timeout = '15s';
ALTER ROLE flowradar_collector SET statement_timeout = '15s';

-- What the owner creates from now on (every migration) is readable by collectors, and the tables
-- they write are writable; re-run the GRANTs below after upgrading if a release adds tables a
-- collector writes (the release notes say so).
ALTER DEFAULT PRIVILEGES FOR ROLE flowradar IN SCHEMA public GRANT SELECT ON TABLES TO flowradar_collector;
ALTER DEFAULT PRIVILEGES FOR ROLE flowradar IN SCHEMA public GRANT USAGE ON SEQUENCES TO flowradar_collector;
