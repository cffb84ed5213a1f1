#!/usr/bin/env python3
"""End-to-end check of the `alertmanager` integration against a real Alertmanager.

Starts dora-tracker (the binary given as argv[1]) on a fresh SQLite file and records a
successful deployment; creates an `alertmanager` integration that counts only alerts labelled
`dora_incident="true"`; starts Debian's `prometheus-alertmanager` on a free loopback port with
a config whose webhook receiver points at the integration's URL (bearer credentials, short
`group_wait`/`group_interval`, only `dora_incident="true"` alerts routed to it); then:
  1. posts a deployment-relevant alert and an unrelated one to Alertmanager's own v2 API;
  2. waits for the incident to appear in GET /api/v1/incidents (open, started at `startsAt`,
     attributed to the deployment's repository) and checks the unrelated alert never does;
  3. ends the alert through the same API and waits for the incident to be resolved at the
     `endsAt` given;
  4. checks time to restore (and change failure rate) in GET /api/v1/metrics/dora.
Exits non-zero on any failure. Uses only the standard library.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

SECRET = "ci-alertmanager-jwt-secret-0123456789abcdef"
REPO = "https://github.com/acme/web"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(what, check, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            found = check()
            if found:
                return found
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    sys.exit(f"timed out waiting for {what}")


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def alertmanager_binary():
    for name in ("prometheus-alertmanager", "alertmanager"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")


def main():
    binary = sys.argv[1]
    am_binary = alertmanager_binary()
    work = tempfile.mkdtemp(prefix="dora-am-")
    port, am_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    am = f"http://127.0.0.1:{am_port}"
    env = dict(os.environ, DATABASE_URL=f"sqlite://{work}/dora.db?mode=rwc", DORA_LISTEN=f"127.0.0.1:{port}",
               DORA_JWT_SECRET=SECRET, DORA_SECRET_KEY="ab" * 32, DORA_PUBLIC_URL=base, RUST_LOG="warn")
    procs = []
    try:
        server = subprocess.Popen([binary, "serve"], env=env)
        procs.append(server)
        wait_for("the service", lambda: request("GET", f"{base}/readyz")[0] == 200)
        # The server created the database; the token is minted in it (`token issue` never
        # creates one).
        token = subprocess.run([binary, "token", "issue", "--org", "acme", "--scope", "admin"],
                               env=env, check=True, capture_output=True, text=True).stdout.strip()

        now = datetime.now(timezone.utc).replace(microsecond=0)
        deployed = now - timedelta(minutes=30)
        code, text = request("POST", f"{base}/api/v1/deployments", token, {
            "title": "release 1", "branch": "main", "commit_id": "ab" * 20, "repository_url": REPO,
            "member_id": "alice", "pull_request_number": 1, "status": "success", "started_at": iso(deployed - timedelta(minutes=5)), "finished_at": iso(deployed),
        })
        if code != 201:
            sys.exit(f"posting a deployment failed: {code} {text}")
        repository_id = json.loads(text)["repository_id"]

        code, text = request("POST", f"{base}/api/v1/integrations", token, {
            "kind": "alertmanager", "name": "Alertmanager",
            "options": {"match": {"dora_incident": "true"}},
        })
        if code != 201:
            sys.exit(f"creating the integration failed: {code} {text}")
        integration = json.loads(text)
        config = os.path.join(work, "alertmanager.yml")
        with open(config, "w") as f:
            f.write(f"""\
route:
  receiver: nobody
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: dora-tracker
      matchers: ['dora_incident="true"']
receivers:
  - name: nobody
  - name: dora-tracker
    webhook_configs:
      - url: {integration["webhook_url"]}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {integration["secret"]}
""")
        alertmanager = subprocess.Popen([
            am_binary, f"--config.file={config}", f"--storage.path={work}/am",
            f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
            "--log.level=warn",
        ])
        procs.append(alertmanager)
        wait_for("Alertmanager", lambda: request("GET", f"{am}/-/ready")[0] == 200)

        starts = now - timedelta(minutes=10)
        labels = {"alertname": "CheckoutErrors", "dora_incident": "true", "repository": REPO,
                  "environment": "production", "severity": "critical", "instance": "web-1:8080"}
        alert = {"labels": labels, "annotations": {"summary": "Checkout error rate above 5%"},
                 "startsAt": iso(starts), "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up"}
        unrelated = {"labels": {"alertname": "DiskFull", "instance": "db-1"},
                     "annotations": {"summary": "disk 95% full"}, "startsAt": iso(starts)}
        code, text = request("POST", f"{am}/api/v2/alerts", body=[alert, unrelated])
        if code != 200:
            sys.exit(f"posting alerts to Alertmanager failed: {code} {text}")
        print("posted a firing alert to Alertmanager")

        def listed():
            code, text = request("GET", f"{base}/api/v1/incidents?source=alertmanager", token)
            return json.loads(text)["items"] if code == 200 else []

        items = wait_for("the incident from Alertmanager", listed)
        if len(items) != 1:
            sys.exit(f"expected one incident, got {items}")
        incident = items[0]
        checks = [
            (incident["resolved_at"] is None, "it is open"),
            (parse_time(incident["started_at"]) == starts, "it started at startsAt"),
            (incident["title"] == "Checkout error rate above 5%", "its title is the summary"),
            (incident["severity"] == "critical", "its severity is the label"),
            (incident["repository_id"] == repository_id, "it is the repository's"),
            (incident["source_id"].endswith("@" + iso(starts)), "it is keyed by fingerprint@startsAt"),
        ]
        for ok, what in checks:
            if not ok:
                sys.exit(f"the incident is wrong ({what} fails): {incident}")
        print(f"incident {incident['id']} recorded open")

        ends = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
        code, text = request("POST", f"{am}/api/v2/alerts", body=[dict(alert, endsAt=iso(ends))])
        if code != 200:
            sys.exit(f"ending the alert failed: {code} {text}")

        def resolved():
            items = listed()
            return items if items and items[0]["resolved_at"] else None

        items = wait_for("the incident to be resolved", resolved)
        if len(items) != 1 or items[0]["id"] != incident["id"]:
            sys.exit(f"expected the same incident resolved, got {items}")
        resolved_at = parse_time(items[0]["resolved_at"])
        if resolved_at != ends:
            sys.exit(f"resolved at {resolved_at}, expected endsAt {ends}")
        print(f"incident resolved at {iso(resolved_at)}")

        code, text = request("GET", f"{base}/api/v1/incidents", token)
        everything = json.loads(text)["items"]
        if len(everything) != 1:
            sys.exit(f"the unrelated alert must not be an incident: {everything}")

        window = f"from={iso(now - timedelta(days=1))}&to={iso(now + timedelta(days=1))}"
        code, text = request("GET", f"{base}/api/v1/metrics/dora?{window}", token)
        if code != 200:
            sys.exit(f"metrics failed: {code} {text}")
        metrics = json.loads(text)
        ttr = metrics["time_to_restore"]
        expected = (ends - starts).total_seconds()
        if ttr["samples"] != 1 or ttr["open"] != 0 or abs((ttr["median_seconds"] or 0) - expected) > 0.001:
            sys.exit(f"time to restore {ttr}, expected one sample of {expected}s")
        if metrics["change_failure_rate"]["failures"] != 1:
            sys.exit(f"the incident should fail the deployment: {metrics['change_failure_rate']}")
        print(f"time to restore {ttr['median_seconds']}s from a real Alertmanager: ok")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
