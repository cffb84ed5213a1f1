#!/usr/bin/env bash
# Runs every shell example of the docs, in reading order, against a fresh service, the way a
# newcomer pastes them: README.md first, then docs/*.md by file name. Exits non-zero on the
# first example that fails.
#
# - The service is started as README's quick start says: `dora-tracker serve` in a new empty
#   directory, with no settings (the default SQLite file `dora-tracker.db` and a generated
#   secret there); only DORA_LISTEN is set, to a free port, and every `127.0.0.1:8080` or
#   `localhost:8080` in the examples is replaced by that address.
# - Every ```sh block runs, in ONE bash session (`set -euo pipefail`, working directory that
#   directory), so variables captured by one block (`TOKEN`, `ID`…) are there for the next.
#   A block preceded by `<!-- docs-harness: skip (reason) -->` is skipped, and the reason is
#   printed. (ci/docs/extract.py has the rules; README's "Shell examples" says them too.)
# - `curl` is a function that runs the real curl and fails the run on any answer that is not
#   2xx, unless the block announced it with a comment line `# expect NNN` before that curl;
#   it also fails a curl without `-sS` (a progress meter in the output).
# - `cargo run --release [-q] -- ARGS` runs the binary built here with ARGS (so the docs'
#   one way to run the binary is what is tested, without a second build); any other cargo
#   command in a block that is run is an error (mark such blocks skip).
# DORA_PROFILE=release checks a release build (default: debug, as the other ci/ steps);
# DORA_BIN=PATH uses that binary instead of building one.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
profile="${DORA_PROFILE:-debug}"

if ! command -v jq >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jq >/dev/null
fi
for tool in curl jq python3; do
  command -v "$tool" >/dev/null || { echo "docs: $tool is needed" >&2; exit 1; }
done

cd "$root"
if [ -n "${DORA_BIN:-}" ]; then
  bin="$DORA_BIN" # a binary built already (for trying the docs while writing them)
elif [ "$profile" = release ]; then
  bin="$("$root/ci/build-binary.sh" --release)"
else
  bin="$("$root/ci/build-binary.sh")"
fi

tmp="$(mktemp -d)"
work="$tmp/service"
state="$tmp/state"
mkdir -p "$work" "$state"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
addr="127.0.0.1:$port"
clean_env=(env -i "PATH=$PATH" "HOME=${HOME:-/root}" "LANG=C.UTF-8" "TZ=UTC")

# The quick start: `cargo run --release` in an empty directory (here: the binary it builds).
(cd "$work" && exec "${clean_env[@]}" DORA_LISTEN="$addr" RUST_LOG=warn "$bin" serve \
  </dev/null 2>"$tmp/server.log") &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q 'listening on http://' "$tmp/server.log" && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$tmp/server.log" >&2
    echo "docs: the service did not start" >&2
    exit 1
  fi
  sleep 0.2
done
grep -q 'listening on http://' "$tmp/server.log" || { cat "$tmp/server.log" >&2; exit 1; }

docs=(README.md)
while IFS= read -r f; do docs+=("$f"); done < <(find docs -maxdepth 1 -name '*.md' | LC_ALL=C sort)

script="$tmp/docs.sh"
{
  cat <<'PRELUDE'
set -euo pipefail
set -E
__docs_where="(before the first block)"
__docs_run=0
__docs_skipped=0
trap 'printf "\ndocs: FAILED in the block at %s (exit %s): %s\n" "$__docs_where" "$?" "$BASH_COMMAND" >&2' ERR
__docs_block() {
  __docs_where="$1"
  __docs_run=$((__docs_run + 1))
  rm -f "$DOCS_STATE/expect"
  printf '\n== %s\n' "$1" >&2
}
__docs_end() {
  if [ -f "$DOCS_STATE/expect" ]; then
    __docs_say "$1 announces '# expect $(cat "$DOCS_STATE/expect")' but no curl followed"
    return 1
  fi
}
__docs_skip() {
  __docs_skipped=$((__docs_skipped + 1))
  printf '\n== %s: skipped (%s)\n' "$1" "$2" >&2
}
__docs_expect() { echo "$1" >"$DOCS_STATE/expect"; }
__docs_say() { printf '\ndocs: %s\n' "$*" >&2; }
curl() {
  local expect="" quiet=0 errors=0 arg rc=0 code bad=""
  if [ -f "$DOCS_STATE/expect" ]; then
    expect="$(cat "$DOCS_STATE/expect")"
    rm -f "$DOCS_STATE/expect"
  fi
  for arg in "$@"; do
    case "$arg" in
      --silent) quiet=1 ;;
      --show-error) errors=1 ;;
      --*) ;;
      -*) [[ "$arg" == *s* ]] && quiet=1; [[ "$arg" == *S* ]] && errors=1 ;;
    esac
  done
  if [ "$quiet$errors" != 11 ]; then
    __docs_say "$__docs_where: curl without -sS (it would print a progress meter, or hide errors)"
    return 1
  fi
  local err
  err="$(mktemp "$DOCS_STATE/curl.XXXXXX")"
  command curl "$@" -w '%{stderr}\n__docs_status=%{http_code}\n' 2>"$err" || rc=$?
  grep -v '^__docs_status=' "$err" | grep -v '^$' >&2 || true
  for code in $(sed -n 's/^__docs_status=//p' "$err"); do
    if [ -n "$expect" ]; then
      [ "$code" = "$expect" ] || bad="$bad $code (announced: $expect)"
    else
      case "$code" in 2??) ;; *) bad="$bad $code" ;; esac
    fi
  done
  rm -f "$err"
  if [ -n "$bad" ]; then
    __docs_say "$__docs_where: the service answered$bad"
    return 1
  fi
  if [ "$rc" -ne 0 ] && [ -z "$expect" ]; then
    __docs_say "$__docs_where: curl exited with $rc"
    return "$rc"
  fi
  return 0
}
cargo() {
  if [ "${1:-}" = run ] && [ "${2:-}" = --release ]; then
    shift 2
    [ "${1:-}" = -q ] && shift
    if [ "${1:-}" = -- ] && [ "$#" -gt 1 ]; then
      shift
      "$DOCS_BIN" "$@"
      return
    fi
  fi
  __docs_say "$__docs_where: only \`cargo run --release [-q] -- ARGS\` runs here; mark this block <!-- docs-harness: skip (reason) -->"
  return 1
}
PRELUDE
  python3 "$here/extract.py" "$addr" "${docs[@]}"
  cat <<'POSTLUDE'
echo "docs: $__docs_run blocks ran, $__docs_skipped skipped" >&2
POSTLUDE
} >"$script"

echo "docs: running the examples of ${docs[*]} against http://$addr"
status=0
(cd "$work" && "${clean_env[@]}" DOCS_BIN="$bin" DOCS_STATE="$state" \
  timeout 600 bash --noprofile --norc "$script" </dev/null) || status=$?
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "docs: the service exited during the examples" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "--- the service's log (last 40 lines)" >&2
  tail -n 40 "$tmp/server.log" >&2
  exit "$status"
fi
echo "docs: every example ran"
