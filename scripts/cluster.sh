#!/usr/bin/env bash
# Starts a local TaskStream cluster of N silos (default 3) behind nginx on http://localhost:8000, and stops them all
# (by pid) on Ctrl-C or when it exits.
# Usage: scripts/cluster.sh [N] [extra silo arguments, e.g. --TaskStream:Cluster:Membership=redis]
# The balancer spreads requests over the silos' APIs on 127.0.0.1:8100+K; the silos believe X-Forwarded-For from
# the balancer's address (127.0.0.1) only. nginx (scripts/balancer.sh) runs as this user with its configuration, pid,
# logs and temporary files in ./cluster-run/ (no system service, nothing under /etc/nginx); silo K logs to
# ./cluster-run/silo-K.log.
# The silos share src/Silo/tasks.db (SQLite, WAL), the file `dotnet run --project src/Silo` uses, wherever this
# runs (--TaskStream:Database:Path=… chooses another).
# Ports: TASKSTREAM_PORT (8000, the balancer); base ports, silo K uses base + K: TASKSTREAM_API_PORT (8100),
# TASKSTREAM_SILO_PORT (11111), TASKSTREAM_GATEWAY_PORT (30000, opened only with --TaskStream:Cluster:Gateway=true).
# HTTPS: TASKSTREAM_TLS_CERT and TASKSTREAM_TLS_KEY (PEM files) put the balancer on https://localhost:8000 with HTTP/2.
set -euo pipefail
count=${1:-3}
shift || true
port=${TASKSTREAM_PORT:-8000}
api_port=${TASKSTREAM_API_PORT:-8100}
root=$(cd "$(dirname "$0")/.." && pwd)
run=$PWD/cluster-run
# Before "$@": a later setting of the same key wins.
settings=(--TaskStream:Cluster:ApiPort="$api_port"
          --TaskStream:Cluster:SiloPort="${TASKSTREAM_SILO_PORT:-11111}"
          --TaskStream:Cluster:GatewayPort="${TASKSTREAM_GATEWAY_PORT:-30000}"
          --TaskStream:Network:TrustedProxies=127.0.0.1
          --TaskStream:Database:Path="$root/src/Silo/tasks.db")
scheme=http tls=()
if [ -n "${TASKSTREAM_TLS_CERT:-}${TASKSTREAM_TLS_KEY:-}" ]; then
  scheme=https tls=(--cert "$(realpath "$TASKSTREAM_TLS_CERT")" --key "$(realpath "$TASKSTREAM_TLS_KEY")")
fi

command -v nginx >/dev/null || { echo "nginx is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
dotnet build "$root/src/Silo" -c Release --nologo -v q >/dev/null
dll="$root/src/Silo/bin/Release/net10.0/TaskStream.Silo.dll"
mkdir -p "$run"

pids=() nginx_pid=""
stop() {
  trap - INT TERM EXIT
  echo "stopping nginx and ${#pids[@]} silos"
  # The balancer first, so no request is sent to a silo that is stopping.
  if [ -n "$nginx_pid" ]; then kill -TERM "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop INT TERM EXIT

# Waits (bounded) until $1 (a /status URL) lists $2 active silos.
wait_for() {
  local url=$1 members=$2
  for _ in $(seq 1 120); do
    if curl -fsSk "$url" 2>/dev/null | grep -o '"silos":\[[^]]*\]' | grep -o '"S' | wc -l | grep -qx "$members"; then
      return 0
    fi
    sleep 0.5
  done
  echo "$url did not list $members silos; see $run/" >&2
  return 1
}

upstreams=()
for k in $(seq 0 $((count - 1))); do
  dotnet "$dll" --instance "$k" "${settings[@]}" "$@" >"$run/silo-$k.log" 2>&1 &
  pids+=($!)
  upstreams+=("127.0.0.1:$((api_port + k))")
  # Instance 0 holds the membership table under localhost clustering: the others join once it is up.
  if [ "$k" = 0 ]; then wait_for "http://127.0.0.1:$api_port/status" 1; fi
done
for k in $(seq 0 $((count - 1))); do wait_for "http://127.0.0.1:$((api_port + k))/status" "$count"; done

listen=(--listen "127.0.0.1:$port")
# localhost may resolve to ::1 first (curl, browsers): listen there too when this machine has IPv6 loopback.
if [ -e /proc/net/if_inet6 ] && grep -q '^0\{31\}1 ' /proc/net/if_inet6; then listen+=(--listen "[::1]:$port"); fi
bash "$root/scripts/balancer.sh" "$run" "${listen[@]}" "${tls[@]}" "${upstreams[@]}" &
nginx_pid=$!
wait_for "$scheme://localhost:$port/status" "$count"

echo "TaskStream cluster of $count silos is up at $scheme://localhost:$port/ (nginx, pid $nginx_pid; $run/)"
for k in $(seq 0 $((count - 1))); do echo "  silo $k: API http://127.0.0.1:$((api_port + k))/  (pid ${pids[$k]})"; done
echo "Ctrl-C stops them all."
wait
