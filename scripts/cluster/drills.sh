#!/usr/bin/env bash
# `make test-cluster`: a fresh local cluster, the failover drills under load, then everything stopped
# and var/cluster removed (the failover drill leaves the old primary down). Bounded: ~5 minutes.
set -uo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
export PGBIN
scripts/cluster/down.sh >/dev/null 2>&1; rm -rf "$C"
trap 'CLUSTER_CLEAN=1 scripts/cluster/down.sh' EXIT
scripts/cluster/up.sh || exit 1
timeout 900 "$PY" scripts/cluster/drills.py "$@"
