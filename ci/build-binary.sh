#!/usr/bin/env bash
# Builds the dora-tracker binary and prints its path, wherever cargo puts it
# (CARGO_TARGET_DIR, a relative one, or the default). Extra arguments go to `cargo build`
# (e.g. --release). Build diagnostics go to stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --locked -p api --bin dora-tracker --message-format=json-render-diagnostics "$@" |
  python3 -c '
import json, sys
path = ""
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "dora-tracker" and m.get("executable"):
        path = m["executable"]
if not path:
    sys.exit("build-binary: cargo reported no dora-tracker executable")
print(path)
'
