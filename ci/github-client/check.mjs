// Drives dora-tracker's GitHub-compatible deployments API with an unmodified
// @octokit/rest pointed at the server (DORA_URL) as its base URL, with a dora-tracker JWT
// (DORA_TOKEN, sent as `Authorization: token …`), then checks that the canonical API and
// the DORA metrics reflect the statuses it posted. Prints one line per check and a
// closing "N passed, N failed" line; exits non-zero on any failure.
import { Octokit } from "@octokit/rest";

const base = process.env.DORA_URL;
const token = process.env.DORA_TOKEN;
if (!base || !token) {
  console.error("set DORA_URL and DORA_TOKEN");
  process.exit(2);
}

const octokit = new Octokit({
  auth: token,
  baseUrl: `${base}/api/v3`,
  userAgent: "dora-tracker-github-client-check",
  log: { debug() {}, info() {}, warn() {}, error() {} },
});

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
async function expectError(name, status, promise) {
  try {
    const r = await promise;
    check(name, false, { expected: status, got: r.status });
    return null;
  } catch (e) {
    check(name, e.status === status, { expected: status, got: e.status, body: e.response?.data });
    return e;
  }
}
async function canonical(path) {
  const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: r.status === 200 ? await r.json() : await r.text() };
}

const owner = "acme";
const repo = "web";
const sha = (n) => n.toString(16).padStart(40, "0");

async function main() {
  // Reads of a repository that has no deployment yet are GitHub's 404.
  const missing = await expectError(
    "unknown repository answers 404",
    404,
    octokit.rest.repos.listDeployments({ owner, repo }),
  );
  check(
    "404 has GitHub's {message, documentation_url}",
    missing?.response?.data?.message === "Not Found" &&
      typeof missing?.response?.data?.documentation_url === "string",
    missing?.response?.data,
  );

  // Create.
  const c1 = await octokit.rest.repos.createDeployment({
    owner,
    repo,
    ref: sha(1),
    environment: "staging",
    description: "first",
    auto_merge: false,
    required_contexts: [],
  });
  const d1 = c1.data;
  check("create answers 201", c1.status === 201, c1.status);
  check("create has a Location header", c1.headers.location === d1.url, c1.headers.location);
  check("id is an integer", Number.isInteger(d1.id), d1.id);
  check(
    "deployment shape",
    d1.sha === sha(1) &&
      d1.ref === sha(1) &&
      d1.task === "deploy" &&
      d1.environment === "staging" &&
      d1.original_environment === "staging" &&
      d1.production_environment === false &&
      d1.transient_environment === false &&
      d1.description === "first" &&
      typeof d1.payload === "object" &&
      d1.creator?.login === "ci-bot" &&
      d1.url === `${base}/api/v3/repos/${owner}/${repo}/deployments/${d1.id}` &&
      d1.statuses_url === `${d1.url}/statuses` &&
      d1.repository_url === `${base}/api/v3/repos/${owner}/${repo}`,
    d1,
  );
  const d2 = (
    await octokit.rest.repos.createDeployment({
      owner,
      repo,
      ref: "main",
      environment: "staging",
      payload: { sha: sha(2), note: "kept" },
    })
  ).data;
  check("branch ref with payload.sha", d2.ref === "main" && d2.sha === sha(2), d2);
  check("payload is given back", d2.payload?.note === "kept", d2.payload);
  const d3 = (
    await octokit.rest.repos.createDeployment({
      owner,
      repo,
      ref: sha(3),
      task: "deploy:migrations",
    })
  ).data;
  check(
    "environment defaults to production, production_environment true",
    d3.environment === "production" && d3.production_environment === true,
    d3,
  );
  const got = await octokit.rest.repos.getDeployment({ owner, repo, deployment_id: d1.id });
  check("get a deployment", got.data.id === d1.id && got.data.sha === sha(1), got.data);

  // List with filters.
  const all = await octokit.rest.repos.listDeployments({ owner, repo });
  check(
    "list is newest first",
    JSON.stringify(all.data.map((d) => d.id)) === JSON.stringify([d3.id, d2.id, d1.id]),
    all.data.map((d) => d.id),
  );
  const ids = async (params) =>
    (await octokit.rest.repos.listDeployments({ owner, repo, ...params })).data.map((d) => d.id);
  check("filter environment", JSON.stringify(await ids({ environment: "staging" })) === JSON.stringify([d2.id, d1.id]));
  check("filter sha", JSON.stringify(await ids({ sha: sha(1) })) === JSON.stringify([d1.id]));
  check("filter ref", JSON.stringify(await ids({ ref: "main" })) === JSON.stringify([d2.id]));
  check("filter task", JSON.stringify(await ids({ task: "deploy:migrations" })) === JSON.stringify([d3.id]));
  const page1 = await octokit.rest.repos.listDeployments({ owner, repo, per_page: 1 });
  check(
    "per_page and Link rel=next",
    page1.data.length === 1 && /rel="next"/.test(page1.headers.link ?? ""),
    page1.headers.link,
  );
  const paged = await octokit.paginate(octokit.rest.repos.listDeployments, { owner, repo, per_page: 2 });
  check("octokit.paginate follows Link", paged.length === 3, paged.length);

  // Statuses.
  const s1 = await octokit.rest.repos.createDeploymentStatus({
    owner,
    repo,
    deployment_id: d1.id,
    state: "in_progress",
  });
  check("status create answers 201", s1.status === 201 && Number.isInteger(s1.data.id), s1.status);
  check("status inherits the environment", s1.data.environment === "staging", s1.data);
  const s2 = await octokit.rest.repos.createDeploymentStatus({
    owner,
    repo,
    deployment_id: d1.id,
    state: "success",
    log_url: "https://ci.example.com/run/1",
    environment_url: "https://staging.example.com",
    description: "deployed",
  });
  check(
    "status shape (log_url sets target_url)",
    s2.data.state === "success" &&
      s2.data.target_url === "https://ci.example.com/run/1" &&
      s2.data.log_url === "https://ci.example.com/run/1" &&
      s2.data.environment_url === "https://staging.example.com" &&
      s2.data.deployment_url === d1.url &&
      s2.data.url === `${d1.url}/statuses/${s2.data.id}` &&
      s2.data.creator?.login === "ci-bot",
    s2.data,
  );
  const one = await octokit.rest.repos.getDeploymentStatus({
    owner,
    repo,
    deployment_id: d1.id,
    status_id: s2.data.id,
  });
  check("get a status", one.data.id === s2.data.id, one.data);
  await expectError(
    "description over 140 characters is 422",
    422,
    octokit.rest.repos.createDeploymentStatus({
      owner,
      repo,
      deployment_id: d1.id,
      state: "success",
      description: "x".repeat(141),
    }),
  );

  // auto_inactive: d2's success marks d1 (staging, non-production, success) inactive.
  await octokit.rest.repos.createDeploymentStatus({ owner, repo, deployment_id: d2.id, state: "success" });
  const h1 = (await octokit.rest.repos.listDeploymentStatuses({ owner, repo, deployment_id: d1.id })).data;
  check(
    "auto_inactive appended inactive to the prior success",
    JSON.stringify(h1.map((s) => s.state)) === JSON.stringify(["inactive", "success", "in_progress"]),
    h1.map((s) => s.state),
  );
  const h2 = (await octokit.rest.repos.listDeploymentStatuses({ owner, repo, deployment_id: d2.id })).data;
  check("the new success stays current", h2.length === 1 && h2[0].state === "success", h2);
  // Production deployments are never auto-inactivated.
  const d4 = (await octokit.rest.repos.createDeployment({ owner, repo, ref: sha(4) })).data;
  await octokit.rest.repos.createDeploymentStatus({ owner, repo, deployment_id: d3.id, state: "success" });
  await octokit.rest.repos.createDeploymentStatus({ owner, repo, deployment_id: d4.id, state: "failure" });
  const d5 = (await octokit.rest.repos.createDeployment({ owner, repo, ref: sha(5) })).data;
  await octokit.rest.repos.createDeploymentStatus({ owner, repo, deployment_id: d5.id, state: "success" });
  const h3 = (await octokit.rest.repos.listDeploymentStatuses({ owner, repo, deployment_id: d3.id })).data;
  check("production deployments are not auto-inactivated", h3.length === 1 && h3[0].state === "success", h3);

  // Delete rule.
  const del = await expectError(
    "deleting an active deployment is 422",
    422,
    octokit.rest.repos.deleteDeployment({ owner, repo, deployment_id: d2.id }),
  );
  check("422 carries a message", typeof del?.response?.data?.message === "string", del?.response?.data);
  const gone = await octokit.rest.repos.deleteDeployment({ owner, repo, deployment_id: d1.id });
  check("deleting an inactive deployment is 204", gone.status === 204, gone.status);
  await expectError(
    "a deleted deployment is 404",
    404,
    octokit.rest.repos.getDeployment({ owner, repo, deployment_id: d1.id }),
  );
  const solo = (await octokit.rest.repos.createDeployment({ owner, repo: "solo", ref: sha(9) })).data;
  await octokit.rest.repos.createDeploymentStatus({ owner, repo: "solo", deployment_id: solo.id, state: "success" });
  const soloGone = await octokit.rest.repos.deleteDeployment({ owner, repo: "solo", deployment_id: solo.id });
  check("the only deployment of a repository may be deleted", soloGone.status === 204, soloGone.status);

  // The canonical API reflects the statuses.
  const list = await canonical(
    `/api/v1/deployments?repository=${encodeURIComponent(`https://github.com/${owner}/${repo}`)}`,
  );
  const byNumber = new Map((list.body.items ?? []).map((d) => [d.number, d]));
  check("canonical list answers", list.status === 200, list);
  check(
    "canonical: success sets status and deployed-at",
    byNumber.get(d2.id)?.status === "success" &&
      byNumber.get(d2.id)?.finished_at !== null &&
      byNumber.get(d2.id)?.deployed_at === byNumber.get(d2.id)?.finished_at &&
      byNumber.get(d2.id)?.triggered_by === "github",
    byNumber.get(d2.id),
  );
  check("canonical: failure", byNumber.get(d4.id)?.status === "failure", byNumber.get(d4.id));
  check("canonical: deleted deployment is gone", !byNumber.has(d1.id));

  // The DORA metrics (production scope): d3 and d5 succeeded, d4 failed.
  const metrics = await canonical(`/api/v1/metrics/dora`);
  const m = metrics.body;
  check("metrics answer", metrics.status === 200, metrics);
  check(
    "metrics: successful production deployments",
    m?.deployment_frequency?.deployments === 2,
    m?.deployment_frequency,
  );
  check(
    "metrics: the failure status is a change failure",
    m?.change_failure_rate?.deployments === 3 && m?.change_failure_rate?.failures === 1,
    m?.change_failure_rate,
  );
}

try {
  await main();
} catch (e) {
  failed += 1;
  console.log(`not ok - unexpected error: ${e.status ?? ""} ${e.message} ${JSON.stringify(e.response?.data ?? "")}`);
}
console.log(`github-client: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
