//! `dora-tracker record`: records a deployment from a CI job's git checkout, with no JSON by
//! hand. A client of a running service (it talks HTTP to `--url`); it shares only `domain`
//! with the service, to validate what it sends.
//!
//! It reads the deployed commit, branch and repository from git and the CI's environment
//! (`ci`), asks the service for the stream's last successful deployment, sends the commits
//! since then with their committer times (`git`), and uses the CI's run id as the
//! `Idempotency-Key`, so its retries (429, 503, connection errors, backoff) never record a
//! deployment twice. Tokens are never printed.

mod ci;
mod git;

use std::{path::PathBuf, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use rand::Rng;
use serde_json::{Value, json};

use crate::domain::{RepositoryRef, Secret, Status, normalize_sha, validate_environment};

/// `dora-tracker record`'s arguments. Every one can also come from the environment.
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// The service's base URL, e.g. https://dora.example.com.
    #[arg(long, env = "DORA_URL")]
    pub url: String,
    /// A token of the service (`ingest` scope). Not needed with --oidc.
    #[arg(long, env = "DORA_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,
    /// Authenticate with the CI's identity token instead of a stored one (GitHub Actions
    /// with `permissions: id-token: write`; GitLab CI with `id_tokens:`).
    #[arg(long)]
    pub oidc: bool,
    /// The audience to request (GitHub) and that the trust policy expects.
    #[arg(long, env = "DORA_OIDC_AUDIENCE", default_value = "dora-tracker")]
    pub audience: String,
    /// The variable holding the identity token (GitLab's `id_tokens:` name, or any CI that
    /// provides one).
    #[arg(long, env = "DORA_ID_TOKEN_VARIABLE", default_value = "DORA_ID_TOKEN")]
    pub id_token_variable: String,
    /// The deployment's environment.
    #[arg(long, env = "DORA_ENVIRONMENT", default_value = "production")]
    pub environment: String,
    /// success, failure, error, canceled, in_progress or queued.
    #[arg(long, default_value = "success")]
    pub status: String,
    /// The deployed commit (default: HEAD of the checkout).
    #[arg(long)]
    pub commit: Option<String>,
    /// Default: the CI's branch, else the checked-out branch.
    #[arg(long)]
    pub branch: Option<String>,
    /// Default: the checkout's `origin` remote (credentials removed), else the CI's.
    #[arg(long)]
    pub repository: Option<String>,
    /// Default: the deployed commit's subject line.
    #[arg(long)]
    pub title: Option<String>,
    /// Who deployed; default: the CI's actor, else the commit's committer e-mail.
    #[arg(long)]
    pub member: Option<String>,
    /// Default: the CI's pull/merge request number, else 0.
    #[arg(long)]
    pub pull_request: Option<i64>,
    /// Link to the run; default: the CI's job or run URL.
    #[arg(long)]
    pub link: Option<String>,
    #[arg(long)]
    pub changelog: Option<String>,
    /// The team owning the repository.
    #[arg(long)]
    pub team: Option<String>,
    /// RFC 3339.
    #[arg(long)]
    pub started_at: Option<DateTime<Utc>>,
    /// RFC 3339; default: when the service records it.
    #[arg(long)]
    pub finished_at: Option<DateTime<Utc>>,
    #[arg(long)]
    pub is_fix: bool,
    #[arg(long)]
    pub is_hotfix: bool,
    #[arg(long)]
    pub is_rollback: bool,
    /// The commit the stream last shipped, instead of asking the service.
    #[arg(long)]
    pub since: Option<String>,
    /// Default: the CI's run and job id with the environment; else one made for this
    /// invocation (its own retries still never duplicate).
    #[arg(long, env = "DORA_IDEMPOTENCY_KEY")]
    pub idempotency_key: Option<String>,
    /// Attempts after the first, on 429, 502, 503, 504 and connection errors.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// The first retry's delay; each next one doubles (at most 30 s), unless the service
    /// says when (`Retry-After`).
    #[arg(long, default_value_t = 1000)]
    pub retry_delay_ms: u64,
    /// The git checkout.
    #[arg(long, default_value = ".")]
    pub git_dir: PathBuf,
    /// Print the request instead of sending it (the last successful deployment is still
    /// asked for, unless --since is given).
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `dora-tracker record`; the error is the message to print.
pub async fn record(args: RecordArgs) -> Result<(), String> {
    let env = |name: &str| std::env::var(name).ok();
    let context = ci::detect(&env);
    let repo = git::Repo::new(args.git_dir.clone());
    let base = base_url(&args.url)?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("dora-tracker-record/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;

    validate_environment(&args.environment).map_err(|e| format!("--environment: {e}"))?;
    let status: Status = args
        .status
        .parse()
        .ok()
        .filter(|s| *s != Status::Inactive)
        .ok_or_else(|| {
            format!(
                "--status: `{}` is not one of success, failure, error, canceled, in_progress, queued",
                args.status
            )
        })?;
    let head = repo.resolve(args.commit.as_deref().unwrap_or("HEAD"))?;
    let commit = normalize_sha(&head).map_err(|e| format!("--commit: {e}"))?;
    let repository_url = args
        .repository
        .clone()
        .or_else(|| repo.origin())
        .or_else(|| context.repository_url.clone())
        .ok_or("--repository: the checkout has no `origin` remote; name the repository")?;
    let repository = RepositoryRef::parse(&repository_url)
        .map_err(|e| format!("--repository `{repository_url}`: {e}"))?;
    let branch = args
        .branch
        .clone()
        .or_else(|| context.branch.clone())
        .or_else(|| repo.branch())
        .ok_or("--branch: HEAD is detached and the CI names no branch; name the branch")?;

    let credential = match (&args.token, args.oidc) {
        (_, true) => {
            let source = ci::id_token_source(context.kind, &env, &args.id_token_variable)?;
            Secret::new(ci::fetch_id_token(&client, &source, &args.audience).await?)
        }
        (Some(token), false) => token.clone(),
        (None, false) => {
            return Err(
                "no credential: pass --token (or DORA_TOKEN), or --oidc for the CI's identity token"
                    .to_owned(),
            );
        }
    };
    let service = Service {
        client,
        base,
        credential,
        retries: args.retries,
        retry_delay: Duration::from_millis(args.retry_delay_ms),
    };

    let since = match &args.since {
        Some(since) => Some(repo.resolve(since).unwrap_or_else(|_| since.clone())),
        // Passing over deployments of this very commit keeps the request the same when the
        // job is run again after its deployment was recorded (the Idempotency-Key then
        // answers the first record); for a redeploy the commits sent were shipped already,
        // which lead time ignores.
        None => {
            service
                .last_success(&repository.url, &args.environment, &commit)
                .await?
        }
    };
    let commits = match since.as_deref() {
        Some(since) if since.eq_ignore_ascii_case(&commit) => Vec::new(),
        Some(since) if repo.has(since) => repo.commits(Some(since), &commit)?,
        Some(since) => {
            eprintln!(
                "dora-tracker: the stream's last deployed commit {since} is not in this checkout \
                 (a shallow clone? fetch the history, e.g. `fetch-depth: 0`); sending the deployed \
                 commit only"
            );
            repo.commits(None, &commit)?
        }
        None => repo.commits(None, &commit)?,
    };
    if commits.len() == git::MAX_COMMITS {
        eprintln!(
            "dora-tracker: more than {} new commits; sending the newest {}",
            git::MAX_COMMITS,
            git::MAX_COMMITS
        );
    }

    let title = args
        .title
        .clone()
        .or_else(|| repo.subject(&commit))
        .map(|t| t.chars().take(500).collect::<String>())
        .unwrap_or_else(|| format!("Deploy {}", &commit[..7.min(commit.len())]));
    let member = args
        .member
        .clone()
        .or_else(|| context.member.clone())
        .or_else(|| repo.committer_email(&commit))
        .unwrap_or_else(|| "unknown".to_owned());
    let mut body = json!({
        "title": title,
        "branch": branch,
        "commit_id": commit,
        "repository_url": repository.url,
        "member_id": member,
        "pull_request_number": args.pull_request.or(context.pull_request).unwrap_or(0),
        "environment": args.environment,
        "status": status.as_str(),
        "is_fix": args.is_fix,
        "is_hotfix": args.is_hotfix,
        "is_rollback": args.is_rollback,
        "commits_count": commits.len(),
        "commits": commits.iter().map(|c| json!({
            "sha": c.sha,
            "committed_at": rfc3339(c.committed_at),
        })).collect::<Vec<_>>(),
    });
    let extra = [
        ("url", args.link.clone().or_else(|| context.run_url.clone())),
        ("changelog", args.changelog.clone()),
        ("team", args.team.clone()),
        ("started_at", args.started_at.map(rfc3339)),
        // Without one, the service takes the time it records the deployment; a default here
        // would make a rerun's request differ from the first one's.
        ("finished_at", args.finished_at.map(rfc3339)),
    ];
    for (field, value) in extra {
        if let Some(value) = value {
            body[field] = Value::String(value);
        }
    }
    let key = args
        .idempotency_key
        .clone()
        .or_else(|| {
            context
                .run
                .as_deref()
                .map(|run| ci::idempotency_key(run, &args.environment))
        })
        .unwrap_or_else(|| format!("dora-record:{}", uuid::Uuid::new_v4()));

    if args.dry_run {
        println!("POST {}/api/v1/deployments", service.base);
        println!("Authorization: Bearer [redacted]");
        println!("Content-Type: application/json");
        println!("Idempotency-Key: {key}");
        println!();
        println!(
            "{}",
            serde_json::to_string_pretty(&body).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    let (created, replayed) = service.create(&body, &key).await?;
    eprintln!(
        "dora-tracker: {} deployment #{} ({}) of {} to {}, {} commit(s)",
        if replayed {
            "already recorded:"
        } else {
            "recorded"
        },
        created["number"],
        created["id"].as_str().unwrap_or("?"),
        repository.key,
        args.environment,
        commits.len(),
    );
    println!("{created}");
    Ok(())
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn base_url(url: &str) -> Result<String, String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(url.trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "--url: `{url}` is not the service's URL, such as https://dora.example.com"
        )),
    }
}

/// The service, with retries.
struct Service {
    client: reqwest::Client,
    base: String,
    credential: Secret,
    retries: u32,
    retry_delay: Duration,
}

/// A whole answer of the service.
struct Reply {
    status: u16,
    replayed: bool,
    text: String,
}

/// What one attempt came to.
enum Attempt {
    Done(Reply),
    /// Worth another try, after this long (when the service said).
    Retry(String, Option<Duration>),
}

impl Service {
    /// The commit of the stream's last successful deployment, if any.
    async fn last_success(
        &self,
        repository: &str,
        environment: &str,
        except_commit: &str,
    ) -> Result<Option<String>, String> {
        let mut url = url::Url::parse(&format!("{}/api/v1/streams/last-success", self.base))
            .map_err(|e| e.to_string())?;
        url.query_pairs_mut()
            .append_pair("repository", repository)
            .append_pair("environment", environment)
            .append_pair("except_commit", except_commit);
        let reply = self.send(|| self.client.get(url.clone())).await?;
        let body = answer(reply, "asking for the stream's last successful deployment")?;
        Ok(body["deployment"]["commit_id"].as_str().map(str::to_owned))
    }

    /// Records the deployment; answers the record and whether it was recorded before.
    async fn create(&self, body: &Value, key: &str) -> Result<(Value, bool), String> {
        let url = format!("{}/api/v1/deployments", self.base);
        let reply = self
            .send(|| {
                self.client
                    .post(&url)
                    .header("Idempotency-Key", key)
                    .json(body)
            })
            .await?;
        let replayed = reply.replayed;
        Ok((answer(reply, "recording the deployment")?, replayed))
    }

    /// Sends a request (made anew for each attempt), retrying with backoff while the
    /// service is busy or unreachable.
    async fn send(&self, request: impl Fn() -> reqwest::RequestBuilder) -> Result<Reply, String> {
        let mut attempt = 0u32;
        loop {
            let outcome = match request().bearer_auth(self.credential.expose()).send().await {
                Ok(response) => classify(response).await,
                Err(e) => Attempt::Retry(describe(&e), None),
            };
            match outcome {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Retry(why, _) if attempt >= self.retries => {
                    return Err(format!("{why} (gave up after {} attempts)", attempt + 1));
                }
                Attempt::Retry(why, after) => {
                    let delay = after.unwrap_or_else(|| self.backoff(attempt));
                    eprintln!(
                        "dora-tracker: {why}; retrying in {:.1} s",
                        delay.as_secs_f64()
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .retry_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(Duration::from_secs(30));
        // Jitter, so many jobs retrying at once spread out.
        let jitter = rand::rng().random_range(0..=base.as_millis() as u64 / 4);
        base + Duration::from_millis(jitter)
    }
}

/// Retry on 429, 502, 503, 504, on 409 for an `Idempotency-Key` still in flight (an earlier
/// attempt that timed out may still be running), and when the answer breaks off; anything
/// else is the answer.
async fn classify(response: reqwest::Response) -> Attempt {
    let status = response.status().as_u16();
    let after = response
        .headers()
        .get("Retry-After")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(60)));
    let replayed = response
        .headers()
        .get("Idempotent-Replayed")
        .is_some_and(|v| v == "true");
    if matches!(status, 429 | 502 | 503 | 504) {
        return Attempt::Retry(format!("the service answered {status}"), after);
    }
    let text = match response.text().await {
        Ok(text) => text,
        Err(e) => return Attempt::Retry(describe(&e), None),
    };
    if status == 409 && text.contains("idempotency-key-in-flight") {
        return Attempt::Retry("the same request is still in flight".to_owned(), after);
    }
    Attempt::Done(Reply {
        status,
        replayed,
        text,
    })
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the service did not answer in time".to_owned()
    } else if e.is_connect() {
        "cannot connect to the service".to_owned()
    } else {
        // reqwest's message names the URL, never a header.
        format!("request failed: {e}")
    }
}

/// The JSON body of a success, else the service's own message as the error.
fn answer(reply: Reply, doing: &str) -> Result<Value, String> {
    if (200..300).contains(&reply.status) {
        return serde_json::from_str(&reply.text)
            .map_err(|_| format!("{doing}: the answer is not JSON"));
    }
    let problem: Value = serde_json::from_str(&reply.text).unwrap_or(Value::Null);
    let message = match (problem["type"].as_str(), problem["detail"].as_str()) {
        (Some(kind), Some(detail)) => format!("{kind}: {detail}"),
        _ => reply.text.chars().take(500).collect(),
    };
    Err(format!(
        "{doing}: the service answered {}: {message}",
        reply.status
    ))
}
