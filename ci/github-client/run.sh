#!/usr/bin/env bash
# Checks dora-tracker's GitHub-compatible API with a real GitHub client (@octokit/rest):
# builds the server, starts it on a random port with a fresh SQLite database, mints a
# token, runs check.mjs, stops the server. Exits non-zero on any failure.
# Needs node >= 20 and npm (the npm registry, once, for `npm ci`).
# DORA_PROFILE=release to check a release build (default: debug).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../lib/serve.sh" github-client

npm_ci "$here" @octokit/rest
serve
# The server created the database; the token is minted in it.
token="$("$bin" token issue --org acme --scope "ingest read" --sub ci-bot --ttl 1h)"

status=0
DORA_URL="$url" DORA_TOKEN="$token" node "$here/check.mjs" || status=$?
finish "$status"
