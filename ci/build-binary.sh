#!/usr/bin/env bash
# Builds the dora-tracker binary and prints its path, wherever cargo puts it
# (CARGO_TARGET_DIR, a relative one, or the default). Extra arguments go to `cargo build`
# (e.g. --release). Build diagnostics go to stderr.
#
# It builds with `cargo test --workspace --no-run`, not `cargo build`: the integration tests
# need the binary, so cargo builds it there with the features the tests unify (dev-dependency
# features included). A plain `cargo build -p api` resolves other features and would compile
# most of the dependency tree a second time after `cargo test --workspace` (10 minutes on a
# busy 2-core machine). The test executables built alongside are what `cargo test` builds
# anyway.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo test --locked --workspace --no-run --message-format=json-render-diagnostics "$@" |
  python3 -c '
import json, sys
path = ""
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    target = m.get("target", {})
    if (m.get("reason") == "compiler-artifact" and target.get("name") == "dora-tracker"
            and "bin" in target.get("kind", []) and not m.get("profile", {}).get("test")
            and m.get("executable")):
        path = m["executable"]
if not path:
    sys.exit("build-binary: cargo reported no dora-tracker executable")
print(path)
'
