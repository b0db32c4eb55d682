#!/bin/sh
# Rebuild the vendored CodeMirror bundle (run by hand after changing versions; never by `make test`):
#   cd frontend/codemirror && npm ci && sh build.sh
set -eu
out=../../static/vendor/codemirror
mkdir -p "$out"
npx esbuild entry.js --bundle --minify --format=iife --target=es2019 --legal-comments=none \
  --outfile="$out/codemirror.bundle.js"
# Every package in the bundle (the non-dev entries of package-lock.json, all MIT): its version, then its licence.
node -e "const p=require('./package-lock.json').packages; console.log(Object.entries(p).filter(([k,v])=>k && !v.dev).map(([k,v])=>k.replace('node_modules/','')+' '+v.version).join('\n'))" > "$out/VERSIONS"
while read -r pkg version; do
  echo "== $pkg $version =="
  cat "node_modules/$pkg/LICENSE" 2>/dev/null || cat "node_modules/$pkg/LICENSE.md" 2>/dev/null || echo "(MIT; no licence file shipped)"
  echo
done < "$out/VERSIONS" > "$out/LICENSE"
ls -l "$out"
