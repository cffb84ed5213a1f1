#!/usr/bin/env bash
# Delivers GitHub's published example webhook payloads (@octokit/webhooks-examples), signed
# by @octokit/webhooks-methods, to a GitHub integration of dora-tracker:
# builds the server, starts it on a random port with a fresh SQLite database, mints a
# token, runs check.mjs, stops the server. Exits non-zero on any failure.
# Needs node >= 20 and npm (the npm registry, once, for `npm ci`).
# DORA_PROFILE=release to check a release build (default: debug).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../lib/serve.sh" github-webhooks

npm_ci "$here" @octokit/webhooks-examples
serve
# The server created the database; the token is minted in it.
token="$("$bin" token issue --org acme --scope admin --sub ci-bot --ttl 1h)"

status=0
DORA_URL="$url" DORA_ADMIN_TOKEN="$token" node "$here/check.mjs" || status=$?
finish "$status"
