#!/bin/sh
# Run by the postgres image (docker-entrypoint-initdb.d) once, on an empty data volume,
# as the superuser POSTGRES_USER. Names and passwords come from the environment (.env);
# the SQL is mounted outside docker-entrypoint-initdb.d so that the image does not run it
# a second time without them.
set -eu
psql --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
  -v temporal_role="$TEMPORAL_DB_USER" -v temporal_password="$TEMPORAL_DB_PASSWORD" \
  -v owner_role="$ORDERS_DB_OWNER" -v owner_password="$ORDERS_DB_OWNER_PASSWORD" \
  -v app_role="$ORDERS_DB_USER" -v app_password="$ORDERS_DB_PASSWORD" \
  -v orders_db="$ORDERS_DB" \
  -f /order-saga/postgres-init.sql
