#!/usr/bin/env python3
"""Reproduces, by hand, the 500s that NUL (U+0000) causes on PostgreSQL (FINDINGS.md, "5xx").

    python3 ci/schemathesis/nul_probe.py BASE_URL TOKEN     # an "ingest read admin" token

Run it against a service on PostgreSQL (on SQLite every request answers 2xx or 4xx). Prints one
line per request and exits non-zero when any answered 5xx: once the fixes are in, every line
must be a 4xx (or a 2xx where the NUL never reaches the database). Standard library only.
"""
import json
import sys
import urllib.error
import urllib.request

base, token = sys.argv[1], sys.argv[2]
def req(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(base + path, data=data, method=method, headers={"Authorization": f"Bearer {token}", **({"Content-Type": "application/json"} if data else {})})
    try:
        with urllib.request.urlopen(r) as resp: return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e: return e.code, e.read().decode()
ok = {"title":"t","branch":"main","commit_id":"abcdef1","repository_url":"https://github.com/acme/web","member_id":"m","pull_request_number":1}
s, t = req("POST", "/api/v1/deployments", ok); dep = json.loads(t)["id"]; print("seed", s)
s, t = req("POST", "/api/v1/incidents", {"title":"i","deployment_id":dep}); inc = json.loads(t)["id"]
s, t = req("POST", "/api/v1/deploy-hooks", {"name":"h","repository_url":"https://github.com/acme/web","branch":"main"}); hook = json.loads(t)
# A NUL in a URL's user part is stored only when the repository is new: use new ones.
NEW = "https://us\u0000er@github.com/acme/new-{}"
N = "a\u0000b"
cases = [
 ("POST", "/api/v1/deployments", {**ok, "url": "https://example.com/" + N}),
 ("POST", "/api/v1/deployments", {**ok, "repository_url": NEW.format(1)}),
 ("POST", "/v1/organization/deployment", {**ok, "url": "https://example.com/" + N}),
 ("POST", f"/api/v1/deployments/{dep}/statuses", {"state":"in_progress","log_url":"https://e.com/" + N}),
 ("POST", f"/api/v1/deployments/{dep}/statuses", {"state":"in_progress","environment_url":"https://e.com/" + N}),
 ("POST", "/api/v1/deploy-hooks", {"name":"h3","repository_url":NEW.format(2),"branch":"main"}),
 ("PUT", f"/api/v1/admin/deployments/{dep}", {"repository_url":"https://github.com/acme/web","environment":"production","is_production":True,"title":"t","branch":"main","commit_id":"abcdef1","commits_count":0,"is_fix":False,"is_hotfix":False,"is_forced":False,"is_rollback":False,"status":"success","url":"https://example.com/" + N}),
 ("POST", "/api/v3/repos/acme/web/deployments", {"ref":"main","payload":{"sha":"abcdef1","x":N}}),
 ("POST", "/api/v3/repos/acme/web/deployments", {"ref":"abcdef1","payload":N}),
 ("GET", "/api/v1/deployments?branch=%00", None),
 ("GET", "/api/v1/deployments?environment=%00", None),
 ("GET", "/api/v1/deployments?repository=https://us%00er@github.com/acme/web", None),
 ("GET", "/api/v1/incidents?environment=%00", None),
 ("GET", "/api/v1/metrics/dora?team=%00", None),
 ("GET", "/api/v1/metrics/dora?repository=https://us%00er@github.com/acme/web", None),
 ("GET", "/api/v1/metrics/dora/series?team=%00", None),
 ("GET", "/api/v1/metrics/dora/breakdown?by=team&team=%00", None),
 ("GET", "/api/v3/repos/acme/web/deployments?ref=%00", None),
 ("GET", "/api/v3/repos/acme/web/deployments?task=%00", None),
 ("GET", "/api/v3/repos/acme/web/deployments?environment=%00", None),
 ("GET", "/api/v3/repos/acme/web/deployments?sha=%00", None),
 ("GET", f"/hooks/{hook['secret']}?branch=" + "a%00b", None),
 ("GET", "/hooks/%00", None),
 ("GET", "/api/v1/admin/audit-log?cursor=%00", None),
]
failed = 0
for m, p, b in cases:
    s, t = req(m, p, b)
    failed += s >= 500
    flag = "  <== 5xx" if s >= 500 else ""
    print(f"{s} {m} {p[:70]} {json.dumps(b)[:90] if b else ''}{flag}")
print(f"{failed} of {len(cases)} requests answered 5xx")
sys.exit(1 if failed else 0)
