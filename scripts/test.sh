#!/usr/bin/env bash
# Runs every TaskStream test on a fresh machine. It first installs what the tests drive besides .NET
# (curl, and the npm SSE client in tests/clients), then runs `dotnet test` on the solution.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v curl >/dev/null; then
  apt-get update && apt-get install -y curl
fi
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
