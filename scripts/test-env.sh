#!/usr/bin/env bash
# Runs a command with PostgreSQL, Redis and Chromium available, as `make test` needs them:
# DATABASE_URL / REDIS_URL when set; else the servers on localhost's default ports; else throwaway
# servers started here from the machine's binaries. System packages that are missing are listed with
# the exact install command first; they are installed only when allowed (CAVRA_INSTALL_SYSTEM_PACKAGES=1,
# or as root under CI: see scripts/system-packages.sh), otherwise this fails before running anything.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
source scripts/system-packages.sh

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-; }
cleanup=""
trap 'eval "$cleanup"' EXIT  # every throwaway server started below is stopped, whichever way this ends
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true; }

# What is missing, and why, before anything is started or installed.
missing=()
needed_for=()
if [ -z "${DATABASE_URL:-}" ] && ! port_open 5432 && [ -z "$(pg_bindir)" ]; then
  missing+=(postgresql)
  needed_for+=("a throwaway PostgreSQL (no DATABASE_URL, nothing on 127.0.0.1:5432)")
fi
if [ -z "${REDIS_URL:-}" ] && ! port_open 6379 && ! command -v redis-server >/dev/null; then
  missing+=(redis-server)
  needed_for+=("a throwaway Redis (no REDIS_URL, nothing on 127.0.0.1:6379)")
fi
# Browser tests drive Debian's Chromium through Playwright; never a downloaded browser.
if [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium fonts-dejavu-core)
  needed_for+=("browser tests (/usr/bin/chromium)")
fi
# PDF reports are rendered by WeasyPrint, which loads pango (and its fonts) from the system.
read -r -a pango <<<"$(scripts/system-libs.sh --list-missing)"
if [ ${#pango[@]} -gt 0 ]; then
  missing+=("${pango[@]}")
  needed_for+=("PDF reports (WeasyPrint loads pango)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  read -r -a missing <<<"$(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++' | tr '\n' ' ')"
  reasons=$(IFS=';'; echo "${needed_for[*]}" | sed 's/;/; /g')
  system_packages_install test-env "$reasons" "${missing[@]}" || {
    echo "test-env: not running the tests: the packages above are missing" >&2
    exit 1
  }
fi

if [ -z "${DATABASE_URL:-}" ]; then
  if port_open 5432; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/cavra"
  else
    pgbin=$(pg_bindir)
    data="$PWD/var/pg-test"
    if [ ! -d "$data" ]; then "$pgbin/initdb" -D "$data" -U postgres -A trust >/dev/null; fi
    "$pgbin/pg_ctl" -D "$data" -o "-p 55432 -k /tmp -c listen_addresses=127.0.0.1" -l var/pg-test.log -w start >/dev/null
    cleanup+='"$pgbin/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true; '
    export DATABASE_URL="postgres://postgres@127.0.0.1:55432/cavra"
    echo "test-env: started a throwaway PostgreSQL on 127.0.0.1:55432"
  fi
fi

if [ -z "${REDIS_URL:-}" ]; then
  if port_open 6379; then
    export REDIS_URL="redis://127.0.0.1:6379/0"
  else
    redis-server --port 56379 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
      --pidfile "$PWD/var/redis-test.pid" --logfile "$PWD/var/redis-test.log"
    cleanup+='kill "$(cat var/redis-test.pid)" 2>/dev/null || true; '
    export REDIS_URL="redis://127.0.0.1:56379/0"
    echo "test-env: started a throwaway Redis on 127.0.0.1:56379"
  fi
fi

"$@"
