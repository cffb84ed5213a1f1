#!/usr/bin/env bash
# Attacks dora-tracker's HTTP API with schemathesis, generated from its own /openapi.json:
# all checks, positive and negative data, on SQLite and on PostgreSQL, each bounded in time.
# Fails on any failed check (5xx, response-schema violation, accepted invalid data, …), on
# a panic in the server log, or when the server dies.
#
#   bash ci/schemathesis/run.sh                  # both backends
#   DORA_ST_BACKENDS=sqlite bash ci/schemathesis/run.sh
#
# Settings (environment):
#   DORA_ST_BACKENDS       backends to run, default "sqlite postgres"
#   DORA_ST_MAX_TIME       seconds of schemathesis per backend, default 150
#   DORA_ST_MAX_EXAMPLES   examples per operation and phase, default 50
#   DORA_ST_WORKERS        concurrent schemathesis workers, default 2
#   DORA_ST_SEED           hypothesis seed, default random (printed, to reproduce a run)
#   DORA_ST_REPORT_DIR     where the JUnit/NDJSON reports go, default <target>/schemathesis
#   DORA_TEST_DATABASE_URL PostgreSQL server (as for the tests), default
#                          postgres://postgres@127.0.0.1:5432; a fresh database is created
#                          on it and dropped on exit
#   DORA_CI_CACHE          cache root for the venv, default ${XDG_CACHE_HOME:-$HOME/.cache}/dora-tracker-ci
# Needs python3 (3.11) with venv, psql for PostgreSQL, and PyPI once (cached afterwards).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

backends="${DORA_ST_BACKENDS:-sqlite postgres}"
max_time="${DORA_ST_MAX_TIME:-150}"
max_examples="${DORA_ST_MAX_EXAMPLES:-50}"
workers="${DORA_ST_WORKERS:-2}"
seed="${DORA_ST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
pg_base="${DORA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
pg_base="${pg_base%/}"

# --- the pinned schemathesis, in a venv keyed on the requirements file -------------------
cache="${DORA_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dora-tracker-ci}"
req="$here/requirements.txt"
req_hash="$(sha256sum "$req" | cut -c1-12)"
venv="$cache/schemathesis-$req_hash"
# A marker written last, so an interrupted install is redone rather than trusted.
if [ ! -f "$venv/.installed" ]; then
  echo "schemathesis: creating $venv"
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req"
  touch "$venv/.installed"
fi
st="$venv/bin/schemathesis"
echo "schemathesis: $("$st" --version)"

# --- the service binary ----------------------------------------------------------------
bin="$("$root/ci/build-binary.sh")"
target="$(cd "$(dirname "$bin")/.." && pwd)"
report_root="${DORA_ST_REPORT_DIR:-$target/schemathesis}"

tmp="$(mktemp -d)"
server_pid=""
st_pid=""
pg_db=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
drop_db() {
  if [ -n "$pg_db" ]; then
    psql "$pg_base/postgres" -qAt -v ON_ERROR_STOP=1 \
      -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 ||
      echo "schemathesis: could not drop database $pg_db" >&2
  fi
  pg_db=""
}
cleanup() {
  if [ -n "$st_pid" ]; then
    kill "$st_pid" 2>/dev/null || true
    wait "$st_pid" 2>/dev/null || true
  fi
  stop_server
  drop_db
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts the service on DATABASE_URL=$1, port 0; sets server_pid and url.
start_server() {
  local log="$2"
  export DATABASE_URL="$1"
  DORA_JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
  export DORA_JWT_SECRET
  export DORA_LISTEN="127.0.0.1:0"
  export RUST_LOG="${RUST_LOG:-warn}"
  # The hook limits would turn most hook requests into 429s within a second.
  export DORA_HOOK_RATE_PER_MINUTE=1000000 DORA_HOOK_BURST=1000000
  export DORA_HOOK_ORG_RATE_PER_MINUTE=1000000 DORA_HOOK_ORG_BURST=1000000
  # `serve` creates (and migrates) the database; `token issue` then mints in it (it never
  # creates one). (`set -e` does not apply inside a function called with `||`: check each
  # step.)
  "$bin" serve </dev/null 2>>"$log" &
  server_pid=$!
  url=""
  for _ in $(seq 1 300); do
    url="$(grep -o 'listening on http://[0-9.:]*' "$log" | head -n1 | sed 's/listening on //' || true)"
    if [ -n "$url" ]; then
      token="$("$bin" token issue --org acme --scope "ingest read admin" --sub schemathesis --ttl 2h)" ||
        return 1
      return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      cat "$log" >&2
      echo "schemathesis: the server did not start" >&2
      return 1
    fi
    sleep 0.1
  done
  cat "$log" >&2
  echo "schemathesis: the server did not report its address" >&2
  return 1
}

# Runs schemathesis against one backend; returns its verdict.
run_backend() {
  local backend="$1" db_url log reports status=0 started
  log="$tmp/server-$backend.log"
  reports="$report_root/$backend"
  rm -rf "$reports"
  mkdir -p "$reports"
  case "$backend" in
    sqlite) db_url="sqlite://$tmp/dora-$backend.db?mode=rwc" ;;
    postgres)
      pg_db="dora_schemathesis_$$_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
      psql "$pg_base/postgres" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$pg_db\"" >/dev/null ||
        { echo "schemathesis: cannot create database $pg_db on $pg_base" >&2; pg_db=""; return 1; }
      db_url="$pg_base/$pg_db"
      ;;
    *) echo "schemathesis: unknown backend $backend" >&2; return 2 ;;
  esac
  start_server "$db_url" "$log" || return 1
  hook_secret="$(python3 "$here/seed.py" "$url" "$token")" || return 1
  # Every /hooks/{secret} request uses the seeded hook, so the trigger parameters are tested.
  { cat "$here/config.toml"; printf '"path.secret" = "%s"\n' "$hook_secret"; } \
    >"$tmp/schemathesis.toml"
  echo "== schemathesis on $backend ($url, seed $seed, at most ${max_time}s)"
  started=$SECONDS
  SCHEMATHESIS_HOOKS="$here/hooks.py" \
    "$st" --config-file "$tmp/schemathesis.toml" run "$url/openapi.json" \
    --url "$url" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --mode all \
    --max-examples "$max_examples" \
    --max-time "$max_time" \
    --workers "$workers" \
    --seed "$seed" \
    --request-timeout 30 \
    --generation-database none \
    --continue-on-failure \
    --no-color \
    --report junit,ndjson \
    --report-dir "$reports" \
    </dev/null &
  # In the background, so a TERM or Ctrl-C reaches the trap (and stops it) at once.
  st_pid=$!
  wait "$st_pid" || status=$?
  st_pid=""
  elapsed[$backend]=$((SECONDS - started))
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "schemathesis: the server on $backend died during the run" >&2
    status=1
  fi
  if grep -q 'panicked' "$log"; then
    echo "schemathesis: the server on $backend panicked:" >&2
    grep -A3 'panicked' "$log" | head -n 40 >&2
    status=1
  fi
  cp "$log" "$reports/server.log"
  python3 "$here/summarize.py" "$reports" >"$reports/findings.txt" || true
  echo "schemathesis: $(head -n1 "$reports/findings.txt") (grouped in $reports/findings.txt)"
  stop_server
  drop_db
  return "$status"
}

declare -A verdict elapsed
overall=0
for backend in $backends; do
  rc=0
  run_backend "$backend" || rc=$?
  verdict[$backend]=$rc
  [ "$rc" -eq 0 ] || overall=1
done

echo
echo "== schemathesis summary (seed $seed; reports in $report_root)"
for backend in $backends; do
  if [ "${verdict[$backend]}" -eq 0 ]; then word=passed; else word="FAILED (exit ${verdict[$backend]})"; fi
  printf '%-9s %s in %ss\n' "$backend" "$word" "${elapsed[$backend]:-0}"
done
exit "$overall"
