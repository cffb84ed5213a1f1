#!/usr/bin/env bash
# Receives dora-tracker's outbound webhooks in a node receiver that verifies every signature
# with @octokit/webhooks-methods' `verify`, unmodified: builds the server, starts it on a
# random port with a fresh SQLite database (private targets allowed: the receiver is on
# loopback; quick retries), mints a token, runs check.mjs, stops the server. Exits non-zero
# on any failure.
# Needs node >= 20 and npm (the npm registry, once, for `npm ci`).
# DORA_PROFILE=release to check a release build (default: debug).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
profile="${DORA_PROFILE:-debug}"

cd "$root"
if [ "$profile" = release ]; then
  bin="$("$root/ci/build-binary.sh" --release)"
else
  bin="$("$root/ci/build-binary.sh")"
fi

if [ ! -d "$here/node_modules/@octokit/webhooks-methods" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
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
export DORA_WEBHOOK_ALLOW_PRIVATE_TARGETS=true
export DORA_WEBHOOK_FIRST_RETRY_SECONDS=0.2

"$bin" serve 2>"$tmp/server.log" &
server_pid=$!
url=""
for _ in $(seq 1 300); do
  url="$(grep -o 'listening on http://[0-9.:]*' "$tmp/server.log" | head -n1 | sed 's/listening on //' || true)"
  [ -n "$url" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$tmp/server.log" >&2
    echo "webhook-receiver: the server did not start" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  cat "$tmp/server.log" >&2
  echo "webhook-receiver: the server did not report its address" >&2
  exit 1
fi

# The server created the database; the token is minted in it (`token issue` never creates one).
token="$("$bin" token issue --org acme --scope "admin ingest read" --sub ci-bot --ttl 1h)"

status=0
DORA_URL="$url" DORA_ADMIN_TOKEN="$token" node "$here/check.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log" >&2
  tail -n 50 "$tmp/server.log" >&2
fi
exit "$status"
