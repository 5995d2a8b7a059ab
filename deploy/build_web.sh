#!/usr/bin/env bash
# Builds the web workspace (web/ -> web/dist, which the gateway serves) only when it must:
#   - the build inputs (web/src, index.html, package.json, package-lock.json, the TypeScript and
#     Vite configs) are hashed; when the hash equals the stamp of the last successful build
#     (web/dist/.build-stamp) nothing happens and nothing is printed;
#   - otherwise Node.js and npm are installed from Debian when missing, then `npm ci` (only when
#     the lockfile changed since the last install: stamp in web/node_modules) and `npm run build`,
#     then every text asset gets a .gz twin the gateway sends to clients that accept gzip.
# On failure prints the failing step's output and exits non-zero; web/dist is replaced only by a
# complete build. Usage: deploy/build_web.sh [--force]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../web"

force=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
  esac
done

STAMP=dist/.build-stamp
INSTALL_STAMP=node_modules/.lockfile.sha256
INPUTS=(index.html package.json package-lock.json tsconfig.json vite.config.ts src)

inputs_hash() {
  find "${INPUTS[@]}" -type f ! -name '*.test.ts' ! -name '*.test.tsx' -print0 2>/dev/null |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

wanted=$(inputs_hash)
if [ "$force" -eq 0 ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail() {
  echo "deploy/build_web.sh: $1 failed; its output follows:" >&2
  cat "$log" >&2
  exit 1
}
quietly() {
  local what=$1
  shift
  "$@" >"$log" 2>&1 </dev/null || fail "$what"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  command -v apt-get >/dev/null || {
    echo "deploy/build_web.sh: Node.js and npm are needed; install them by hand" >&2
    exit 1
  }
  echo "deploy/build_web.sh: installing nodejs npm (apt-get)" >&2
  quietly "apt-get update" as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  quietly "apt-get install nodejs npm" \
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
fi

echo "deploy/build_web.sh: building the web workspace" >&2
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$INSTALL_STAMP" 2>/dev/null)" != "$lock_hash" ]; then
  quietly "npm ci" npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >"$INSTALL_STAMP"
fi

rm -rf dist.new
quietly "npm run build" npm run build -- --outDir dist.new --emptyOutDir
find dist.new -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.svg' -o -name '*.json' \) \
  -size +1k -exec gzip -9 -k -n {} \;
echo "$wanted" >dist.new/.build-stamp
rm -rf dist.old
if [ -d dist ]; then mv dist dist.old; fi
mv dist.new dist
rm -rf dist.old
