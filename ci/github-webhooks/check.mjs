// Delivers GitHub's published example payloads (@octokit/webhooks-examples, the community
// collection of real deliveries) to a GitHub integration of dora-tracker, signed by
// @octokit/webhooks-methods exactly as GitHub signs them (`X-Hub-Signature-256`), and checks
// what each answers: every example of a handled event (deployment, deployment_status,
// workflow_run, push, issues, ping) is accepted (200), examples of other events are
// acknowledged (202), a wrong signature is refused (401), a redelivery is a duplicate. Then it
// checks that the deployments of the examples were recorded. Prints one line per check and a
// closing "N passed, N failed" line; exits non-zero on any failure.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";
import { sign } from "@octokit/webhooks-methods";

const base = process.env.DORA_URL;
const admin = process.env.DORA_ADMIN_TOKEN;
if (!base || !admin) {
  console.error("set DORA_URL and DORA_ADMIN_TOKEN");
  process.exit(2);
}

const require = createRequire(import.meta.url);
const examples = JSON.parse(
  readFileSync(require.resolve("@octokit/webhooks-examples/api.github.com/index.json"), "utf8"),
);

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) {
    passed += 1;
    console.log(`ok - ${name}`);
  } else {
    failed += 1;
    console.log(`not ok - ${name}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
  }
}

async function api(method, path, body) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

const created = await api("POST", "/api/v1/integrations", {
  kind: "github",
  name: "octokit examples",
  // Every workflow of the examples is a deployment workflow, so their runs are recorded.
  options: { deployment_workflows: ["*"] },
});
check("integration created", created.status === 201, created);
const { webhook_url: url, secret } = created.body;

async function deliver(event, payload, { delivery = randomUUID(), key = secret } = {}) {
  const body = JSON.stringify(payload);
  const r = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/check",
      "x-github-event": event,
      "x-github-delivery": delivery,
      "x-hub-signature-256": await sign(key, body),
    },
    body,
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

const handled = ["ping", "deployment", "deployment_status", "workflow_run", "push", "issues"];
for (const name of handled) {
  const entry = examples.find((e) => e.name === name);
  check(`examples of ${name} exist`, entry && entry.examples.length > 0);
  for (const [i, payload] of (entry?.examples ?? []).entries()) {
    const r = await deliver(name, payload);
    check(`${name} #${i} (${payload.action ?? "-"}) accepted`, r.status === 200, r);
  }
}
for (const name of ["star", "fork", "release", "pull_request"]) {
  const entry = examples.find((e) => e.name === name);
  if (!entry) continue;
  const r = await deliver(name, entry.examples[0]);
  check(`${name} acknowledged, not recorded`, r.status === 202 && r.body?.result === "unhandled", r);
}

const sample = examples.find((e) => e.name === "deployment").examples[0];
const wrong = await deliver("deployment", sample, { key: "not the secret" });
check("a wrong signature is refused", wrong.status === 401, wrong);
const id = randomUUID();
await deliver("deployment", sample, { delivery: id });
const again = await deliver("deployment", sample, { delivery: id });
check("a redelivery is a duplicate", again.status === 200 && again.body?.result === "duplicate", again);

const listed = await api("GET", "/api/v1/deployments?limit=200");
const fromWebhooks = listed.body.items.filter((d) => d.triggered_by === "github_webhook");
check("the examples' deployments are recorded", fromWebhooks.length > 0, listed.body.items.length);
check(
  "example deployment 145988746 (sha f95f852…) is one deployment",
  fromWebhooks.filter((d) => d.commit_id === "f95f852bd8fca8fcc58a9a2d6c842781e32a215e").length >= 1,
);
const read = await api("GET", `/api/v1/integrations/${created.body.id}`);
check("deliveries are counted", read.body.deliveries.total > 0 && read.body.deliveries.unhandled >= 1, read.body.deliveries);

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
