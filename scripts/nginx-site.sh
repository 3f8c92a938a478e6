#!/usr/bin/env bash
# Prints the nginx configuration (an upstream and a server block, for nginx's http context) that puts one address in
# front of TaskStream silos. scripts/cluster.sh and the bench's scale scenario use it; deploy/nginx/taskstream.conf is
# its output for a 3-host cluster. Why each setting is there: docs/deployment.md#the-load-balancer.
# Usage: scripts/nginx-site.sh [--listen ADDRESS:PORT]... [--cert FILE --key FILE] [--name NAME] SILO_API...
#   --listen   where the balancer listens (repeatable) [127.0.0.1:8000]
#   --cert/--key  serve HTTPS with HTTP/2 (PEM files) instead of plain HTTP
#   --name     server_name [_]
#   SILO_API   each silo's API as ADDRESS:PORT, e.g. 127.0.0.1:8100
set -euo pipefail
listen=() cert="" key="" name="_"
while [ $# -gt 0 ]; do
  case $1 in
    --listen) listen+=("$2"); shift 2 ;;
    --cert) cert=$2; shift 2 ;;
    --key) key=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--listen ADDRESS:PORT]... [--cert FILE --key FILE] [--name NAME] SILO_API..." >&2; exit 2; }
[ ${#listen[@]} -gt 0 ] || listen=(127.0.0.1:8000)
if [ -n "$cert$key" ] && { [ -z "$cert" ] || [ -z "$key" ]; }; then echo "--cert and --key go together" >&2; exit 2; fi

echo "# TaskStream behind nginx, written by scripts/nginx-site.sh: see docs/deployment.md#the-load-balancer."
echo "upstream taskstream {"
for silo in "$@"; do
  # Passive health: one failed connect, timeout, 502 or 503 takes a silo out for 5 s (then real traffic tries it again).
  echo "    server $silo max_fails=1 fail_timeout=5s;"
done
cat <<'EOF'
    # Idle HTTP/1.1 connections kept open to the silos, so a short stream does not pay for a new TCP connection.
    keepalive 32;
}

server {
EOF
for address in "${listen[@]}"; do
  if [ -n "$cert" ]; then echo "    listen $address ssl http2;"; else echo "    listen $address;"; fi
done
echo "    server_name $name;"
if [ -n "$cert" ]; then
  echo "    ssl_certificate $cert;"
  echo "    ssl_certificate_key $key;"
fi
cat <<'EOF'

    location / {
        proxy_pass http://taskstream;
        # HTTP/1.1 without "Connection: close", so the upstream keepalive above is used.
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        # The name the client asked for: the silos' AllowedHosts and loopback rule judge it.
        proxy_set_header Host $http_host;
        # The client's own address, replacing whatever it sent: this is the edge. The silos trust this header
        # from the balancer's address only (TaskStream:Network:TrustedProxies).
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        # Server-Sent Events: pass every event on at once, never hold a stream back in a buffer.
        proxy_buffering off;
        # A stream is silent for at most HeartbeatSeconds (15 s) between events: 35 s is two heartbeats missed, so
        # a quiet stream stays open and one whose silo went silent (a partition) ends, and its client resumes elsewhere.
        proxy_read_timeout 35s;
        proxy_send_timeout 35s;
        # A silo that does not accept a connection within 1 s is skipped (a host that is down drops the SYN: no
        # refusal comes). A request no silo answered yet, or one a silo refused with 502/503 (stopping), goes to the
        # next silo; nginx never resends POST or PATCH (no non_idempotent): clients retry those with an Idempotency-Key.
        proxy_connect_timeout 1s;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_tries 3;
        proxy_next_upstream_timeout 5s;
    }
}
EOF
