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
source "$here/../lib/serve.sh" webhook-receiver

npm_ci "$here" @octokit/webhooks-methods
export DORA_WEBHOOK_ALLOW_PRIVATE_TARGETS=true
export DORA_WEBHOOK_FIRST_RETRY_SECONDS=0.2
serve
# The server created the database; the token is minted in it (`token issue` never creates one).
token="$("$bin" token issue --org acme --scope "admin ingest read" --sub ci-bot --ttl 1h)"

status=0
DORA_URL="$url" DORA_ADMIN_TOKEN="$token" node "$here/check.mjs" || status=$?
finish "$status"
