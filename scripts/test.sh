#!/usr/bin/env bash
# Runs every TaskStream test on a fresh machine. It first installs and starts what the tests drive besides
# .NET — curl, iproute2 (remote clients are network namespaces of their own; this needs root), the sqlite3
# CLI (and psql, with PostgreSQL) for writes made past TaskStream, PostgreSQL
# (started, with a role that may create databases), redis-server (the tests start their own on free ports),
# Debian's chromium, and the npm clients in tests/clients (eventsource, playwright-core) — then runs
# `dotnet test`. Browser screenshots land in ./artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v curl >/dev/null || missing+=(curl)
command -v ip >/dev/null || missing+=(iproute2)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
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
for db in $(su postgres -c "psql -qtAc \"SELECT datname FROM pg_database WHERE datname LIKE 'ts_test_%'\""); do
  su postgres -c "psql -qc \"DROP DATABASE IF EXISTS $db WITH (FORCE)\"" >/dev/null || true
done
export TASKSTREAM_TEST_POSTGRES="Host=127.0.0.1;Port=5432;Username=taskstream;Password=taskstream;Database=postgres"

(cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)

# Files for people to look at (the page tests' screenshots); kept after the run.
export TASKSTREAM_TEST_ARTIFACTS="$PWD/artifacts"
mkdir -p "$TASKSTREAM_TEST_ARTIFACTS" && rm -f "$TASKSTREAM_TEST_ARTIFACTS"/page-*.png

results=$(mktemp -d)
status=0
dotnet test TaskStream.sln -c Release --logger "trx;LogFileName=tests.trx" --results-directory "$results" || status=$?

# The README's cluster command: three silos form one cluster, and all stop when the script is stopped.
# (SIGTERM: the script's Ctrl-C trap handles both, and background jobs of a script ignore SIGINT.)
cluster_check() {
  local dir root=$PWD; dir=$(mktemp -d)
  (cd "$dir" && TASKSTREAM_API_PORT=18000 TASKSTREAM_SILO_PORT=21111 TASKSTREAM_GATEWAY_PORT=23000 \
    bash "$root/scripts/cluster.sh" 3 >cluster.out 2>&1) &
  local script=$!
  for _ in $(seq 1 240); do grep -q "cluster of 3 silos is up" "$dir/cluster.out" 2>/dev/null && break; sleep 0.5; done
  local ok=1
  for k in 0 1 2; do
    curl -fsS "http://localhost:$((18000 + k))/status" | grep -q '"silos":\["S[^]]*","S[^]]*","S[^]]*"\]' || ok=0
  done
  kill -TERM "$(pgrep -f "scripts/cluster.sh 3" | head -n 1)" 2>/dev/null || true
  wait "$script" || true
  for k in 0 1 2; do curl -fsS -m 2 "http://localhost:$((18000 + k))/status" >/dev/null 2>&1 && ok=0; done
  if [ "$ok" = 1 ]; then echo "cluster check: scripts/cluster.sh 3 formed one cluster and stopped cleanly"; return 0; fi
  echo "cluster check FAILED:" >&2; cat "$dir/cluster.out" >&2; tail -n 20 "$dir"/cluster-logs/*.log >&2
  return 1
}
cluster_passed=0
if cluster_check; then cluster_passed=1; else status=1; fi

# One plain closing line, the same in every language: "N passed, N failed".
counters=$(grep -ho '<Counters [^>]*>' "$results"/*.trx 2>/dev/null | head -n 1 || true)
passed=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
failed=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
passed=$(( ${passed:-0} + cluster_passed ))
failed=$(( ${failed:-0} + 1 - cluster_passed ))
for shot in "$TASKSTREAM_TEST_ARTIFACTS"/page-*.png; do
  if [ -e "$shot" ]; then echo "screenshot: ${shot#"$PWD"/}"; fi
done
echo "${passed} passed, ${failed} failed"
if [ "${passed}" -le 1 ]; then
  echo "no test ran" >&2
  status=1
fi
exit "$status"
