#!/usr/bin/env bash
# Runs nginx in the foreground, as the invoking user, as TaskStream's load balancer, with everything it writes (its
# configuration, pid, logs and temporary files) in RUN_DIR: no system service, nothing under /etc/nginx. It execs
# nginx, so its pid is nginx's: stop it with SIGTERM to that pid. scripts/cluster.sh and the bench's scale scenario
# run it; the site itself comes from scripts/nginx-site.sh.
# Usage: scripts/balancer.sh RUN_DIR [scripts/nginx-site.sh arguments: --listen …, --cert FILE --key FILE, SILO_API…]
set -euo pipefail
run=$(realpath "$1")
shift
here=$(dirname "$0")
command -v nginx >/dev/null || { echo "nginx is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$run/temp"
{
  echo "# Written by scripts/balancer.sh; relative paths are relative to this folder (nginx -p)."
  echo "worker_processes auto;"
  # Each stream holds two connections (the client's and the one to its silo).
  echo "worker_rlimit_nofile 65536;"
  echo "pid nginx.pid;"
  echo "error_log nginx-error.log warn;"
  # nginx started by root would run its workers as nobody, who cannot write the temporary folders here.
  if [ "$(id -u)" = 0 ]; then echo "user root;"; fi
  echo "events { worker_connections 16384; }"
  echo "http {"
  echo "    access_log nginx-access.log combined buffer=64k flush=1s;"
  for kind in client_body proxy fastcgi uwsgi scgi; do echo "    ${kind}_temp_path temp/$kind;"; done
  bash "$here/nginx-site.sh" "$@" | sed 's/^./    &/'
  echo "}"
} >"$run/nginx.conf"
nginx -p "$run/" -c "$run/nginx.conf" -e "$run/nginx-error.log" -t -q
exec nginx -p "$run/" -c "$run/nginx.conf" -e "$run/nginx-error.log" -g 'daemon off;'
