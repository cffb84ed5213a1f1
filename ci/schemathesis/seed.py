#!/usr/bin/env python3
"""Gives schemathesis something real to reach: a deployment with a commit, an incident, and a
deploy hook, whose secret it prints (run.sh passes it to schemathesis as the `secret` path
parameter; without it every /hooks/… request is a 404 and the hook parser is never reached).

    python3 ci/schemathesis/seed.py BASE_URL TOKEN
Standard library only.
"""
import json
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone


def post(base, token, path, body):
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        sys.exit(f"seed: POST {path} answered {e.code}: {e.read().decode(errors='replace')}")


def main():
    base, token = sys.argv[1].rstrip("/"), sys.argv[2]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    sha = "fa9bce58bac99d1186f00d90881dd7b1e7a3acfd"
    deployment = post(base, token, "/api/v1/deployments", {
        "title": "seed", "branch": "main", "commit_id": sha,
        "repository_url": "https://github.com/acme/web", "member_id": "seed",
        "pull_request_number": 1, "finished_at": iso(now - timedelta(hours=1)),
        "commits": [{"sha": sha, "committed_at": iso(now - timedelta(hours=5))}],
    })
    post(base, token, "/api/v1/incidents", {
        "title": "seed incident", "deployment_id": deployment["id"],
        "started_at": iso(now - timedelta(minutes=30)),
    })
    hook = post(base, token, "/api/v1/deploy-hooks", {
        "name": "schemathesis", "repository_url": "https://github.com/acme/web", "branch": "main",
    })
    print(hook["secret"])


if __name__ == "__main__":
    main()
