#!/usr/bin/env python3
"""End-to-end check of /metrics against a real Prometheus.

Starts dora-tracker (the binary given as argv[1]) on a fresh SQLite file, posts a realistic
history, then:
  1. runs `promtool check metrics` on a scrape;
  2. starts Prometheus scraping the service on loopback;
  3. runs every PromQL expression of dashboards/dora-tracker.json through Prometheus's HTTP
     query API, for the whole organization (team "*") and for one team, and fails if any
     returns no data (for the team, unless the JSON API says that metric has no value);
  4. compares DORA gauges with what /api/v1/metrics/dora reports for the same scope (the
     organization and the team).
Before all that it checks the dashboard's structure (what Grafana's import needs, since
Grafana itself cannot be installed here): `check.py --structure` does only that.
Exits non-zero on any failure. Uses only the standard library.
"""
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET = "ci-prometheus-secret-0123456789abcdef"


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


def wait_for(what, check, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    sys.exit(f"timed out waiting for {what}")


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def post_history(base, token):
    """A few hundred deployments over 25 days: failures, hotfix chains, rollbacks, incidents."""
    rng = random.Random(7)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    repos = ["https://github.com/acme/web", "https://github.com/acme/api", 'https://github.com/acme/we"ird']
    teams = {repos[0]: "frontend", repos[1]: "platform", repos[2]: "platform"}
    ids = []
    n = 0
    for day in range(25, 0, -1):
        for repo in repos:
            for env in ("production", "staging"):
                if rng.random() < 0.35:
                    continue
                n += 1
                t = now - timedelta(days=day, hours=rng.randint(0, 20))
                sha = f"{rng.getrandbits(160):040x}"
                status = "failure" if rng.random() < 0.1 else "success"
                body = {
                    "title": f"deploy {n}", "branch": "main", "commit_id": sha,
                    "repository_url": repo, "member_id": rng.choice(["alice", "bob"]),
                    "pull_request_number": n, "environment": env, "team": teams[repo],
                    "status": status, "finished_at": iso(t), "started_at": iso(t - timedelta(minutes=5)),
                    "is_hotfix": rng.random() < 0.1, "is_rollback": rng.random() < 0.05,
                    "commits": [{"sha": sha, "committed_at": iso(t - timedelta(hours=rng.randint(1, 72)))}],
                }
                code, text = request("POST", f"{base}/api/v1/deployments", token, body)
                if code != 201:
                    sys.exit(f"posting a deployment failed: {code} {text}")
                ids.append((json.loads(text)["id"], repo, env, t))
    for i, (dep_id, repo, env, t) in enumerate(rng.sample(ids, 12)):
        body = {"title": f"incident {i}", "started_at": iso(t + timedelta(minutes=30)), "environment": env}
        if i % 3 == 0:
            body["deployment_id"] = dep_id
        elif i % 3 == 1:
            body["repository_url"] = repo
        if i % 4 != 0:
            body["resolved_at"] = iso(t + timedelta(hours=2))
        code, text = request("POST", f"{base}/api/v1/incidents", token, body)
        if code != 201:
            sys.exit(f"posting an incident failed: {code} {text}")
    return len(ids)


# The unit each family of series is in (the dashboard's panels must show it).
UNITS = [
    (re.compile(r"\bdora_tier\b"), "none"),
    (re.compile(r"\bdora_[a-z0-9_]*_seconds\b"), "s"),
    (re.compile(r"\bdora_[a-z0-9_]*_rate\b"), "percentunit"),
    (re.compile(r"\bdora_deployment_frequency_per_day\b"), "suffix:/day"),
    (re.compile(r"\bdora_(deployments|window_deployments|incidents|change_failures|unrecovered_failures|open_incidents)\b"), "short"),
    (re.compile(r"\brate\(http_requests_total\b"), "reqps"),
]


def check_structure(dash):
    """What Grafana's import dialog and a sound dashboard need; the problems found."""
    problems = []
    inputs = dash.get("__inputs", [])
    ds_inputs = [i for i in inputs if i.get("type") == "datasource" and i.get("pluginId") == "prometheus"]
    if len(ds_inputs) != 1 or not ds_inputs[0].get("name"):
        problems.append("__inputs must hold one Prometheus datasource input (the import dialog's picker)")
    requires = {(r.get("type"), r.get("id")) for r in dash.get("__requires", [])}
    needed = {("grafana", "grafana"), ("datasource", "prometheus")}
    needed |= {("panel", p["type"]) for p in dash.get("panels", [])}
    for kind, ident in sorted(needed - requires):
        problems.append(f"__requires lacks the {kind} {ident}")
    text = json.dumps(dash)
    for name in {i["name"] for i in ds_inputs}:
        if text.count("${" + name + "}") == 0:
            problems.append(f"the input {name} is used nowhere: the datasource picked on import would be ignored")
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        problems.append("a `datasource` variable of type datasource is needed")
    if "job" not in variables:
        problems.append("a `job` variable (the Prometheus scrape job) is needed")
    ids = [p.get("id") for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)):
        problems.append(f"panel ids repeat: {ids}")

    def uses_datasource_variable(obj, where):
        ds = obj.get("datasource")
        if not (isinstance(ds, dict) and ds.get("type") == "prometheus" and ds.get("uid") == "${datasource}"):
            problems.append(f"{where}: datasource must be {{type: prometheus, uid: ${{datasource}}}}, not {ds!r}")

    for name, var in variables.items():
        if var.get("type") != "query":
            continue
        uses_datasource_variable(var, f"variable {name}")
        q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        if name != "job" and 'job="$job"' not in q:
            problems.append(f"variable {name}: its query is not filtered by job=\"$job\": {q}")
    for panel in dash.get("panels", []):
        where = f"panel {panel.get('id')} ({panel.get('title')})"
        uses_datasource_variable(panel, where)
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if not unit:
            problems.append(f"{where}: no unit (fieldConfig.defaults.unit)")
        for override in panel.get("fieldConfig", {}).get("overrides", []):
            if any(prop.get("id") == "unit" for prop in override.get("properties", [])):
                problems.append(f"{where}: an override changes the unit: one axis, one unit")
        targets = panel.get("targets", [])
        if not targets:
            problems.append(f"{where}: no query")
        target_units = set()
        for target in targets:
            uses_datasource_variable(target, f"{where} query {target.get('refId')}")
            expr = target.get("expr", "")
            if 'job="$job"' not in expr:
                problems.append(f"{where}: query not filtered by job=\"$job\": {expr}")
            found = {u for pattern, u in UNITS if pattern.search(expr)}
            if len(found) != 1:
                problems.append(f"{where}: cannot tell the unit of {expr} (matches {sorted(found)})")
            target_units |= found
        if len(target_units) > 1:
            problems.append(f"{where}: mixes units {sorted(target_units)} on one axis")
        elif target_units and unit not in target_units:
            problems.append(f"{where}: unit {unit!r}, but its series are in {target_units.pop()!r}")
    return problems


def load_dashboard():
    with open(os.path.join(ROOT, "dashboards", "dora-tracker.json")) as f:
        return json.load(f)


def dashboard_exprs():
    with open(os.path.join(ROOT, "dashboards", "dora-tracker.json")) as f:
        dash = json.load(f)
    exprs = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            exprs.append((panel["title"], target["expr"]))
    for var in dash["templating"]["list"]:
        if var.get("type") == "query":
            q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = re.match(r"label_values\((.*),\s*(\w+)\)$", q)
            if m:
                exprs.append((f"variable {var['name']}", m.group(1)))
    return exprs


def main():
    problems = check_structure(load_dashboard())
    for problem in problems:
        print(f"dashboard: {problem}")
    if problems:
        sys.exit(f"dashboards/dora-tracker.json: {len(problems)} structural problems")
    print("dashboard structure: ok (inputs, requires, units, job filter)")
    if sys.argv[1:] == ["--structure"]:
        return
    binary = sys.argv[1]
    work = tempfile.mkdtemp(prefix="dora-prom-")
    port, prom_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, DATABASE_URL=f"sqlite://{work}/dora.db?mode=rwc", DORA_LISTEN=f"127.0.0.1:{port}",
               DORA_JWT_SECRET=SECRET, DORA_METRICS_REFRESH_SECONDS="1", RUST_LOG="warn")
    procs = []
    try:
        server = subprocess.Popen([binary, "serve"], env=env)
        procs.append(server)
        wait_for("the service", lambda: request("GET", f"{base}/healthz")[0] == 200)
        # `serve` created the database; the token is minted in it.
        token = subprocess.run([binary, "token", "issue", "--org", "acme", "--scope", "ingest read"],
                               env=env, check=True, capture_output=True, text=True).stdout.strip()
        count = post_history(base, token)
        print(f"posted {count} deployments")

        def snapshot_has_data():
            text = request("GET", f"{base}/metrics")[1]
            return f'dora_window_deployments{{environment="*",organization="acme",repository="*",team="*",window="30d"}}' in text \
                and "# TYPE dora_deployments gauge" in text \
                and 'team="platform"' in text
        wait_for("a DORA snapshot with the history", snapshot_has_data)
        scrape = request("GET", f"{base}/metrics")[1]
        with open(os.path.join(work, "scrape.txt"), "w") as f:
            f.write(scrape)
        check = subprocess.run(["promtool", "check", "metrics"], input=scrape, text=True, capture_output=True)
        print("promtool check metrics:", check.returncode, check.stdout.strip(), check.stderr.strip())
        if check.returncode != 0:
            sys.exit("promtool check metrics failed")

        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    f"scrape_configs:\n  - job_name: dora-tracker\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{port}']\n")
        prom = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work}/tsdb",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(prom)
        pbase = f"http://127.0.0.1:{prom_port}"

        def query(expr):
            q = urllib.parse.urlencode({"query": expr})
            code, text = request("GET", f"{pbase}/api/v1/query?{q}")
            if code != 200:
                raise ValueError(text)
            return json.loads(text)["data"]["result"]
        import urllib.parse  # noqa: E402
        wait_for("Prometheus to scrape the service", lambda: len(query('up{job="dora-tracker"} == 1')) == 1)
        # rate() over the dashboard's ranges needs a few samples
        time.sleep(8)
        def metrics_json(query=""):
            code, text = request("GET", f"{base}/api/v1/metrics/dora{query}", token)
            if code != 200:
                sys.exit(f"/api/v1/metrics/dora{query} failed: {code} {text}")
            return json.loads(text)

        # A dashboard query may be empty only where the JSON API has no value either.
        def no_value(summary, expr):
            keys = [("dora_deployment_frequency", "deployment_frequency", "per_day"),
                    ("deployment_frequency\"", "deployment_frequency", "tier"),
                    ("dora_change_lead_time", "change_lead_time", "median_seconds"),
                    ("change_lead_time\"", "change_lead_time", "tier"),
                    ("dora_change_failure_rate", "change_failure_rate", "rate"),
                    ("change_failure_rate\"", "change_failure_rate", "tier"),
                    ("dora_failed_deployment_recovery_time", "failed_deployment_recovery_time", "median_seconds"),
                    ("failed_deployment_recovery_time\"", "failed_deployment_recovery_time", "tier"),
                    ("dora_deployment_rework_rate", "deployment_rework_rate", "rate"),
                    ("dora_time_to_restore", "time_to_restore", "median_seconds")]
            for needle, metric, field in keys:
                if needle in expr:
                    return summary.get(metric, {}).get(field) is None
            return False

        failures = []
        passes = [
            ({"$job": "dora-tracker", "$organization": "acme", "$team": "*", "$repository": "*",
              "$environment": "*", "$window": "30d"}, None),
            ({"$job": "dora-tracker", "$organization": "acme", "$team": "platform", "$repository": "*",
              "$environment": "*", "$window": "30d"}, metrics_json("?team=platform")),
        ]
        for values, summary in passes:
            for title, expr in dashboard_exprs():
                e = expr
                for k, v in values.items():
                    e = e.replace(k, v)
                result = query(e)
                allowed = summary is not None and no_value(summary, e)
                print(f"{'ok ' if result else ('none' if allowed else 'EMPTY')} {title}: {e}")
                if not result and not allowed:
                    failures.append((title, e))
        if failures:
            sys.exit(f"{len(failures)} dashboard queries returned no data")

        # The gauges equal the JSON API for the same scope.
        for query_string, team in [("", "*"), ("?team=platform", "platform")]:
            summary = metrics_json(query_string)
            sel = f'organization="acme",team="{team}",repository="*",environment="*",window="30d"'
            pairs = [
                (f"dora_window_deployments{{{sel}}}", summary["deployment_frequency"]["deployments"]),
                (f"dora_change_failure_rate{{{sel}}}", summary["change_failure_rate"]["rate"]),
                (f"dora_deployment_rework_rate{{{sel}}}", summary["deployment_rework_rate"]["rate"]),
            ]
            for expr, expected in pairs:
                result = query(expr)
                got = float(result[0]["value"][1]) if result else None
                print(f"{expr} = {got}, /api/v1/metrics/dora{query_string} = {expected}")
                if expected is None or got is None or abs(got - float(expected)) > 1e-9 * max(1.0, abs(float(expected))):
                    sys.exit(f"{expr}: Prometheus has {got}, the JSON API {expected}")
        print("prometheus check: 0 failed")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
