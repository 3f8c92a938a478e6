#!/usr/bin/env bash
# Installs and starts what the tests drive besides .NET, on a fresh machine (needs root): curl, iproute2 (remote
# clients are network namespaces of their own), the sqlite3 CLI (and psql, with PostgreSQL) for writes made past
# TaskStream, PostgreSQL (started, with a role that may create databases), redis-server (the tests start their
# own on free ports), nginx (scripts/cluster.sh's load balancer, run as the invoking user, not as a service), Debian's
# chromium, openssl (the HTTPS test's certificate), socat (scripts/hosts.sh), and the npm clients in tests/clients (eventsource, playwright-core).
# SKIP_DROP=1 keeps leftover ts_test_ databases (they may be another run's, still in use).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v curl >/dev/null || missing+=(curl)
command -v ip >/dev/null || missing+=(iproute2)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nginx >/dev/null || missing+=(nginx)
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v openssl >/dev/null || missing+=(openssl)
command -v socat >/dev/null || missing+=(socat)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PostgreSQL: start the machine's cluster (whichever version it has) and a role for the tests.
read -r pg_version pg_cluster _ < <(pg_lsclusters -h | head -n 1)
pg_ctlcluster "$pg_version" "$pg_cluster" start 2>/dev/null || true
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 0.5; done
# Test classes run side by side, each with silos and pools of its own: 100 connections (the default) ran out.
if [ "$(su postgres -c "psql -qtAc 'SHOW max_connections'")" -lt 300 ]; then
  su postgres -c "psql -qc 'ALTER SYSTEM SET max_connections = 300'" >/dev/null
  pg_ctlcluster "$pg_version" "$pg_cluster" restart
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 0.5; done
fi
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'taskstream'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE ROLE taskstream LOGIN PASSWORD 'taskstream' CREATEDB\""
# Test databases an interrupted earlier run left behind (the tests drop their own).
if [ "${SKIP_DROP:-0}" != 1 ]; then
  for db in $(su postgres -c "psql -qtAc \"SELECT datname FROM pg_database WHERE datname LIKE 'ts_test_%'\""); do
    su postgres -c "psql -qc \"DROP DATABASE IF EXISTS $db WITH (FORCE)\"" >/dev/null || true
  done
fi

(cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)
