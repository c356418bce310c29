#!/bin/sh
# Creates one database per service (POSTGRES_MULTIPLE_DATABASES=scoring,escrow,loans).
set -eu
for db in $(echo "$POSTGRES_MULTIPLE_DATABASES" | tr ',' ' '); do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" -c "CREATE DATABASE \"$db\""
done
