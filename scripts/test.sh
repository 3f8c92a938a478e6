#!/usr/bin/env bash
# Runs every TaskStream test on a fresh machine. It first installs and starts what the tests drive besides
# .NET — curl, PostgreSQL (started, with a role that may create databases), redis-server (the tests start
# their own on free ports), and the npm SSE client in tests/clients — then runs `dotnet test`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v curl >/dev/null || missing+=(curl)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PostgreSQL: start the machine's cluster (whichever version it has) and a role for the tests.
read -r pg_version pg_cluster _ < <(pg_lsclusters -h | head -n 1)
pg_ctlcluster "$pg_version" "$pg_cluster" start 2>/dev/null || true
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 0.5; done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'taskstream'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE ROLE taskstream LOGIN PASSWORD 'taskstream' CREATEDB\""
export TASKSTREAM_TEST_POSTGRES="Host=127.0.0.1;Port=5432;Username=taskstream;Password=taskstream;Database=postgres"

(cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)

results=$(mktemp -d)
status=0
dotnet test TaskStream.sln -c Release --logger "trx;LogFileName=tests.trx" --results-directory "$results" || status=$?

# One plain closing line, the same in every language: "N passed, N failed".
counters=$(grep -ho '<Counters [^>]*>' "$results"/*.trx 2>/dev/null | head -n 1 || true)
passed=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
failed=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
echo "${passed:-0} passed, ${failed:-0} failed"
if [ "${passed:-0}" = 0 ]; then
  echo "no test ran" >&2
  status=1
fi
exit "$status"
