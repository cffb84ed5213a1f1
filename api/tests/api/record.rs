//! `dora-tracker record` against a running service: from a real git checkout, as README's
//! CI jobs run it (each job's recording step, exactly as README writes it, with the
//! variables that CI sets), with retries that never duplicate, `--dry-run`, and failures
//! that exit non-zero with the service's message.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{Arc, Mutex},
};

use api::auth::Scope;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    helpers::{TestApp, spawn_app_with},
    issuer::{Issuer, keys},
};

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_dora-tracker")
}

/// A git checkout with commits at known committer times.
pub struct Checkout {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    /// (sha, committer time) oldest first.
    pub commits: Vec<(String, String)>,
    /// A directory with `dora-tracker` in it, for `PATH`.
    bin: PathBuf,
}

fn git(dir: &Path, args: &[&str], date: Option<&str>) -> String {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Alice")
        .env("GIT_AUTHOR_EMAIL", "alice@example.com")
        .env("GIT_COMMITTER_NAME", "Alice")
        .env("GIT_COMMITTER_EMAIL", "alice@example.com");
    if let Some(date) = date {
        cmd.env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Checkout {
    /// A repository with `origin` = `remote` and commits made at `dates`, on `main`.
    pub fn new(remote: &str, dates: &[&str]) -> Checkout {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo");
        std::fs::create_dir(&path).unwrap();
        git(&path, &["init", "-q", "-b", "main"], None);
        git(&path, &["remote", "add", "origin", remote], None);
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(binary(), bin.join("dora-tracker")).unwrap();
        let mut checkout = Checkout {
            _dir: dir,
            path,
            commits: Vec::new(),
            bin,
        };
        for date in dates {
            checkout.commit(date);
        }
        checkout
    }

    pub fn commit(&mut self, date: &str) -> String {
        let n = self.commits.len() + 1;
        git(
            &self.path,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &format!("Change {n}"),
            ],
            Some(date),
        );
        let sha = git(&self.path, &["rev-parse", "HEAD"], None);
        self.commits.push((sha.clone(), date.to_owned()));
        sha
    }

    pub fn head(&self) -> String {
        self.commits.last().unwrap().0.clone()
    }

    /// Detaches HEAD, as CI checkouts are.
    pub fn detach(&self) {
        git(&self.path, &["checkout", "-q", "--detach"], None);
    }

    /// Runs `script` with bash in the checkout, with only `env` (and a PATH that has
    /// `dora-tracker`, git and curl).
    ///
    /// The child runs on a blocking thread: the service under test shares this runtime.
    pub async fn bash(&self, script: &str, env: &HashMap<String, String>) -> Output {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new("bash");
        command
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(&self.path)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.path.parent().unwrap())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .envs(env);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }
}

/// The fenced block after `<!-- ci-example: NAME -->` in README.md.
pub fn readme_example(name: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let marker = format!("<!-- ci-example: {name} -->");
    let after =
        &readme[readme.find(&marker).unwrap_or_else(|| panic!("{marker}")) + marker.len()..];
    let start = after.find("```").unwrap();
    let body = &after[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("\n```").unwrap()].to_owned()
}

/// The JSON body (`-d '…'`) of a README curl example.
pub fn readme_policy(name: &str) -> Value {
    let example = readme_example(name);
    let start = example.find("-d '").unwrap() + 4;
    let end = start + example[start..].find('\'').unwrap();
    serde_json::from_str(&example[start..end]).unwrap()
}

/// What GitHub Actions sets in every step of a push to main of `acme/web`.
fn github_env(checkout: &Checkout, run_id: &str) -> HashMap<String, String> {
    [
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/web"),
        ("GITHUB_REPOSITORY_OWNER", "acme"),
        ("GITHUB_RUN_ID", run_id),
        ("GITHUB_RUN_NUMBER", "7"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_JOB", "deploy"),
        ("GITHUB_WORKFLOW", "deploy"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_REF_NAME", "main"),
        ("GITHUB_REF_TYPE", "branch"),
        ("GITHUB_HEAD_REF", ""),
        ("GITHUB_BASE_REF", ""),
        ("GITHUB_SHA", &checkout.head()),
        ("GITHUB_ACTOR", "alice"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_API_URL", "https://api.github.com"),
        ("GITHUB_WORKSPACE", &checkout.path.display().to_string()),
        ("RUNNER_OS", "Linux"),
        ("RUNNER_TEMP", "/tmp"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Runs the steps of README's GitHub job `name` that call `dora-tracker`, as the runner
/// would: the step's `env:` with `${{ vars.X }}`/`${{ secrets.X }}` filled in, and the
/// identity-token variables only when the job has `permissions: id-token: write`.
async fn run_github_job(
    name: &str,
    checkout: &Checkout,
    mut env: HashMap<String, String>,
    vars: &HashMap<&str, String>,
    secrets: &HashMap<&str, String>,
    runner: Option<(&Issuer, &str)>,
) -> Vec<Output> {
    let workflow: serde_yaml::Value = serde_yaml::from_str(&readme_example(name)).unwrap();
    let (_, job) = workflow["jobs"]
        .as_mapping()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    if job["permissions"]["id-token"].as_str() == Some("write")
        && let Some((issuer, bearer)) = runner
    {
        env.insert("ACTIONS_ID_TOKEN_REQUEST_URL".into(), issuer.runner_url());
        env.insert("ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(), bearer.to_owned());
    }
    let mut outputs = Vec::new();
    for step in job["steps"].as_sequence().unwrap() {
        let Some(script) = step["run"].as_str() else {
            continue;
        };
        if !script.contains("dora-tracker") {
            continue;
        }
        let mut step_env = env.clone();
        for (key, value) in step["env"].as_mapping().into_iter().flatten() {
            let value = value.as_str().unwrap();
            let filled = expression(value, vars, secrets);
            step_env.insert(key.as_str().unwrap().to_owned(), filled);
        }
        outputs.push(checkout.bash(script, &step_env).await);
    }
    assert!(!outputs.is_empty(), "{name} has no dora-tracker step");
    outputs
}

/// `${{ vars.X }}` and `${{ secrets.X }}`, as GitHub expands them.
fn expression(
    value: &str,
    vars: &HashMap<&str, String>,
    secrets: &HashMap<&str, String>,
) -> String {
    let mut out = value.to_owned();
    for (prefix, map) in [("vars", vars), ("secrets", secrets)] {
        for (name, v) in map {
            out = out.replace(&format!("${{{{ {prefix}.{name} }}}}"), v);
        }
    }
    assert!(!out.contains("${{"), "unexpanded expression in {value}");
    out
}

/// What GitLab CI sets in a job of `acme/web` on main (the origin remote of GitLab's
/// checkout carries the job token, as GitLab's does).
fn gitlab_env(checkout: &Checkout, job_id: &str) -> HashMap<String, String> {
    [
        ("CI", "true"),
        ("GITLAB_CI", "true"),
        ("CI_SERVER_URL", "https://gitlab.com"),
        ("CI_PROJECT_PATH", "acme/web"),
        ("CI_PROJECT_NAMESPACE", "acme"),
        ("CI_PROJECT_URL", "https://gitlab.com/acme/web"),
        ("CI_PIPELINE_ID", "1000"),
        ("CI_JOB_ID", job_id),
        ("CI_JOB_NAME", "deploy"),
        (
            "CI_JOB_URL",
            &format!("https://gitlab.com/acme/web/-/jobs/{job_id}"),
        ),
        ("CI_COMMIT_SHA", &checkout.head()),
        ("CI_COMMIT_REF_NAME", "main"),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("GITLAB_USER_LOGIN", "alice"),
        (
            "CI_REPOSITORY_URL",
            "https://gitlab-ci-token:glcbt-JOBTOKEN@gitlab.com/acme/web.git",
        ),
        ("CI_PROJECT_DIR", &checkout.path.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Runs README's GitLab job `name`'s script lines that call `dora-tracker` in one shell, as
/// the runner does, with the job's `variables:`, CI/CD `variables`, and each `id_tokens:`
/// entry as a variable holding a token minted for its `aud`.
async fn run_gitlab_job(
    name: &str,
    checkout: &Checkout,
    mut env: HashMap<String, String>,
    variables: &HashMap<&str, String>,
    mint: impl Fn(&str) -> String,
) -> Output {
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&readme_example(name)).unwrap();
    let job = &pipeline["deploy"];
    for (key, value) in job["variables"].as_mapping().into_iter().flatten() {
        env.insert(
            key.as_str().unwrap().to_owned(),
            value.as_str().unwrap().to_owned(),
        );
    }
    for (key, value) in variables {
        env.insert((*key).to_owned(), value.clone());
    }
    for (key, spec) in job["id_tokens"].as_mapping().into_iter().flatten() {
        env.insert(
            key.as_str().unwrap().to_owned(),
            mint(spec["aud"].as_str().unwrap()),
        );
    }
    let script: Vec<&str> = job["script"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .filter(|l| l.contains("dora-tracker"))
        .collect();
    assert!(!script.is_empty(), "{name} has no dora-tracker line");
    checkout.bash(&script.join("\n"), &env).await
}

fn assert_ok(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("stdout: {stdout}\n{stderr}"))
}

async fn oidc_app() -> TestApp {
    spawn_app_with(|args| args.credentials.oidc_allow_http_loopback = "true".to_owned()).await
}

async fn add_policy(app: &TestApp, policy: &Value) {
    let admin = app.token("acme", &[Scope::Admin]);
    let resp = app
        .post_json("/api/v1/trust-policies", &admin, policy)
        .await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
}

async fn mint(app: &TestApp, body: Value) -> String {
    let admin = app.token("acme", &[Scope::Admin]);
    let resp = app.post_json("/api/v1/tokens", &admin, &body).await;
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Records the stream's previous successful deployment of `sha`, as an earlier run did.
async fn previous_deployment(app: &TestApp, repository: &str, sha: &str) {
    let admin = app.token("acme", &[Scope::Admin]);
    let mut body = crate::helpers::deployment(repository, 1);
    body["commit_id"] = json!(sha);
    body["status"] = json!("success");
    app.create_deployment(&admin, &body).await;
}

async fn stored(app: &TestApp, id: &str) -> Value {
    let admin = app.token("acme", &[Scope::Admin]);
    app.get(&format!("/api/v1/deployments/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap()
}

const DATES: [&str; 3] = [
    "2026-03-01T10:00:00+00:00",
    "2026-03-02T11:00:00+00:00",
    "2026-03-03T12:30:00+00:00",
];

/// The commits since the previous deployment (of the first commit), newest first, as
/// stored: the second and third, with their committer times.
fn expected_commits(checkout: &Checkout) -> Value {
    let mut commits: Vec<Value> = checkout.commits[1..]
        .iter()
        .map(|(sha, date)| {
            let t = chrono::DateTime::parse_from_rfc3339(date)
                .unwrap()
                .with_timezone(&chrono::Utc);
            json!({"sha": sha, "committed_at": t.to_rfc3339()})
        })
        .collect();
    commits.sort_by(|a, b| a["committed_at"].as_str().cmp(&b["committed_at"].as_str()));
    json!(commits)
}

#[tokio::test]
async fn readme_github_actions_job_with_oidc_records_the_commits_once() {
    let app = oidc_app().await;
    let (rsa, _, _) = keys();
    let issuer = Issuer::start(&[rsa]).await;
    // README's policy, with the local issuer in place of GitHub's (whose repositories are
    // on github.com).
    let mut policy = readme_policy("github-policy");
    policy["issuer"] = json!(issuer.url);
    policy["repository_host"] = json!("github.com");
    add_policy(&app, &policy).await;
    {
        let mut state = issuer.state.lock().unwrap();
        state.runner_bearer = "runner-request-token".to_owned();
        state.runner_claims = issuer.github_claims("acme/web", "refs/heads/main");
    }
    let checkout = Checkout::new("https://github.com/acme/web.git", &DATES);
    checkout.detach();
    previous_deployment(&app, "https://github.com/acme/web", &checkout.commits[0].0).await;

    let vars = HashMap::from([("DORA_URL", app.address.clone())]);
    let secrets = HashMap::new();
    let run = |run_id: &str| {
        run_github_job(
            "github-oidc",
            &checkout,
            github_env(&checkout, run_id),
            &vars,
            &secrets,
            Some((&issuer, "runner-request-token")),
        )
    };
    let outputs = run("4242").await;
    let created = assert_ok(&outputs[0]);
    let record = stored(&app, created["id"].as_str().unwrap()).await;
    assert_eq!(record["commit_id"], checkout.head());
    assert_eq!(record["branch"], "main");
    assert_eq!(record["environment"], "production");
    assert_eq!(record["status"], "success");
    assert_eq!(record["member_id"], "alice");
    assert_eq!(record["title"], "Change 3");
    assert_eq!(
        record["url"],
        "https://github.com/acme/web/actions/runs/4242/attempts/1"
    );
    assert_eq!(record["commits"], expected_commits(&checkout), "{record}");
    assert_eq!(
        issuer.state.lock().unwrap().runner_requests,
        vec!["dora-tracker".to_owned()],
        "the runner was asked for the dora-tracker audience"
    );

    // The same run again (a retried step): the same record, nothing new.
    let rows = app.deployment_rows().await;
    let again = assert_ok(&run("4242").await[0]);
    assert_eq!(again["id"], created["id"]);
    assert!(String::from_utf8_lossy(&run("4242").await[0].stderr).contains("already recorded"));
    assert_eq!(app.deployment_rows().await, rows);
}

#[tokio::test]
async fn readme_github_actions_job_with_a_stored_token() {
    let app = spawn_app_with(|_| {}).await;
    let token = mint(
        &app,
        json!({"name": "github-web", "scopes": ["ingest"],
               "repositories": ["https://github.com/acme/web"]}),
    )
    .await;
    let checkout = Checkout::new("https://github.com/acme/web", &DATES);
    checkout.detach();
    previous_deployment(&app, "https://github.com/acme/web", &checkout.commits[0].0).await;
    let outputs = run_github_job(
        "github-token",
        &checkout,
        github_env(&checkout, "77"),
        &HashMap::from([("DORA_URL", app.address.clone())]),
        &HashMap::from([("DORA_TOKEN", token.clone())]),
        None,
    )
    .await;
    let created = assert_ok(&outputs[0]);
    let record = stored(&app, created["id"].as_str().unwrap()).await;
    assert_eq!(record["commit_id"], checkout.head());
    assert_eq!(record["commits"], expected_commits(&checkout));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&outputs[0].stdout),
        String::from_utf8_lossy(&outputs[0].stderr)
    );
    assert!(!printed.contains(&token), "the token is never printed");
}

#[tokio::test]
async fn readme_gitlab_job_with_oidc_and_a_job_token_in_the_remote() {
    let app = oidc_app().await;
    let (_, _, ec) = keys();
    let issuer = Issuer::start(&[ec]).await;
    let mut policy = readme_policy("gitlab-policy");
    policy["issuer"] = json!(issuer.url);
    policy["repository_host"] = json!("gitlab.com");
    add_policy(&app, &policy).await;
    // GitLab's checkout: the job token is in the remote URL.
    let mut checkout = Checkout::new(
        "https://gitlab-ci-token:glcbt-JOBTOKEN@gitlab.com/acme/web.git",
        &DATES[..1],
    );
    checkout.detach();
    let variables = HashMap::from([("DORA_URL", app.address.clone())]);
    let mint = |aud: &str| {
        let mut claims = issuer.gitlab_claims("acme/web", "main");
        claims["aud"] = json!(aud);
        ec.sign(&claims)
    };
    // The stream's first deployment: its commit only.
    let first = assert_ok(
        &run_gitlab_job(
            "gitlab-oidc",
            &checkout,
            gitlab_env(&checkout, "5149"),
            &variables,
            mint,
        )
        .await,
    );
    assert_eq!(first["commits"].as_array().unwrap().len(), 1);
    assert_eq!(first["repository_url"], "https://gitlab.com/acme/web.git");
    checkout.commit(DATES[1]);
    checkout.commit(DATES[2]);
    let out = run_gitlab_job(
        "gitlab-oidc",
        &checkout,
        gitlab_env(&checkout, "5150"),
        &variables,
        mint,
    )
    .await;
    let created = assert_ok(&out);
    let record = stored(&app, created["id"].as_str().unwrap()).await;
    assert_eq!(record["commit_id"], checkout.head());
    assert_eq!(record["branch"], "main");
    assert_eq!(record["url"], "https://gitlab.com/acme/web/-/jobs/5150");
    assert_eq!(record["commits"], expected_commits(&checkout));
    assert!(
        !record.to_string().contains("JOBTOKEN")
            && !String::from_utf8_lossy(&out.stderr).contains("JOBTOKEN"),
        "the job token of the remote is never sent or printed: {record}"
    );
}

#[tokio::test]
async fn readme_gitlab_job_with_a_stored_token() {
    let app = spawn_app_with(|_| {}).await;
    let token = mint(
        &app,
        json!({"name": "gitlab", "scopes": ["ingest", "read"]}),
    )
    .await;
    let checkout = Checkout::new("git@gitlab.com:acme/web.git", &DATES);
    checkout.detach();
    previous_deployment(&app, "https://gitlab.com/acme/web", &checkout.commits[0].0).await;
    let out = run_gitlab_job(
        "gitlab-token",
        &checkout,
        gitlab_env(&checkout, "6000"),
        &HashMap::from([("DORA_URL", app.address.clone()), ("DORA_TOKEN", token)]),
        |_| unreachable!("no id_tokens"),
    )
    .await;
    let created = assert_ok(&out);
    let record = stored(&app, created["id"].as_str().unwrap()).await;
    assert_eq!(record["repository"], "acme/web");
    assert_eq!(
        record["commits"],
        expected_commits(&checkout),
        "the same stream"
    );
}

#[tokio::test]
async fn readme_curl_form() {
    let app = spawn_app_with(|_| {}).await;
    let token = mint(&app, json!({"name": "curl", "scopes": ["ingest"]})).await;
    let checkout = Checkout::new("https://github.com/acme/web", &DATES);
    let env = HashMap::from([
        ("DORA_URL".to_owned(), app.address.clone()),
        ("DORA_TOKEN".to_owned(), token),
    ]);
    let out = checkout.bash(&readme_example("curl"), &env).await;
    let created = assert_ok(&out);
    let record = stored(&app, created["id"].as_str().unwrap()).await;
    assert_eq!(record["commit_id"], checkout.head());
    assert_eq!(record["branch"], "main");
    assert_eq!(
        record["commits"][0]["committed_at"],
        "2026-03-03T12:30:00+00:00"
    );
    // Pasted twice, it is one record.
    let again = assert_ok(&checkout.bash(&readme_example("curl"), &env).await);
    assert_eq!(again["id"], created["id"]);
}

async fn record(checkout: &Checkout, args: &[&str], env: &[(&str, &str)]) -> Output {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut line = String::from("dora-tracker record");
    for arg in args {
        line.push_str(&format!(" '{arg}'"));
    }
    checkout.bash(&line, &env).await
}

#[tokio::test]
async fn dry_run_prints_the_request_and_failures_say_why() {
    let app = spawn_app_with(|_| {}).await;
    let token = mint(
        &app,
        json!({"name": "web", "scopes": ["ingest"],
               "repositories": ["https://github.com/acme/web"]}),
    )
    .await;
    let mut checkout = Checkout::new("https://github.com/acme/web", &DATES);
    let url = app.address.clone();
    let out = record(
        &checkout,
        &["--dry-run", "--since", &checkout.commits[0].0.clone()],
        &[("DORA_URL", &url), ("DORA_TOKEN", &token)],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed.starts_with(&format!("POST {url}/api/v1/deployments")),
        "{printed}"
    );
    assert!(printed.contains("Authorization: Bearer [redacted]"));
    assert!(printed.contains("Idempotency-Key: dora-record:"));
    assert!(!printed.contains(&token));
    let body: Value = serde_json::from_str(&printed[printed.find("\n{").unwrap()..]).unwrap();
    assert_eq!(body["commit_id"], checkout.head());
    assert_eq!(body["branch"], "main", "the checked-out branch");
    assert_eq!(body["commits"].as_array().unwrap().len(), 2);
    assert_eq!(body["member_id"], "alice@example.com");
    assert_eq!(app.deployment_rows().await, 0, "a dry run sends nothing");

    // A first deployment sends its commit only; so does a redeploy of it (a commit shipped
    // already counts once for lead time); the next one, the commits since.
    let first = assert_ok(
        &record(
            &checkout,
            &[],
            &[("DORA_URL", &url), ("DORA_TOKEN", &token)],
        )
        .await,
    );
    assert_eq!(first["commits"].as_array().unwrap().len(), 1);
    let redeploy = assert_ok(
        &record(
            &checkout,
            &[],
            &[("DORA_URL", &url), ("DORA_TOKEN", &token)],
        )
        .await,
    );
    assert_ne!(
        redeploy["id"], first["id"],
        "another invocation is another deployment"
    );
    assert_eq!(redeploy["commits"], first["commits"]);
    checkout.commit("2026-03-04T09:00:00+00:00");
    let next = assert_ok(
        &record(
            &checkout,
            &[],
            &[("DORA_URL", &url), ("DORA_TOKEN", &token)],
        )
        .await,
    );
    assert_eq!(next["commits"].as_array().unwrap().len(), 1);
    assert_eq!(next["commits"][0]["sha"], checkout.head());

    // The service's refusal, with its message, and a non-zero exit.
    let out = record(
        &checkout,
        &[
            "--repository",
            "https://github.com/acme/api",
            "--since",
            &checkout.head(),
        ],
        &[("DORA_URL", &url), ("DORA_TOKEN", &token)],
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("403") && stderr.contains("may write only for github.com/acme/web"),
        "{stderr}"
    );
    let out = record(
        &checkout,
        &[],
        &[("DORA_URL", &url), ("DORA_TOKEN", "not-a-token")],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    for (args, says) in [
        (vec!["--status", "shipped"], "--status"),
        (vec!["--environment", "prod env"], "--environment"),
        (vec!["--commit", "0000000000"], "not a commit"),
    ] {
        let out = record(
            &checkout,
            &args,
            &[("DORA_URL", &url), ("DORA_TOKEN", &token)],
        )
        .await;
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}"
        );
    }
    let out = record(&checkout, &[], &[("DORA_URL", &url)]).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("no credential"));
    let out = record(
        &checkout,
        &["--oidc"],
        &[("DORA_URL", &url), ("GITHUB_ACTIONS", "true")],
    )
    .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("id-token: write"));
}

/// What the flaky proxy does with each POST it receives, in order; then it forwards.
#[derive(Clone, Copy)]
enum Fault {
    /// Answers 503 without forwarding.
    Unavailable,
    /// Answers 429 with `Retry-After: 0`.
    TooMany,
    /// Forwards, then drops the connection without answering (the answer is lost).
    Drop,
}

/// A loopback proxy in front of `target`, failing POSTs as `faults` says.
async fn flaky_proxy(target: String, faults: Vec<Fault>) -> (String, Arc<Mutex<usize>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let faults = Arc::new(Mutex::new(faults.into_iter()));
    let posts = Arc::new(Mutex::new(0usize));
    let counter = posts.clone();
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (faults, client, target, counter) = (
                faults.clone(),
                client.clone(),
                target.clone(),
                counter.clone(),
            );
            tokio::spawn(async move {
                // One request per connection.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.lines();
                let request_line = lines.next().unwrap_or_default().to_owned();
                let mut parts = request_line.split(' ');
                let method = parts.next().unwrap_or_default().to_owned();
                let path = parts.next().unwrap_or_default().to_owned();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = buf[head_end..head_end + length].to_vec();
                let fault = if method == "POST" {
                    *counter.lock().unwrap() += 1;
                    faults.lock().unwrap().next()
                } else {
                    None
                };
                let reply = |status: u16, extra: &str, body: &str| {
                    format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
                        body.len()
                    )
                };
                match fault {
                    Some(Fault::Unavailable) => {
                        let _ = socket.write_all(reply(503, "", "").as_bytes()).await;
                        return;
                    }
                    Some(Fault::TooMany) => {
                        let _ = socket
                            .write_all(reply(429, "Retry-After: 0\r\n", "").as_bytes())
                            .await;
                        return;
                    }
                    _ => {}
                }
                let mut forward =
                    client.request(method.parse().unwrap(), format!("{target}{path}"));
                for (k, v) in &headers {
                    if !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("content-length")
                    {
                        forward = forward.header(k, v);
                    }
                }
                let response = forward.body(body).send().await.unwrap();
                let status = response.status().as_u16();
                let mut extra = String::new();
                for (k, v) in response.headers() {
                    let k = k.as_str();
                    if !matches!(k, "content-length" | "connection" | "transfer-encoding") {
                        extra.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
                    }
                }
                let text = response.text().await.unwrap();
                if matches!(fault, Some(Fault::Drop)) {
                    // Recorded, but the client never hears it.
                    return;
                }
                let _ = socket
                    .write_all(reply(status, &extra, &text).as_bytes())
                    .await;
            });
        }
    });
    (address, posts)
}

#[tokio::test]
async fn retries_on_busy_answers_and_lost_connections_never_duplicate() {
    let app = spawn_app_with(|_| {}).await;
    let token = mint(&app, json!({"name": "ci", "scopes": ["ingest"]})).await;
    let checkout = Checkout::new("https://github.com/acme/web", &DATES);
    let (proxy, posts) = flaky_proxy(
        app.address.clone(),
        vec![Fault::Unavailable, Fault::TooMany, Fault::Drop],
    )
    .await;
    let out = record(
        &checkout,
        &["--retry-delay-ms", "10", "--idempotency-key", "run-1"],
        &[("DORA_URL", &proxy), ("DORA_TOKEN", &token)],
    )
    .await;
    let created = assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("retrying").count(), 3, "{stderr}");
    assert!(
        stderr.contains("already recorded"),
        "the fourth POST was replayed: {stderr}"
    );
    assert_eq!(*posts.lock().unwrap(), 4);
    assert_eq!(
        app.deployment_rows().await,
        1,
        "one deployment, whatever the retries"
    );
    assert_eq!(
        stored(&app, created["id"].as_str().unwrap()).await["commit_id"],
        checkout.head()
    );

    // A service that stays down: it gives up, non-zero, after the retries.
    let (down, posts) = flaky_proxy(app.address.clone(), vec![Fault::Unavailable; 10]).await;
    let out = record(
        &checkout,
        &["--retry-delay-ms", "1", "--retries", "2"],
        &[("DORA_URL", &down), ("DORA_TOKEN", &token)],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gave up after 3 attempts"));
    assert_eq!(*posts.lock().unwrap(), 3);
}
