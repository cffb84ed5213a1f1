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
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "web: $chromium is missing (apt-get install -y chromium)" >&2
  exit 1
fi
source "$here/../lib/serve.sh" web

npm_ci "$here" playwright-core PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
unset DORA_PUBLIC_URL
serve
# `serve` created the database; `token issue` uses it (and creates the organizations).
ingest="$("$bin" token issue --org acme --scope ingest --sub ci-seeder --ttl 1h)"
read_token="$("$bin" token issue --org acme --scope read --sub ci-manager --ttl 2h)"
other="$("$bin" token issue --org globex --scope "ingest read" --sub ci-other --ttl 1h)"

status=0
DORA_URL="$url" DORA_INGEST_TOKEN="$ingest" DORA_READ_TOKEN="$read_token" \
  DORA_OTHER_TOKEN="$other" CHROMIUM="$chromium" \
  DORA_SCREENSHOTS="${DORA_SCREENSHOTS:-$here/screenshots}" \
  node "$here/check.mjs" || status=$?
finish "$status"
