# Sourced by the ci/*/run.sh checks that run a node client against a fresh service. After
# `source ci/lib/serve.sh NAME`:
#   bin          the dora-tracker binary (DORA_PROFILE=release: a release build; default debug)
#   npm_ci DIR PACKAGE [ENV=VALUE…]   `npm ci` in DIR unless DIR/node_modules/PACKAGE exists
#   serve        starts `dora-tracker serve` on a free loopback port with a fresh SQLite
#                database and JWT secret (variables exported before it are the service's
#                settings); sets `url`; stops the service and removes its files on exit
#   finish STATUS  prints the end of the server log when STATUS is not 0, then exits STATUS
# Every message starts with NAME.
set -euo pipefail

ci_name="$1"
ci_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

cd "$ci_root"
if [ "${DORA_PROFILE:-debug}" = release ]; then
  bin="$("$ci_root/ci/build-binary.sh" --release)"
else
  bin="$("$ci_root/ci/build-binary.sh")"
fi

npm_ci() {
  local dir="$1" package="$2"
  shift 2
  if [ ! -d "$dir/node_modules/$package" ]; then
    (cd "$dir" && env "$@" npm ci --no-audit --no-fund --loglevel=error)
  fi
}

tmp="$(mktemp -d)"
server_pid=""
ci_cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap ci_cleanup EXIT

serve() {
  export DATABASE_URL="sqlite://$tmp/dora.db?mode=rwc"
  DORA_JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
  export DORA_JWT_SECRET
  export DORA_LISTEN="127.0.0.1:0"
  export RUST_LOG="${RUST_LOG:-warn}"
  "$bin" serve 2>"$tmp/server.log" &
  server_pid=$!
  url=""
  for _ in $(seq 1 300); do
    url="$(grep -o 'listening on http://[0-9.:]*' "$tmp/server.log" | head -n1 | sed 's/listening on //' || true)"
    [ -n "$url" ] && return 0
    if ! kill -0 "$server_pid" 2>/dev/null; then
      cat "$tmp/server.log" >&2
      echo "$ci_name: the server did not start" >&2
      exit 1
    fi
    sleep 0.1
  done
  cat "$tmp/server.log" >&2
  echo "$ci_name: the server did not report its address" >&2
  exit 1
}

finish() {
  if [ "$1" -ne 0 ]; then
    echo "--- server log" >&2
    tail -n 50 "$tmp/server.log" >&2
  fi
  exit "$1"
}
