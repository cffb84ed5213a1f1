// A webhook receiver as a dora-tracker user would write one: a plain node HTTP server that
// verifies every delivery's `X-Hub-Signature-256` with @octokit/webhooks-methods' `verify`
// (the function GitHub's own webhook library uses), unmodified. It subscribes to every
// event, triggers each (a deployment, a status, an incident opened and resolved, a
// repository dispatch), answers the first deployment delivery 500, and checks: every
// delivery verifies (and does not under a wrong secret), each event arrives with its
// documented fields, the 500 is retried with the same delivery id. Prints one line per check
// and a closing "N passed, N failed" line; exits non-zero on any failure.
import http from "node:http";
import { verify } from "@octokit/webhooks-methods";

const base = process.env.DORA_URL;
const admin = process.env.DORA_ADMIN_TOKEN;
if (!base || !admin) {
  console.error("set DORA_URL and DORA_ADMIN_TOKEN");
  process.exit(2);
}

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

let secret = null;
const received = [];
let failNextDeployment = true;
const waiters = [];

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    const raw = Buffer.concat(chunks).toString("utf8");
    const signature = req.headers["x-hub-signature-256"];
    const event = req.headers["x-dora-event"];
    const delivery = req.headers["x-dora-delivery"];
    const verified = secret !== null && (await verify(secret, raw, signature));
    const wrong = await verify(`${secret}x`, raw, signature);
    received.push({ event, delivery, verified, wrong, body: JSON.parse(raw), attempt: req.headers["x-dora-attempt"] });
    for (const w of waiters.splice(0)) w();
    if (!verified) {
      res.writeHead(401).end("bad signature");
    } else if (event === "deployment" && failNextDeployment) {
      failNextDeployment = false;
      res.writeHead(500).end("try again");
    } else {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    }
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const receiverUrl = `http://127.0.0.1:${server.address().port}/dora`;

async function api(method, path, body) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function waitFor(what, done, ms = 30000) {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) {
      check(`received ${what}`, false, received.map((r) => [r.event, r.body.action]));
      return false;
    }
    await new Promise((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, 250);
    });
  }
  return true;
}

// The secret is only known once the subscription exists; the ping may arrive first and
// answer 401, then come again (a 4xx is not retried, so ping on request instead).
const created = await api("POST", "/api/v1/webhook-subscriptions", {
  url: receiverUrl,
  events: ["*"],
  description: "octokit verify check",
});
check("subscription created", created.status === 201, created);
secret = created.body.secret;
const id = created.body.id;
const pinged = await api("POST", `/api/v1/webhook-subscriptions/${id}/pings`);
check("ping queued", pinged.status === 202, pinged);
await waitFor("a verified ping", () => received.some((r) => r.event === "ping" && r.verified));

const dep = await api("POST", "/api/v1/deployments", {
  title: "Deploy 1",
  branch: "main",
  commit_id: "a".repeat(40),
  repository_url: "https://github.com/acme/web",
  member_id: "alice",
  pull_request_number: 1,
  status: "in_progress",
});
check("deployment recorded", dep.status === 201, dep);
const status = await api("POST", `/api/v1/deployments/${dep.body.id}/statuses`, { state: "success" });
check("status posted", status.status === 201, status);
const inc = await api("POST", "/api/v1/incidents", { title: "down", deployment_id: dep.body.id });
check("incident recorded", inc.status === 201, inc);
const res = await api("POST", `/api/v1/incidents/${inc.body.id}/resolve`, {});
check("incident resolved", res.status === 200, res);
const disp = await api("POST", "/api/v3/repos/acme/web/dispatches", {
  event_type: "deployed",
  client_payload: { environment: "production" },
});
check("dispatch accepted (204)", disp.status === 204, disp);

const has = (event, pred = () => true) => received.some((r) => r.event === event && r.verified && pred(r.body));
await waitFor("every event", () =>
  received.filter((r) => r.event === "deployment").length >= 2 &&
  has("deployment_status") &&
  has("incident", (b) => b.action === "resolved") &&
  has("repository_dispatch"),
);

const after = received.filter((r) => r.event !== "ping");
check("every delivery verifies with @octokit/webhooks-methods", after.every((r) => r.verified), after.filter((r) => !r.verified));
check("no delivery verifies under a wrong secret", received.every((r) => !r.wrong));
const deployments = received.filter((r) => r.event === "deployment");
check("a 500 is retried with the same delivery id", deployments.length >= 2 && deployments[0].delivery === deployments[1].delivery, deployments.map((d) => d.delivery));
const first = deployments[0]?.body;
check("deployment payload", first?.action === "created" && first?.deployment?.id === dep.body?.id && first?.repository?.url === "https://github.com/acme/web", first);
const st = received.find((r) => r.event === "deployment_status");
check("deployment_status payload", st && st.body.previous_status === "in_progress" && st.body.status === "success", st?.body);
check("incident opened", has("incident", (b) => b.action === "opened" && b.incident.id === inc.body.id));
check("incident resolved", has("incident", (b) => b.action === "resolved" && b.incident.resolved_at));
const d = received.find((r) => r.event === "repository_dispatch");
check("repository_dispatch payload (GitHub's shape)", d && d.body.action === "deployed" && d.body.client_payload.environment === "production" && d.body.repository.full_name === "acme/web" && typeof d.body.branch === "string" && d.body.sender, d?.body);
check("organization in every payload", received.every((r) => r.body.organization && r.body.organization.slug === "acme"));

// The record of an attempt is written just after the receiver answers.
let depRecord;
for (let i = 0; i < 50; i += 1) {
  const listed = await api("GET", `/api/v1/webhook-subscriptions/${id}/deliveries`);
  depRecord = listed.body.items.find((x) => x.event === "deployment");
  if (depRecord?.state === "delivered") break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
check("deliveries listed with attempts", depRecord?.attempts === 2 && depRecord?.state === "delivered", depRecord);

server.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
