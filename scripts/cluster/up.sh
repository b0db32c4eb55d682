#!/usr/bin/env bash
# `make cluster`: the multi-node topology on one machine (docs/deployment.md, "Local cluster").
#   PostgreSQL primary (initdb, 127.0.0.1:$PRIMARY_PORT) -> streaming replica (pg_basebackup, :$REPLICA_PORT)
#   PgBouncer (transaction pooling, :$PGBOUNCER_PORT) in front of both
#   2 gunicorn web instances (:18201, :18202) behind HAProxy (:$CLUSTER_PORT, health on /readyz)
#   2 Celery workers + beat (advisory-locked) on RabbitMQ vhost $RABBIT_VHOST; the sequencer when present
# Debian packages it lacks are installed first. `make cluster-stop` ends every process it started.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
[ -n "$PGBIN" ] || need+=(postgresql)
command -v haproxy >/dev/null || need+=(haproxy)
command -v pgbouncer >/dev/null || need+=(pgbouncer)
command -v rabbitmqctl >/dev/null || need+=(rabbitmq-server)
command -v redis-server >/dev/null || port_open 6379 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "cluster: installing ${need[*]} from Debian"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
port_open 5672 || as_root service rabbitmq-server start
port_open 6379 || as_root service redis-server start

mkdir -p "$C/pids" "$C/logs" "$C/sock"
# PostgreSQL and PgBouncer refuse to run as root: they run as the postgres system user.
if [ "$(id -u)" = 0 ]; then RUN_PG=(runuser -u postgres --); chown postgres "$C" "$C/sock" "$C/logs"; else RUN_PG=(); fi
pg() { "${RUN_PG[@]}" "$PGBIN/$@"; }

# --- PostgreSQL primary -------------------------------------------------------------------------
if [ ! -d "$C/pg-primary" ]; then
  pg initdb -D "$C/pg-primary" -U postgres -A trust >/dev/null
  cat >>"$C/pg-primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PRIMARY_PORT
unix_socket_directories = '$C/sock'
wal_level = replica
max_wal_senders = 5
wal_keep_size = 256MB
hot_standby = on
max_connections = 200
shared_buffers = 128MB
synchronous_commit = on
CONF
fi
port_open "$PRIMARY_PORT" || pg pg_ctl -D "$C/pg-primary" -l "$C/logs/pg-primary.log" -w start >/dev/null
"$PGBIN/psql" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1 ||
  "$PGBIN/createdb" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres "$DB"

# --- streaming replica --------------------------------------------------------------------------
if [ ! -d "$C/pg-replica" ]; then
  pg pg_basebackup -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$C/pg-replica" -R -X stream -c fast
  cat >>"$C/pg-replica/postgresql.conf" <<CONF
port = $REPLICA_PORT
hot_standby_feedback = on
CONF
fi
port_open "$REPLICA_PORT" || pg pg_ctl -D "$C/pg-replica" -l "$C/logs/pg-replica.log" -w start >/dev/null
# Once the standby streams: a commit is acknowledged only when the standby has it, so promoting it loses
# no acknowledged decision (the cost: commits wait for the standby; SYNC_STANDBY= turns it off).
"$PGBIN/psql" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -qc "ALTER SYSTEM SET synchronous_standby_names = '${SYNC_STANDBY-*}'" \
  -c "SELECT pg_reload_conf()" >/dev/null

# --- PgBouncer (transaction pooling) ------------------------------------------------------------
cat >"$C/pgbouncer.ini" <<CONF
[databases]
$DB = host=127.0.0.1 port=$PRIMARY_PORT dbname=$DB
${DB}_replica = host=127.0.0.1 port=$REPLICA_PORT dbname=$DB
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
admin_users = postgres
auth_file = $C/pgbouncer-users.txt
pool_mode = transaction
max_client_conn = 400
default_pool_size = 20
server_reset_query =
server_login_retry = 1
ignore_startup_parameters = extra_float_digits,options
pidfile = $C/sock/pgbouncer.pid
logfile = $C/logs/pgbouncer.log
CONF
echo '"postgres" ""' >"$C/pgbouncer-users.txt"
[ "$(id -u)" = 0 ] && chown postgres "$C/pgbouncer.ini" "$C/pgbouncer-users.txt"
port_open "$PGBOUNCER_PORT" || "${RUN_PG[@]}" pgbouncer -d "$C/pgbouncer.ini"
wait_port "$PGBOUNCER_PORT"

# --- schema, seed data, broker vhost ------------------------------------------------------------
DATABASE_URL="$DIRECT_DATABASE_URL" "$PY" manage.py migrate --noinput -v 0
DATABASE_URL="$DIRECT_DATABASE_URL" "$PY" scripts/cluster/seed.py "$C/agent-token"
if [ "$(id -u)" = 0 ] && ! rabbitmqctl -q list_vhosts | grep -qx "$RABBIT_VHOST"; then
  rabbitmqctl -q add_vhost "$RABBIT_VHOST" && rabbitmqctl -q set_permissions -p "$RABBIT_VHOST" guest '.*' '.*' '.*'
fi

# --- web instances, workers, beat, sequencer, balancer ------------------------------------------
i=0
for port in $WEB_PORTS; do
  i=$((i + 1))
  port_open "$port" || start "web$i" "$ROOT/.venv/bin/gunicorn" cavra_portal.wsgi:application \
    --bind "127.0.0.1:$port" --workers "${WEB_WORKERS:-2}" --graceful-timeout 5 --timeout 30 \
    --access-logfile - --pid "$C/sock/web$i.gunicorn.pid"
done
for n in 1 2; do
  [ -f "$C/pids/worker$n.pid" ] && kill -0 "$(cat "$C/pids/worker$n.pid")" 2>/dev/null ||
    start "worker$n" "$ROOT/.venv/bin/celery" -A cavra_portal worker -Q "$QUEUES" -n "worker$n@cluster" \
      --concurrency 1 --without-gossip --without-mingle --loglevel INFO
done
[ -f "$C/pids/beat.pid" ] && kill -0 "$(cat "$C/pids/beat.pid")" 2>/dev/null ||
  start beat "$ROOT/.venv/bin/celery" -A cavra_portal beat --loglevel INFO --pidfile= -s "$C/beat-schedule"
if has_sequencer; then
  for n in 1 2; do
    [ -f "$C/pids/sequencer$n.pid" ] && kill -0 "$(cat "$C/pids/sequencer$n.pid")" 2>/dev/null ||
      DATABASE_URL="$DIRECT_DATABASE_URL" start "sequencer$n" "$PY" manage.py cavra_sequencer
  done
else
  echo "cluster: no sequencer command (evidence/management/commands/cavra_sequencer.py) in this tree; skipped"
fi

servers=""
i=0
for port in $WEB_PORTS; do
  i=$((i + 1))
  servers+="    server web$i 127.0.0.1:$port check inter 1s fall 2 rise 2"$'\n'
done
cat >"$C/haproxy.cfg" <<CONF
global
    maxconn 2000
    pidfile $C/sock/haproxy.pid
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 3s
    retries 3
    # A connection refused by a dead instance is retried on the other one; a request an instance
    # accepted is never replayed by the balancer (the client retries it with its Idempotency-Key).
    retry-on conn-failure
    option redispatch
    option forwardfor
    option http-server-close
frontend portal
    bind 127.0.0.1:$CLUSTER_PORT
    default_backend web
backend web
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz hdr Host 127.0.0.1
    http-check expect status 200
$servers
listen stats
    bind 127.0.0.1:$HAPROXY_STATS_PORT
    stats enable
    stats uri /
CONF
for port in $WEB_PORTS; do  # the first readiness answer loads the migration graph: warm it up
  wait_port "$port" && curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" || true
done
if ! port_open "$CLUSTER_PORT"; then
  haproxy -c -q -f "$C/haproxy.cfg"
  start haproxy haproxy -db -f "$C/haproxy.cfg"
fi
wait_port "$CLUSTER_PORT"
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$CLUSTER_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
echo "cluster: serving on http://127.0.0.1:$CLUSTER_PORT  (readyz: $(curl -sS "http://127.0.0.1:$CLUSTER_PORT/readyz"))"
echo "cluster: agent token in $C/agent-token; logs in $C/logs; stop with make cluster-stop"
