#!/usr/bin/env bash
# Starts a private PostgreSQL cluster for fault tests (outage, crash, restart): its own data
# directory and port, never the machine's shared server. Creates the cluster on first use;
# run again on the same DIR to restart it (after stop.sh, or after a kill -9: crash
# recovery runs at start).
#
#   ci/pg-cluster/start.sh PORT DIR [postgres -c options…]
#   e.g. ci/pg-cluster/start.sh 55432 /tmp/dora-pg -c fsync=off
#
# Connect with postgres://postgres@127.0.0.1:PORT/postgres (trust auth, loopback only), or
# through the socket in DIR. Prints the postmaster's pid on stdout.
# Works as root (the server runs as the `postgres` user via runuser) or as any other user.
# PG_BIN overrides the server binaries' directory (default: the newest /usr/lib/postgresql/*/bin).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 PORT DIR [postgres -c options…]" >&2
  exit 2
fi
port="$1"
dir="$2"
shift 2
if [ "$port" = 5432 ]; then
  echo "pg-cluster: 5432 is the machine's shared server; pick another port" >&2
  exit 2
fi
pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
if [ ! -x "$pg_bin/pg_ctl" ]; then
  echo "pg-cluster: no PostgreSQL server binaries (set PG_BIN)" >&2
  exit 1
fi

# PostgreSQL refuses to run as root; as root, run it as `postgres`.
as_owner=()
owner="$(id -un)"
if [ "$(id -u)" -eq 0 ]; then
  owner=postgres
  as_owner=(runuser -u postgres --)
fi

# The unix socket path must fit in 107 bytes: DIR/.s.PGSQL.PORT.
dir="$(mkdir -p "$dir" && cd "$dir" && pwd)"
if [ $((${#dir} + 12 + ${#port})) -gt 107 ]; then
  echo "pg-cluster: $dir is too long for a unix socket path; use a shorter DIR" >&2
  exit 1
fi
# The owner needs to reach DIR (every parent searchable) and own it.
chown "$owner" "$dir"
chmod 700 "$dir"
if ! "${as_owner[@]}" test -x "$dir"; then
  echo "pg-cluster: $owner cannot reach $dir (a parent directory is not searchable)" >&2
  exit 1
fi

data="$dir/data"
if [ ! -f "$data/PG_VERSION" ]; then
  # --no-sync: a test cluster need not survive a power cut, only a process crash.
  "${as_owner[@]}" "$pg_bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
fi

opts="-p $port -k $dir -c listen_addresses=127.0.0.1"
for arg in "$@"; do opts="$opts $arg"; done
# -w waits until the server accepts connections (or fails at once, e.g. port in use).
if ! "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 -s \
  -o "$opts" start >&2; then
  tail -n 20 "$dir/server.log" >&2 || true
  exit 1
fi
head -n1 "$data/postmaster.pid"
