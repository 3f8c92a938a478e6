#!/usr/bin/env bash
# Starts a local TaskStream cluster of N silos (default 3) and stops them all on Ctrl-C.
# Silo K serves its API on http://localhost:800K; Orleans ports are offset by K as well.
# Usage: scripts/cluster.sh [N] [extra silo arguments, e.g. --TaskStream:Cluster:Membership=redis]
# Logs go to ./cluster-logs/silo-K.log; the silos share src/Silo/tasks.db (SQLite, WAL), the file
# `dotnet run --project src/Silo` uses, wherever this runs (--TaskStream:Database:Path=… chooses another).
# Base ports (silo K uses base + K): TASKSTREAM_API_PORT (8000), TASKSTREAM_SILO_PORT (11111),
# TASKSTREAM_GATEWAY_PORT (30000, opened only with --TaskStream:Cluster:Gateway=true).
set -euo pipefail
count=${1:-3}
shift || true
api_port=${TASKSTREAM_API_PORT:-8000}
root=$(cd "$(dirname "$0")/.." && pwd)
# Before "$@": a later setting of the same key wins.
settings=(--TaskStream:Cluster:ApiPort="$api_port"
          --TaskStream:Cluster:SiloPort="${TASKSTREAM_SILO_PORT:-11111}"
          --TaskStream:Cluster:GatewayPort="${TASKSTREAM_GATEWAY_PORT:-30000}"
          --TaskStream:Database:Path="$root/src/Silo/tasks.db")

dotnet build "$root/src/Silo" -c Release --nologo -v q >/dev/null
dll="$root/src/Silo/bin/Release/net10.0/TaskStream.Silo.dll"
mkdir -p cluster-logs

pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping ${#pids[@]} silos"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

# Waits (bounded) until silo K's /status lists $2 active silos.
wait_for() {
  local k=$1 members=$2
  for _ in $(seq 1 120); do
    if curl -fsS "http://localhost:$((api_port + k))/status" 2>/dev/null | grep -o '"silos":\[[^]]*\]' | grep -o '"S' | wc -l | grep -qx "$members"; then
      return 0
    fi
    sleep 0.5
  done
  echo "silo $k did not see $members members; see cluster-logs/silo-$k.log" >&2
  return 1
}

for k in $(seq 0 $((count - 1))); do
  dotnet "$dll" --instance "$k" "${settings[@]}" "$@" >"cluster-logs/silo-$k.log" 2>&1 &
  pids+=($!)
  # Instance 0 holds the membership table under localhost clustering: the others join once it is up.
  if [ "$k" = 0 ]; then wait_for 0 1; fi
done
for k in $(seq 0 $((count - 1))); do wait_for "$k" "$count"; done

echo "TaskStream cluster of $count silos is up:"
for k in $(seq 0 $((count - 1))); do echo "  silo $k: http://localhost:$((api_port + k))/  (pid ${pids[$k]})"; done
echo "Ctrl-C stops them all."
wait
