#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth for user
# postgres (the test suite's default SUANLI_TEST_POSTGRES_URL). Starts the machine's
# cluster when it is down; installs Debian's postgresql when it is missing (root only).
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if [ -n "${SUANLI_TEST_POSTGRES_URL:-}" ]; then
  exit 0  # the caller points the tests at its own server
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "PostgreSQL is not installed; installing Debian's postgresql" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if ! ready; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "starting PostgreSQL $version" >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
for _ in $(seq 1 50); do
  ready && break
  sleep 0.2
done
if ! ready; then
  echo "error: PostgreSQL does not answer on 127.0.0.1:5432" >&2
  exit 1
fi
# Trust auth for local TCP connections is how this machine kind is set up; check it.
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  conf=$(ls /etc/postgresql/*/main/pg_hba.conf | tail -n 1)
  echo "enabling trust auth for 127.0.0.1 in $conf" >&2
  sed -i '1i host all all 127.0.0.1/32 trust' "$conf"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main reload
fi
