#!/usr/bin/env bash
# Runs every TaskStream test on a fresh machine: scripts/setup.sh first installs and starts what the tests drive
# besides .NET (it needs root), then `dotnet test`, then the README's cluster command. Browser screenshots land
# in ./artifacts. The last line is "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export TASKSTREAM_TEST_POSTGRES="Host=127.0.0.1;Port=5432;Username=taskstream;Password=taskstream;Database=postgres"

# Files for people to look at (the page tests' screenshots); kept after the run.
export TASKSTREAM_TEST_ARTIFACTS="$PWD/artifacts"
mkdir -p "$TASKSTREAM_TEST_ARTIFACTS" && rm -f "$TASKSTREAM_TEST_ARTIFACTS"/page-*.png

results=$(mktemp -d)
status=0
dotnet test TaskStream.sln -c Release --logger "trx;LogFileName=tests.trx" --results-directory "$results" || status=$?

# The README's cluster command: three silos behind nginx form one cluster, streams through the one address are spread
# over the silos (each query on the silo that relayed it), a write from this machine passes the loopback rule through
# the balancer, and everything stops when the script is stopped.
# (SIGTERM: the script's Ctrl-C trap handles both, and background jobs of a script ignore SIGINT.)
cluster_check() {
  local dir root=$PWD; dir=$(mktemp -d)
  # exec: the background job is the script itself, so $! is its pid and the TERM below reaches its trap.
  # A database of its own, not the developer's src/Silo/tasks.db.
  (cd "$dir" && TASKSTREAM_PORT=18000 TASKSTREAM_API_PORT=18100 TASKSTREAM_SILO_PORT=21111 TASKSTREAM_GATEWAY_PORT=23000 \
    exec bash "$root/scripts/cluster.sh" 3 --TaskStream:Database:Path="$dir/tasks.db" >cluster.out 2>&1) &
  local script=$!
  for _ in $(seq 1 240); do grep -q "cluster of 3 silos is up" "$dir/cluster.out" 2>/dev/null && break; sleep 0.5; done
  local ok=1 base=http://localhost:18000
  curl -fsS "$base/status" | grep -q '"silos":\["S[^]]*","S[^]]*","S[^]]*"\]' || { ok=0; echo "the balancer's /status does not list 3 silos" >&2; }
  # 30 streams: the `end` event names the relaying silo and the query's; three relays, each its own query's silo.
  local ends; ends=$(for _ in $(seq 1 30); do curl -fsSN "$base/tasks/stream?limit=1" | grep '^data: {"count"'; done) || true
  [ "$(grep -c . <<<"$ends")" = 30 ] || { ok=0; echo "not every stream through the balancer ended: $ends" >&2; }
  [ "$(grep -o '"relay":"[^"]*"' <<<"$ends" | sort -u | wc -l)" = 3 ] || { ok=0; echo "streams were not spread over 3 silos: $ends" >&2; }
  grep -v '"silo":\("[^"]*"\),"relay":\1' <<<"$ends" >&2 && { ok=0; echo "those queries ran on another silo than their relay" >&2; }
  curl -fsS -o /dev/null --json '{"title":"Through the balancer"}' "$base/tasks" || { ok=0; echo "a write from this machine through the balancer was refused" >&2; }
  kill -TERM "$script" 2>/dev/null || true
  wait "$script" || true
  for p in 18000 18100 18101 18102; do curl -fsS -m 2 "http://localhost:$p/status" >/dev/null 2>&1 && { ok=0; echo "port $p still answers" >&2; }; done
  if [ "$ok" = 1 ]; then echo "cluster check: scripts/cluster.sh 3 served one address, spread streams over 3 silos and stopped cleanly"; return 0; fi
  echo "cluster check FAILED:" >&2; cat "$dir/cluster.out" >&2; tail -n 20 "$dir"/cluster-run/*.log >&2
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
