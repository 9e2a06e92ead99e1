#!/bin/sh
# Runs once, when the TimescaleDB container initialises an empty data volume: creates the role the Temporal
# server connects as. It may create databases (auto-setup creates temporal and temporal_visibility) but is
# no superuser and cannot read Infrastructor's own database.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v temporal_password="$TEMPORAL_DB_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
REVOKE CONNECT ON DATABASE :"db" FROM PUBLIC;
SQL
