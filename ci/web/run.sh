#!/usr/bin/env bash
# Drives dora-tracker's web page in a real browser: Debian's Chromium through playwright-core
# (which never downloads a browser of its own). Builds the server, starts it on a free port with
# a fresh SQLite database, mints a read and an ingest token, and runs check.mjs, which seeds a
# history through the API, checks the page against the JSON API and saves screenshots under
# the folder it prints (DORA_SCREENSHOTS, default ci/web/screenshots). Exits non-zero on any
# failure. Needs node >= 20, npm (the npm registry, once, for `npm ci`) and /usr/bin/chromium
# (`apt-get install chromium`; .ci/run installs it).
# DORA_PROFILE=release to check a release build (default: debug).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
profile="${DORA_PROFILE:-debug}"
chromium="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$chromium" ]; then
  echo "web: $chromium is missing (apt-get install -y chromium)" >&2
  exit 1
fi

cd "$root"
if [ "$profile" = release ]; then
  bin="$("$root/ci/build-binary.sh" --release)"
else
  bin="$("$root/ci/build-binary.sh")"
fi

if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

export DATABASE_URL="sqlite://$tmp/dora.db?mode=rwc"
DORA_JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
export DORA_JWT_SECRET
export DORA_LISTEN="127.0.0.1:0"
export RUST_LOG="${RUST_LOG:-warn}"
unset DORA_PUBLIC_URL

"$bin" serve 2>"$tmp/server.log" &
server_pid=$!
url=""
for _ in $(seq 1 300); do
  url="$(grep -o 'listening on http://[0-9.:]*' "$tmp/server.log" | head -n1 | sed 's/listening on //' || true)"
  [ -n "$url" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$tmp/server.log" >&2
    echo "web: the server did not start" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  cat "$tmp/server.log" >&2
  echo "web: the server did not report its address" >&2
  exit 1
fi

# `serve` created the database; `token issue` uses it (and creates the organizations).
ingest="$("$bin" token issue --org acme --scope ingest --sub ci-seeder --ttl 1h)"
read_token="$("$bin" token issue --org acme --scope read --sub ci-manager --ttl 2h)"
other="$("$bin" token issue --org globex --scope "ingest read" --sub ci-other --ttl 1h)"

status=0
DORA_URL="$url" DORA_INGEST_TOKEN="$ingest" DORA_READ_TOKEN="$read_token" \
  DORA_OTHER_TOKEN="$other" CHROMIUM="$chromium" \
  DORA_SCREENSHOTS="${DORA_SCREENSHOTS:-$here/screenshots}" \
  node "$here/check.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log" >&2
  tail -n 50 "$tmp/server.log" >&2
fi
exit "$status"
