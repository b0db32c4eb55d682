#!/usr/bin/env bash
# Runs a command with PostgreSQL, Redis and Chromium available, as `make test` needs them:
# DATABASE_URL / REDIS_URL when set; else the servers on localhost's default ports; else throwaway
# servers started here from the machine's binaries (installed from Debian's packages if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ -z "${DATABASE_URL:-}" ]; then
  if port_open 5432; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/cavra"
  else
    pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$pgbin" ]; then apt_install postgresql; pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); fi
    data="$PWD/var/pg-test"
    if [ ! -d "$data" ]; then "$pgbin/initdb" -D "$data" -U postgres -A trust >/dev/null; fi
    "$pgbin/pg_ctl" -D "$data" -o "-p 55432 -k /tmp -c listen_addresses=127.0.0.1" -l var/pg-test.log -w start >/dev/null
    trap '"$pgbin/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true' EXIT
    export DATABASE_URL="postgres://postgres@127.0.0.1:55432/cavra"
    echo "test-env: started a throwaway PostgreSQL on 127.0.0.1:55432"
  fi
fi

if [ -z "${REDIS_URL:-}" ]; then
  if port_open 6379; then
    export REDIS_URL="redis://127.0.0.1:6379/0"
  else
    command -v redis-server >/dev/null || apt_install redis-server
    redis-server --port 56379 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
      --pidfile "$PWD/var/redis-test.pid" --logfile "$PWD/var/redis-test.log"
    trap 'kill "$(cat var/redis-test.pid)" 2>/dev/null || true' EXIT
    export REDIS_URL="redis://127.0.0.1:56379/0"
    echo "test-env: started a throwaway Redis on 127.0.0.1:56379"
  fi
fi

# Browser tests drive Debian's Chromium through Playwright; never a downloaded browser.
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium fonts-dejavu-core || echo "test-env: could not install chromium; browser tests will fail" >&2
fi

# PDF reports are rendered by WeasyPrint, which loads pango (and its fonts) from the system.
scripts/system-libs.sh

"$@"
