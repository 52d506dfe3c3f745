-- Databases set up by docker/postgres-init.sql before it granted in every schema
-- gave the application role rights in `public` only: migration 002's
-- `simulated_provider` stayed closed to it, and every charge and refund failed
-- with "permission denied for schema simulated_provider". This gives each role
-- that writes our orders (the application role; nobody where one role does
-- everything, as under `npm start`) the rights the init script now gives:
-- USAGE on every schema the owner made and rows of every table in it, and the
-- same by default for what later migrations create, so that a schema one of
-- them adds is the writers' to use without a grant of its own. Nobody gains
-- CREATE anywhere. Idempotent: a database set up by the current init script
-- already has all of it.
DO $$
DECLARE
  owner_oid oid := (SELECT relowner FROM pg_class WHERE oid = 'public.orders'::regclass);
  writer regrole;
  schema_name name;
BEGIN
  FOR writer IN
    SELECT DISTINCT a.grantee::regrole
    FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.oid = 'public.orders'::regclass AND a.privilege_type = 'INSERT'
      AND a.grantee <> 0 AND a.grantee <> owner_oid
  LOOP
    EXECUTE format('ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO %s', writer);
    EXECUTE format('ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %s', writer);
    EXECUTE format('ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO %s', writer);
    FOR schema_name IN
      SELECT nspname FROM pg_namespace
      WHERE nspowner = owner_oid AND nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
    LOOP
      EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', schema_name, writer);
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %s', schema_name, writer);
      EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %s', schema_name, writer);
    END LOOP;
  END LOOP;
END $$;
