#!/bin/sh
# postgres-init of deploy/compose.yaml: a role and a database per service,
# run on every `up` (creating what is missing, resetting the passwords from
# the environment), as the superuser of the postgres service.
#
#   catga_<service>   LOGIN, no superuser/createdb/createrole/replication/
#                     bypassrls; owner of the database catga_<service>, where
#                     the event store creates the schema named after the
#                     service (libs/catga/eventstore/pgstore). Password:
#                     PG_<SERVICE>_PASSWORD.
#   PUBLIC            CONNECT revoked on every database, so a service's role
#                     can enter its own database only (the superuser's and
#                     the templates included).
set -eu
: "${PGHOST:?}" "${PGUSER:?}" "${PGPASSWORD:?}" "${PGDATABASE:?}"
# Compose starts this once postgres is healthy (pg_isready); the image
# `make images` builds holds psql and sh, nothing else: builtins only.
for svc in order payment inventory notification; do
  case $svc in
    order) pw=${PG_ORDER_PASSWORD:?} ;;
    payment) pw=${PG_PAYMENT_PASSWORD:?} ;;
    inventory) pw=${PG_INVENTORY_PASSWORD:?} ;;
    notification) pw=${PG_NOTIFICATION_PASSWORD:?} ;;
  esac
  # psql variables, quoted by psql (:'x' a literal, :"x" an identifier).
  psql -q -v ON_ERROR_STOP=1 -v role="catga_$svc" -v pw="$pw" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')
\gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'role', :'role') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'role')
\gexec
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
psql -q -v ON_ERROR_STOP=1 -v db="$PGDATABASE" <<'SQL'
REVOKE CONNECT ON DATABASE postgres, template1 FROM PUBLIC;
REVOKE CONNECT ON DATABASE :"db" FROM PUBLIC;
SQL
echo "postgres-init: roles and databases of order, payment, inventory, notification ready"
