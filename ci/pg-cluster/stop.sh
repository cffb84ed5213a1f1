#!/usr/bin/env bash
# Stops a cluster started by start.sh.
#
#   ci/pg-cluster/stop.sh DIR [fast|immediate|kill]
#
#   fast       (default) clean shutdown: connections are closed, a checkpoint is written
#   immediate  SIGQUIT: every process quits at once, no checkpoint; crash recovery at the
#              next start (what a server crash looks like to clients)
#   kill       SIGKILL to the postmaster and each of its children, as the OOM killer would;
#              waits until all are gone, so start.sh can restart the cluster at once
# Only the processes of DIR's cluster are signalled (by the pid in DIR/data/postmaster.pid).
# Add `--remove` as a last argument to delete DIR afterwards.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 DIR [fast|immediate|kill] [--remove]" >&2
  exit 2
fi
dir="$1"
mode="${2:-fast}"
remove="${3:-}"
if [ "$mode" = --remove ]; then mode=fast; remove=--remove; fi
data="$dir/data"
pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
as_owner=()
[ "$(id -u)" -eq 0 ] && as_owner=(runuser -u postgres --)

pid=""
[ -f "$data/postmaster.pid" ] && pid="$(head -n1 "$data/postmaster.pid")"
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  case "$mode" in
    fast | immediate)
      "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$data" -w -t 60 -s -m "$mode" stop
      ;;
    kill)
      # Children make themselves process-group leaders, so a group kill would miss them.
      children="$(pgrep -P "$pid" || true)"
      # shellcheck disable=SC2086 # one pid per word
      kill -9 "$pid" $children 2>/dev/null || true
      for _ in $(seq 1 100); do
        alive=0
        for p in $pid $children; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.05
      done
      ;;
    *)
      echo "usage: $0 DIR [fast|immediate|kill] [--remove]" >&2
      exit 2
      ;;
  esac
fi
if [ "$remove" = --remove ]; then
  rm -rf "$dir"
fi
