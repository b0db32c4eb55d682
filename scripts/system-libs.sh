#!/usr/bin/env bash
# System libraries the Python packages load at run time: pango (+ a font) for WeasyPrint's PDF reports.
# `make demo` (with --optional: warns and goes on) and scripts/test-env.sh (fails) call this. It installs
# Debian's packages only when allowed (scripts/system-packages.sh), and always prints the command first.
#   --list-missing   print the missing packages (one line) and exit 0, installing nothing
#   --optional       when not allowed to install, warn that PDF reports will fail instead of failing
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/system-packages.sh

PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)
missing=()
ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0' || missing=("${PACKAGES[@]}")

if [ "${1:-}" = "--list-missing" ]; then
  echo "${missing[*]}"
  exit 0
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if ! system_packages_install system-libs "PDF reports (WeasyPrint loads pango)" "${missing[@]}"; then
  if [ "${1:-}" = "--optional" ]; then
    echo "system-libs: going on without pango: PDF reports will fail until it is installed" >&2
    exit 0
  fi
  exit 1
fi
