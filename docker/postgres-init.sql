-- Roles and databases of the compose stack, run once by docker/postgres-init.sh when
-- the postgres service starts on an empty volume (test/db/least-privilege.test.ts runs
-- it too, against the suite's PostgreSQL). psql variables (-v) carry the
-- names and the passwords, which come from .env, never from this file.
--
--   temporal role  owns the Temporal server's databases (created by temporal-sql-tool)
--   owner role     owns the service's database and schema: `npm run migrate` runs as it
--   app role       what the API and worker connect as: reads and writes rows, no DDL
\set ON_ERROR_STOP on

CREATE ROLE :"temporal_role" LOGIN CREATEDB PASSWORD :'temporal_password';
CREATE ROLE :"owner_role" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"app_role" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"orders_db" OWNER :"owner_role";
REVOKE ALL ON DATABASE :"orders_db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"orders_db" TO :"app_role";

\connect :"orders_db"
-- PostgreSQL 15 and later already keep CREATE on public from PUBLIC; say it for older ones.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"owner_role";
GRANT USAGE ON SCHEMA public TO :"app_role";
-- Every schema, table and sequence the owner's migrations create, now and later, in any
-- schema: migration 002 adds `simulated_provider`, and a schema the app role may not enter
-- fails every statement in it (a charge that retries for ever) rather than the migration.
-- USAGE only on schemas: the app role creates nothing in them.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role"
  GRANT USAGE ON SCHEMAS TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role"
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role"
  GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";
