#!/usr/bin/env bash
# `make cluster-stop`: ends every process `make cluster` started (by its recorded pid), then PostgreSQL.
# CLUSTER_CLEAN=1 also removes var/cluster (both database clusters).
set -uo pipefail
source "$(dirname "$0")/env.sh"
[ -d "$C" ] || exit 0
for name in haproxy web1 web2 worker1 worker2 beat sequencer1 sequencer2 loadgen; do stop_pid "$name"; done
if [ -f "$C/sock/pgbouncer.pid" ]; then kill -TERM "$(cat "$C/sock/pgbouncer.pid")" 2>/dev/null; sleep 0.5; fi
if [ "$(id -u)" = 0 ]; then RUN_PG=(runuser -u postgres --); else RUN_PG=(); fi
for d in pg-replica pg-primary; do
  [ -f "$C/$d/postmaster.pid" ] && "${RUN_PG[@]}" "$PGBIN/pg_ctl" -D "$C/$d" -m fast -w stop >/dev/null 2>&1
done
if [ "${CLUSTER_CLEAN:-0}" = 1 ]; then rm -rf "$C"; fi
echo "cluster: stopped"
