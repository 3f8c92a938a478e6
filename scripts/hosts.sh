#!/usr/bin/env bash
# Silos on separate "hosts", for a demo on one machine: N silos (default 3), each in a network namespace of its own
# with its own address on a private LAN (a bridge, 10.233.0.0/24; this machine is 10.233.0.1 on it), membership in a
# redis-server and the store in PostgreSQL (both reached on 10.233.0.1), and nginx in front on
# http://127.0.0.1:8000, configured by scripts/balancer.sh. Ctrl-C stops everything it started,
# by pid, and removes the namespaces.
#
#   sudo bash scripts/hosts.sh [N] [--Key=Value ...]     extra arguments go to every silo
#
# Then, from another terminal:
#   curl -N localhost:8000/tasks/stream?follow=true      a follower, through nginx
#   kill -9 <a silo's pid>                               a crash (pids are printed below)
#   ip -n taskstream-demo-lan link set h1 down           a partition of silo 1 ("up" heals it)
#   ip netns exec taskstream-demo-1 curl -s 10.233.0.11:8080/status
#
# Needs root, iproute2, nginx, redis-server, socat (PostgreSQL listens on loopback: socat forwards to it from the
# LAN) and a PostgreSQL server: PGHOST, PGPORT, PGUSER, PGPASSWORD (default: the taskstream role scripts/setup.sh
# creates on 127.0.0.1:5432); the database taskstream_hosts is created when missing. TASKSTREAM_PORT moves nginx.
set -euo pipefail
cd "$(dirname "$0")/.."

count=3
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then count=$1; shift; fi
port=${TASKSTREAM_PORT:-8000}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-taskstream} PGPASSWORD=${PGPASSWORD:-taskstream}
database=taskstream_hosts
lan=taskstream-demo-lan
net=10.233.0
root=$net.1

[ "$(id -u)" = 0 ] || { echo "hosts.sh needs root (network namespaces)" >&2; exit 1; }
for tool in ip nginx redis-server socat psql dotnet curl; do
  command -v "$tool" >/dev/null || { echo "hosts.sh needs $tool" >&2; exit 1; }
done
if ip netns list | grep -q "^$lan"; then
  echo "$lan exists: another hosts.sh runs, or one was killed (remove it: ip netns del $lan; and taskstream-demo-0..)" >&2
  exit 1
fi

run=$(mktemp -d /tmp/taskstream-hosts.XXXXXX)
pids=()      # nginx and the silos: stopped first
services=()  # Redis and the database forwarder: stopped last (a stopping silo leaves the membership table in Redis)
stop() {
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    local running=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && running=1; done
    [ "$running" = 0 ] && return 0 # (a bare return in a trap handler returns the interrupted wait's status)
    sleep 0.5
  done
  for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; done
}
cleanup() {
  trap - EXIT INT TERM
  set +e # stop everything, whatever fails on the way
  echo "stopping…"
  stop "${pids[@]}"
  stop "${services[@]}"
  wait 2>/dev/null || true
  for i in $(seq 0 $((count - 1))); do ip netns del "taskstream-demo-$i" 2>/dev/null || true; done
  ip netns del "$lan" 2>/dev/null || true
  echo "stopped; logs in $run"
}
trap cleanup EXIT INT TERM

# The LAN: a bridge in a namespace of its own, this machine plugged in at $root, one veth pair per host.
ip netns add "$lan"
ip -n "$lan" link add lan type bridge
ip -n "$lan" link set lan up
ip link add tsdemo type veth peer name root netns "$lan"
ip -n "$lan" link set root master lan up
ip addr add "$root/24" dev tsdemo
ip link set tsdemo up
for i in $(seq 0 $((count - 1))); do
  ip netns add "taskstream-demo-$i"
  ip -n "$lan" link add "h$i" type veth peer name eth0 netns "taskstream-demo-$i"
  ip -n "$lan" link set "h$i" master lan up
  ip -n "taskstream-demo-$i" addr add "$net.$((10 + i))/24" dev eth0
  ip -n "taskstream-demo-$i" link set eth0 up
  ip -n "taskstream-demo-$i" link set lo up
done

# Protected mode would serve loopback only; this Redis listens on the private LAN alone.
redis-server --port 6379 --bind "$root" --protected-mode no --save '' --appendonly no >"$run/redis.log" 2>&1 &
services+=($!)
socat "TCP-LISTEN:5432,bind=$root,fork,reuseaddr" "TCP:$PGHOST:$PGPORT" 2>"$run/socat.log" &
services+=($!)
psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1 || psql -d postgres -qc "CREATE DATABASE $database"

dotnet build src/Silo -c Release -v q -nologo >"$run/build.log" || { cat "$run/build.log"; exit 1; }
silo_dll=src/Silo/bin/Release/net10.0/TaskStream.Silo.dll
start_silo() {
  local i=$1 address=$net.$((10 + $1))
  ip netns exec "taskstream-demo-$i" dotnet "$silo_dll" --urls="http://$address:8080" \
    --TaskStream:Cluster:Membership=redis --TaskStream:Cluster:Redis="$root:6379" \
    --TaskStream:Cluster:AdvertisedAddress="$address" --TaskStream:Cluster:SiloPort=11111 \
    --TaskStream:Database:Provider=postgres \
    --TaskStream:Database:ConnectionString="Host=$root;Port=5432;Username=$PGUSER;Password=$PGPASSWORD;Database=$database;Maximum Pool Size=50" \
    --TaskStream:Network:TrustedProxies="$root" "${@:2}" >"$run/silo-$i.log" 2>&1 &
  pids+=($!)
  echo "silo $i: pid $!, http://$address:8080 (log $run/silo-$i.log)"
}
answers() { curl -sf "http://$net.$((10 + $1)):8080/status" >/dev/null; }
wait_for() {
  for _ in $(seq 1 120); do answers "$1" && return 0; sleep 0.5; done
  echo "silo $1 did not start; see $run/silo-$1.log" >&2
  exit 1
}
# The first silo creates the schema and sample tasks; the others find them.
start_silo 0 "$@"
wait_for 0
for i in $(seq 1 $((count - 1))); do start_silo "$i" "$@"; done
for i in $(seq 1 $((count - 1))); do wait_for "$i"; done

upstreams=()
for i in $(seq 0 $((count - 1))); do upstreams+=("$net.$((10 + i)):8080"); done
bash scripts/balancer.sh "$run/nginx" --listen "127.0.0.1:$port" "${upstreams[@]}" &
pids+=($!)

members=0
for _ in $(seq 1 60); do
  members=$(curl -sf "http://$net.10:8080/status" | grep -o '"silos":\[[^]]*\]' | grep -o '"S' | wc -l || true)
  [ "$members" -ge "$count" ] && break
  sleep 0.5
done
echo "$members of $count silos active; nginx on http://127.0.0.1:$port (pid ${pids[-1]}). Ctrl-C stops all."
wait
