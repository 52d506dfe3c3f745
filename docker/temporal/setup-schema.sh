#!/bin/sh
# One-shot (temporal-schema service, admin-tools image): Temporal's databases on
# PostgreSQL. The first run creates them and their base schema; every run applies the
# versioned schema changes the server image needs (run it again after changing the
# image tags in docker-compose.yml, before the new server starts: compose does).
# SQL_PASSWORD (the temporal role's) comes from the environment.
set -eu
sql() { temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u temporal "$@"; }
schema=/etc/temporal/schema/postgresql/v12

for db in temporal temporal_visibility; do
  case "$db" in
    temporal) dir="$schema/temporal/versioned" ;;
    *) dir="$schema/visibility/versioned" ;;
  esac
  if sql --db "$db" create; then
    echo "created database $db"
    sql --db "$db" setup-schema -v 0.0
  else
    echo "database $db exists"
  fi
  sql --db "$db" update-schema -d "$dir"
done
echo "Temporal schema is up to date"
