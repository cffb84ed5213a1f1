#!/usr/bin/env python3
"""Groups the failures of a schemathesis run (its NDJSON report) into distinct findings.

    python3 ci/schemathesis/summarize.py REPORT.ndjson [--examples N] [--markdown]

A finding is one kind of failure at one place: for a response-schema violation, the schema
location and the status code (one fix each, whatever operation hit it); for an undeclared
method, the missing `Allow` header (all methods of an operation are one finding); for
rejected valid data or accepted invalid data, the operation and the reason the service gave.
Each finding shows its count, the operations, and one example request and response.
Standard library only.
"""
import argparse
import base64
import collections
import glob
import json
import re
import sys

TRUNCATE = 600


def decode(payload):
    if not payload:
        return ""
    if "$base64" in payload:
        raw = base64.b64decode(payload["$base64"])
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return repr(raw)
    return payload.get("string", json.dumps(payload))


def cut(text, n=TRUNCATE):
    text = text.replace("\n", " ")
    return text if len(text) <= n else text[:n] + "…"


def normalize(text):
    """One rule is one finding: drop the values a message quotes (names, times, numbers)."""
    text = re.sub(r"`[^`]*`", "`…`", str(text))
    text = re.sub(r"\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)?", "<time>", text)
    return text


def reason(response_text):
    """The service's own words for a refusal: problem `type` and first field error."""
    try:
        body = json.loads(response_text)
    except ValueError:
        return cut(response_text, 120)
    if not isinstance(body, dict):
        return cut(response_text, 120)
    kind = body.get("type") or body.get("message") or ""
    errors = body.get("errors") or []
    if errors and isinstance(errors[0], dict):
        first = errors[0]
        field = str(first.get("field", ""))
        message = normalize(first.get("message") or first.get("code") or "")
        if message == "is not a known field":
            # The field's name is generated; the finding is that unknown fields are refused.
            prefix = re.match(r"^(.*\]\.)?", field).group(1) or ""
            field = prefix + "<unknown>"
        return f"{kind}: {field}: {message}"
    return f"{kind}: {cut(normalize(body.get('detail', '')), 120)}"


def signature(failure, response_status, response_text):
    code, op, message = failure["code"], failure["operation"], failure["message"]
    first = message.split("\n", 1)[0]
    if code == "ST108":  # response violates schema
        where = re.search(r"Schema at (\S+?):", message)
        status = re.search(r"status code (\d+)", message)
        return (code, failure["title"], f"{first} (status {status.group(1) if status else '?'}, "
                f"schema {where.group(1) if where else '?'})")
    if code == "ST204":  # undeclared method
        return (code, failure["title"], re.sub(r"^\S+ returned", "undeclared methods return", first))
    if code in ("ST201", "ST202"):
        extra = ""
        invalid = re.search(r"Invalid component: (.*)", message)
        if invalid:
            extra = f" [{invalid.group(1)}]"
        return (code, failure["title"],
                f"{op}: {response_status} {reason(response_text)}{extra}")
    return (code, failure["title"], f"{op}: {first}")


def load(paths):
    findings = collections.OrderedDict()
    for path in paths:
        with open(path) as f:
            for line in f:
                event = json.loads(line)
                finished = event.get("ScenarioFinished")
                if not finished:
                    continue
                recorder = finished["recorder"]
                for case_id, checks in recorder.get("checks", {}).items():
                    interaction = recorder.get("interactions", {}).get(case_id) or {}
                    request = interaction.get("request") or {}
                    response = interaction.get("response") or {}
                    response_text = decode(response.get("content"))
                    for check in checks:
                        if check.get("status") != "failure":
                            continue
                        failure = check["failure_info"]["failure"]
                        sig = signature(failure, response.get("status_code"), response_text)
                        entry = findings.get(sig)
                        if entry is None:
                            entry = findings[sig] = {
                                "check": check["name"],
                                "count": 0,
                                "operations": collections.Counter(),
                                "examples": [],
                                "message": failure["message"],
                            }
                        entry["count"] += 1
                        entry["operations"][failure["operation"]] += 1
                        example = (
                            request.get("method", "?"),
                            request.get("uri", "?"),
                            cut(decode(request.get("body"))),
                            response.get("status_code"),
                            {k: v for k, v in (response.get("headers") or {}).items()
                             if k.lower() in ("content-type", "allow", "www-authenticate", "location")},
                            cut(response_text),
                            finished.get("phase"),
                        )
                        if example not in entry["examples"]:
                            entry["examples"].append(example)
    return findings


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("reports", nargs="+", help="NDJSON report files or directories")
    parser.add_argument("--examples", type=int, default=1)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    paths = []
    for p in args.reports:
        paths += sorted(glob.glob(f"{p}/*.ndjson")) if not p.endswith(".ndjson") else [p]
    findings = load(paths)
    by_check = collections.OrderedDict()
    for sig in sorted(findings):
        by_check.setdefault((sig[0], sig[1]), []).append(sig)
    total = sum(e["count"] for e in findings.values())
    print(f"{len(findings)} distinct findings ({total} failed checks) in {', '.join(paths)}")
    for (code, title), sigs in by_check.items():
        n = sum(findings[s]["count"] for s in sigs)
        print()
        print(f"{'### ' if args.markdown else '== '}{code} {title} "
              f"({findings[sigs[0]]['check']}): {len(sigs)} distinct, {n} failed checks")
        for sig in sigs:
            e = findings[sig]
            ops = ", ".join(f"{op} ×{c}" for op, c in sorted(e["operations"].items()))
            print()
            print(f"- {sig[2]}")
            print(f"  - count {e['count']}; operations: {ops}")
            for method, uri, body, status, headers, text, phase in e["examples"][: args.examples]:
                print(f"  - example ({phase}): `{method} {uri}`" + (f" body `{body}`" if body else ""))
                print(f"    → `{status}` {json.dumps(headers) if headers else ''} `{text}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
