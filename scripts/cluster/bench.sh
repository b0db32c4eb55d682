#!/usr/bin/env bash
# `make bench-cluster`: scripts/cluster/bench.py with the cluster's environment (it starts and removes its own cluster).
set -uo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
trap 'CLUSTER_CLEAN=1 scripts/cluster/down.sh >/dev/null 2>&1' EXIT
timeout 900 "$PY" scripts/cluster/bench.py "$@"
