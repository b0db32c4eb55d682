#!/usr/bin/env bash
# System libraries the Python packages load at run time, installed from Debian's packages when missing:
# pango (+ a font) for WeasyPrint's PDF reports. `make demo` and scripts/test-env.sh call this.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

if ! ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0'; then
  { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 \
      fonts-dejavu-core >/dev/null; } ||
    echo "system-libs: could not install pango (libpango-1.0-0 libpangoft2-1.0-0); PDF reports will fail" >&2
fi
