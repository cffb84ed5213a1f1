// Drives dora-tracker's web page in Debian's Chromium (playwright-core, no downloaded browser)
// and checks it against the JSON API. Run by run.sh, which starts the server and passes:
// DORA_URL, DORA_INGEST_TOKEN, DORA_READ_TOKEN, DORA_OTHER_TOKEN, CHROMIUM, DORA_SCREENSHOTS.
//
// 1. seeds a realistic history through the API (three repositories, teams, two environments,
//    failures, hotfixes, rollbacks, commits, incidents), with a deployment titled
//    `<img src=x onerror=alert(1)>`, an incident titled `<script>…`, and a repository and a
//    team whose names have quotes and angle brackets;
// 2. a bad token shows the sign-in message; the read token signs in;
// 3. each card's data-value equals /api/v1/metrics/dora for three filter sets (and for a
//    view chosen with the page's own controls);
// 4. the breakdown's rows equal /api/v1/metrics/dora/breakdown, and sorting works;
// 5. a drill-down lists the facts of /api/v1/metrics/dora/explain and links each deployment;
// 6. stored strings show literally, no script runs, no dialog opens, the page has no script;
// 7. the browser asked no other origin for anything;
// 8. the page fits a 390 px phone; keyboard focus starts at the skip link;
// 9. signing out ends the session.
// Screenshots (overview, drill-down, phone) go to DORA_SCREENSHOTS, printed at the end.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

const base = process.env.DORA_URL;
const ingest = process.env.DORA_INGEST_TOKEN;
const readToken = process.env.DORA_READ_TOKEN;
const otherToken = process.env.DORA_OTHER_TOKEN;
const shots = path.resolve(process.env.DORA_SCREENSHOTS || 'screenshots');
for (const [name, value] of Object.entries({ base, ingest, readToken, otherToken })) {
  if (!value) throw new Error(`missing ${name}`);
}
fs.mkdirSync(shots, { recursive: true });
const origin = new URL(base).origin;

let checks = 0;
function check(condition, message) {
  assert.ok(condition, message);
  checks += 1;
}

async function api(method, pathAndQuery, token, body) {
  const resp = await fetch(base + pathAndQuery, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${method} ${pathAndQuery}: ${resp.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// A small deterministic random generator, so every run seeds the same shape of history.
let seed = 12345;
function random() {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
const hex = (n) => n.toString(16).padStart(40, '0');
const iso = (t) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
const HOUR = 3600e3;
const DAY = 24 * HOUR;

const WEIRD_REPO = 'https://github.com/acme/we"ird<repo>';
const WEIRD_TEAM = 'Q&A "<team>"';
const XSS_TITLE = '<img src=x onerror=alert(1)>';
const XSS_INCIDENT = '<script>alert(2)</script> checkout down';

async function seedHistory() {
  const now = Date.now();
  const repos = [
    ['https://github.com/acme/web', 'frontend'],
    ['https://github.com/acme/api', 'platform'],
    [WEIRD_REPO, WEIRD_TEAM],
  ];
  const ids = [];
  let n = 0;
  for (let day = 100; day >= 1; day -= 1) {
    for (const [repo, team] of repos) {
      for (const environment of ['production', 'staging']) {
        if (random() < 0.55) continue;
        n += 1;
        const at = now - day * DAY - Math.floor(random() * 20) * HOUR;
        const failed = random() < 0.12;
        const commits = [];
        for (let k = 0; k < 1 + Math.floor(random() * 3); k += 1) {
          commits.push({
            sha: hex(n * 10 + k),
            committed_at: iso(at - (1 + Math.floor(random() * 60)) * HOUR),
          });
        }
        const record = await api('POST', '/api/v1/deployments', ingest, {
          title: `Release ${n} of ${repo.split('/').pop()}`,
          branch: 'main',
          commit_id: hex(n * 10),
          repository_url: repo,
          member_id: random() < 0.5 ? 'alice' : 'bob',
          pull_request_number: n,
          environment,
          team,
          status: failed ? 'failure' : 'success',
          started_at: iso(at - 10 * 60e3),
          finished_at: iso(at),
          is_hotfix: !failed && random() < 0.08,
          is_rollback: !failed && random() < 0.04,
          commits,
        });
        ids.push({ id: record.id, repo, environment, at });
      }
    }
  }
  // The escaping cases, recent enough to be in every view's window.
  await api('POST', '/api/v1/deployments', ingest, {
    title: XSS_TITLE,
    branch: '"><b>branch',
    commit_id: hex(999991),
    repository_url: WEIRD_REPO,
    member_id: 'mallory',
    pull_request_number: 9999,
    team: WEIRD_TEAM,
    finished_at: iso(now - 2 * HOUR),
    commits: [{ sha: hex(999991), committed_at: iso(now - 5 * HOUR) }],
  });
  let k = 0;
  for (const d of ids.filter(() => random() < 0.1)) {
    k += 1;
    const body = { title: `Incident ${k}`, started_at: iso(d.at + 30 * 60e3), environment: d.environment };
    if (k % 2) body.deployment_id = d.id;
    else body.repository_url = d.repo;
    if (k % 4 !== 0) body.resolved_at = iso(d.at + (1 + (k % 9)) * HOUR);
    await api('POST', '/api/v1/incidents', ingest, body);
  }
  await api('POST', '/api/v1/incidents', ingest, {
    title: XSS_INCIDENT,
    repository_url: WEIRD_REPO,
    severity: 'sev1',
    started_at: iso(now - HOUR),
  });
  // Another organization: nothing of it may show.
  await api('POST', '/api/v1/deployments', otherToken, {
    title: 'globex secret release',
    branch: 'main',
    commit_id: hex(777),
    repository_url: 'https://github.com/globex/secret',
    member_id: 'eve',
    pull_request_number: 1,
  });
  return n + 1;
}

function same(shown, expected, context) {
  if (expected === null || expected === undefined) {
    check(shown === '', `${context}: the page shows ${shown}, the API null`);
  } else {
    check(Number(shown) === expected, `${context}: the page shows ${shown}, the API ${expected}`);
  }
}

const field = (object, dotted) => dotted.split('.').reduce((o, key) => o?.[key], object);

async function cardsMatch(page, query, context) {
  const summary = await api('GET', `/api/v1/metrics/dora?${query}`, readToken);
  const cards = await page.$$eval('li.card[data-metric]', (els) =>
    els.map((el) => [el.dataset.metric, el.dataset.value]),
  );
  check(cards.length === 5, `${context}: five cards`);
  for (const [metric, value] of cards) {
    same(value, field(summary, metric), `${context} ${metric}`);
  }
  return summary;
}

/// The query of the window the page shows (its exact from and to).
async function shownWindow(page) {
  const [from, to] = await page.$eval('p.window', (el) => [el.dataset.from, el.dataset.to]);
  return `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
}

const seeded = await seedHistory();
console.log(`web: seeded ${seeded} deployments`);
const weird = (await api('GET', '/api/v1/deployments?limit=1', readToken)).items[0];
check(weird.title === XSS_TITLE, 'the newest deployment is the escaping case');
const weirdRepo = (
  await api('GET', `/api/v1/metrics/dora/breakdown?by=repository`, readToken)
).rows.find((row) => row.repository_id === weird.repository_id).group;

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dora-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1400, height: 1000 },
});
const foreign = [];
const dialogs = [];
const errors = [];
context.on('request', (request) => {
  const url = new URL(request.url());
  if (!['data:', 'about:'].includes(url.protocol) && url.origin !== origin) foreign.push(request.url());
});
const page = context.pages()[0] || (await context.newPage());
page.on('dialog', async (dialog) => {
  dialogs.push(dialog.message());
  await dialog.dismiss();
});
page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
page.on('console', (message) => {
  // A 401 or 403 page (a refused token or form) is logged as a failed load: not a script error.
  if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
    errors.push(`console: ${message.text()}`);
  }
});

try {
  // Sign-in: a bad token shows the message and no session starts.
  await page.goto(`${base}/`);
  check((await page.locator('input[name=token]').count()) === 1, 'one input named token');
  await page.keyboard.press('Tab');
  check(
    (await page.evaluate(() => document.activeElement?.textContent)) === 'Skip to content',
    'keyboard focus starts at the skip link',
  );
  await page.fill('input[name=token]', 'not-a-token');
  await page.click('form[action="/ui/sign-in"] button[type=submit]');
  const message = await page.locator('#sign-in-message').textContent();
  check(/not accepted/.test(message), `bad token message: ${message}`);
  check(!(await context.cookies()).some((c) => c.name === 'dora_session'), 'no session for a bad token');

  await page.fill('input[name=token]', readToken);
  await page.click('form[action="/ui/sign-in"] button[type=submit]');
  await page.waitForSelector('li.card[data-metric]');
  const session = (await context.cookies()).find((c) => c.name === 'dora_session');
  check(session && session.httpOnly && session.sameSite === 'Strict' && session.path === '/', 'session cookie flags');
  check(
    (await page.evaluate(() => document.cookie)).indexOf('dora_session') === -1,
    'scripts cannot read the session cookie',
  );

  // Three filter sets with explicit windows, and one chosen with the controls.
  const to = new Date(Date.now() + 60e3);
  const from = new Date(to.getTime() - 45 * DAY);
  const windowQuery = `from=${encodeURIComponent(iso(from))}&to=${encodeURIComponent(iso(to))}`;
  const filterSets = [
    windowQuery,
    `${windowQuery}&team=${encodeURIComponent(WEIRD_TEAM)}`,
    `from=${encodeURIComponent(iso(to.getTime() - 90 * DAY))}&to=${encodeURIComponent(iso(to))}&environment=staging&benchmark=2021`,
  ];
  for (const query of filterSets) {
    await page.goto(`${base}/?${query}`);
    await cardsMatch(page, query, `/?${query}`);
    check(!(await page.content()).includes('globex'), `${query}: no other organization`);
  }
  await page.goto(`${base}/`);
  await page.selectOption('#window', '90d');
  await page.selectOption('#team', 'platform');
  await page.click('form.controls button[type=submit]');
  await page.waitForURL(/window=90d/);
  check(/team=platform/.test(page.url()), `the controls make a shareable URL: ${page.url()}`);
  await cardsMatch(page, `${await shownWindow(page)}&team=platform`, 'controls: last 90 days, platform');

  // The overview with everything, for the screenshot and the escaping checks.
  await page.goto(`${base}/?${windowQuery}`);
  await page.screenshot({ path: path.join(shots, 'overview.png'), fullPage: true });
  await page.screenshot({ path: path.join(shots, 'overview-top.png') });
  const recentTitles = await page.$$eval('table.recent td.title a', (els) => els.map((el) => el.textContent));
  check(recentTitles.includes(XSS_TITLE), 'the <img> title shows literally');
  const incidentTitles = await page.$$eval('table.incidents tbody td:nth-child(2)', (els) =>
    els.map((el) => el.textContent),
  );
  check(incidentTitles.includes(XSS_INCIDENT), 'the <script> incident title shows literally');
  const repositories = await page.$$eval('table.recent tbody td:nth-child(2)', (els) => els.map((el) => el.textContent));
  check(repositories.includes(weirdRepo), `the repository name shows literally: ${weirdRepo}`);
  const teams = await page.$$eval('#team option', (els) => els.map((el) => el.textContent));
  check(teams.includes(WEIRD_TEAM), 'the team name shows literally');
  check((await page.locator('img').count()) === 0, 'no <img> element was injected');
  check((await page.locator('script').count()) === 0, 'the page has no script at all');
  check((await page.locator('b').count()) === 0, 'no <b> element was injected');

  // Breakdown rows equal /breakdown, for each grouping.
  for (const by of ['repository', 'team', 'environment']) {
    await page.goto(`${base}/?${windowQuery}&by=${by}`);
    const expected = await api('GET', `/api/v1/metrics/dora/breakdown?by=${by}&${windowQuery}`, readToken);
    const rows = await page.$$eval('table.breakdown tbody tr', (trs) =>
      trs.map((tr) => ({
        group: tr.hasAttribute('data-no-group') ? null : tr.dataset.group,
        cells: [...tr.querySelectorAll('td[data-metric]')].map((td) => [td.dataset.metric, td.dataset.value]),
      })),
    );
    check(rows.length === expected.rows.length, `${by}: ${rows.length} rows, the API ${expected.rows.length}`);
    for (const row of expected.rows) {
      const shown = rows.find((r) => r.group === row.group);
      check(shown, `${by}: a row for ${row.group}`);
      check(shown.cells.length === 5, `${by} ${row.group}: five cells`);
      for (const [metric, value] of shown.cells) same(value, field(row, metric), `${by} ${row.group} ${metric}`);
    }
  }
  // Sorting by change failure rate, highest first.
  await page.goto(`${base}/?${windowQuery}&by=repository&sort=change_failure_rate&dir=desc`);
  const rates = await page.$$eval('table.breakdown tbody td[data-metric="change_failure_rate.rate"]', (tds) =>
    tds.map((td) => td.dataset.value).filter((v) => v !== '').map(Number),
  );
  check(rates.every((r, i) => i === 0 || rates[i - 1] >= r), `sorted by change failure rate: ${rates}`);
  // A row links to the overview filtered to it.
  await page.goto(`${base}/?${windowQuery}&by=repository`);
  await page.click('table.breakdown tbody tr th a');
  await page.waitForURL(/repository=/);
  const filtered = new URL(page.url()).searchParams.get('repository');
  await cardsMatch(page, `${windowQuery}&repository=${filtered}`, 'a breakdown row');

  // Drill-down: the change failure rate card.
  await page.goto(`${base}/?${windowQuery}`);
  await page.click('li.card[data-metric="change_failure_rate.rate"] a');
  await page.waitForSelector('table.explain');
  const listing = await api('GET', `/api/v1/metrics/dora/explain?metric=change_failure_rate&limit=1000&${windowQuery}`, readToken);
  const summary = await api('GET', `/api/v1/metrics/dora?${windowQuery}`, readToken);
  check(listing.total > 0, 'the drill-down has facts');
  const total = Number(await page.$eval('p.count', (el) => el.dataset.total));
  check(total === listing.total, `drill-down total ${total}, the API ${listing.total}`);
  const shownRows = await page.$$eval('table.explain tbody tr[data-deployment]', (trs) =>
    trs.map((tr) => [tr.dataset.deployment, tr.querySelector('td[data-change-failure]').dataset.changeFailure]),
  );
  check(shownRows.length === Math.min(100, listing.total), 'one row per fact on the first page');
  shownRows.forEach(([id, failure], i) => {
    check(id === listing.items[i].deployment.id, `row ${i} is the API's item ${i}`);
    check((failure === 'true') === listing.items[i].change_failure, `row ${i} change failure`);
  });
  if (listing.total <= 100) {
    const failures = shownRows.filter(([, failure]) => failure === 'true').length;
    check(failures === summary.change_failure_rate.failures, 'the rows add up to the failures');
  }
  await page.screenshot({ path: path.join(shots, 'drill-down.png'), fullPage: true });
  await page.click('table.explain tbody tr[data-deployment] td a');
  await page.waitForSelector('dl.record');
  check(/Deployment #\d+/.test(await page.locator('h1').textContent()), 'a deployment record opens');

  // The lead time drill-down too.
  await page.goto(`${base}/ui/explain?metric=change_lead_time&${windowQuery}`);
  const leadTotal = Number(await page.$eval('p.count', (el) => el.dataset.total));
  const leadListing = await api('GET', `/api/v1/metrics/dora/explain?metric=change_lead_time&limit=1&${windowQuery}`, readToken);
  check(leadTotal === leadListing.total, 'lead time drill-down total');

  // A phone.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/?${windowQuery}`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  check(overflow <= 390, `the page fits 390 px (scroll width ${overflow})`);
  await page.screenshot({ path: path.join(shots, 'phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1400, height: 1000 });

  // Signing out ends the session.
  await page.goto(`${base}/`);
  await page.click('form.sign-out button');
  await page.waitForSelector('input[name=token]');
  check(!(await context.cookies()).some((c) => c.name === 'dora_session'), 'the session cookie is gone');
  await page.goto(`${base}/?${windowQuery}`);
  check((await page.locator('li.card').count()) === 0, 'signed out: no metrics');
  check((await page.locator('input[name=token]').count()) === 1, 'signed out: the sign-in form');

  check(dialogs.length === 0, `no dialog opened: ${dialogs}`);
  check(errors.length === 0, `no script error or CSP violation: ${errors.join('; ')}`);
  check(foreign.length === 0, `no request to another origin: ${foreign.join(', ')}`);
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}

console.log(`web: screenshots in ${shots} (overview.png, overview-top.png, drill-down.png, phone.png)`);
console.log(`${checks} passed, 0 failed`);
