# Shared by the cluster scripts: ports, paths and the environment every portal process gets.
# Everything binds to 127.0.0.1 and lives under var/cluster/ (removed by `make cluster-stop CLUSTER_CLEAN=1`).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
C="$ROOT/var/cluster"
PY="$ROOT/.venv/bin/python"
PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
CLUSTER_PORT="${CLUSTER_PORT:-8080}"
PRIMARY_PORT="${PRIMARY_PORT:-18250}"
REPLICA_PORT="${REPLICA_PORT:-5433}"
PGBOUNCER_PORT="${PGBOUNCER_PORT:-18260}"
WEB_PORTS="${WEB_PORTS:-18201 18202}"
HAPROXY_STATS_PORT="${HAPROXY_STATS_PORT:-18290}"
RABBIT_VHOST="${RABBIT_VHOST:-cavra_cluster}"
DB=cavra

export DJANGO_SETTINGS_MODULE=cavra_portal.settings
export SECRET_KEY="${SECRET_KEY:-cluster-drill-secret-not-for-production}"
export ALLOWED_HOSTS="127.0.0.1,localhost"
export SECURE_SSL_REDIRECT=0 SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0 SECURE_HSTS_SECONDS=0
export BEHIND_TLS_PROXY=0 TRUSTED_PROXY_COUNT=1
export REDIS_URL="${CLUSTER_REDIS_URL:-redis://127.0.0.1:6379/2}"
# Web and workers go through PgBouncer (transaction pooling); the beat lock and the sequencer hold
# session advisory locks, so they connect to the primary directly.
export PGBOUNCER=1
export DATABASE_URL="postgres://postgres@127.0.0.1:$PGBOUNCER_PORT/$DB"
export DATABASE_REPLICA_URL="postgres://postgres@127.0.0.1:$PGBOUNCER_PORT/${DB}_replica"
# CLUSTER_REPLICA_READS=0: web instances without the replica (the benchmark's comparison).
[ "${CLUSTER_REPLICA_READS:-1}" = 0 ] && unset DATABASE_REPLICA_URL
export DIRECT_DATABASE_URL="postgres://postgres@127.0.0.1:$PRIMARY_PORT/$DB"
export BEAT_LOCK_DATABASE_URL="$DIRECT_DATABASE_URL"
export CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672/$RABBIT_VHOST"
export CELERY_TASK_ALWAYS_EAGER=0
export CELERY_QUEUE_PREFIX="cluster."
# E-mail (outbox notifications) to a local SMTP sink the drills run; nothing leaves the machine.
export EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend EMAIL_HOST=127.0.0.1 EMAIL_PORT="${SMTP_PORT:-18270}"
export CAVRA_EVIDENCE_SEQUENCER="${CAVRA_EVIDENCE_SEQUENCER:-process}"
QUEUES="cluster.default,cluster.notifications,cluster.reports,cluster.findings,cluster.checkpoints,cluster.retention"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 150); do port_open "$1" && return 0; sleep 0.2; done; echo "cluster: port $1 never opened" >&2; return 1; }
# start NAME CMD...: a background process with its pid in var/cluster/pids/NAME.pid and log in logs/NAME.log
start() {
  local name=$1; shift
  setsid "$@" >>"$C/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$C/pids/$name.pid"
}
stop_pid() {
  local f="$C/pids/$1.pid"
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
has_sequencer() { [ -f "$ROOT/evidence/management/commands/cavra_sequencer.py" ]; }
