//! What the checkout says, by running `git`: the deployed commit, the branch, the `origin`
//! remote (without credentials), and the commits since the stream's last successful
//! deployment with their committer times.

use std::{path::PathBuf, process::Command};

use chrono::{DateTime, Utc};

/// Most commits one deployment may carry (the API's limit).
pub const MAX_COMMITS: usize = 1000;

/// A git checkout.
pub struct Repo {
    dir: PathBuf,
}

/// A commit and when it was committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    pub committed_at: DateTime<Utc>,
}

impl Repo {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn git(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(format!(
                "git {}: {}",
                args.first().copied().unwrap_or_default(),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// The full sha of `rev` (HEAD, a sha, a tag).
    pub fn resolve(&self, rev: &str) -> Result<String, String> {
        if rev.starts_with('-') {
            return Err(format!("`{rev}` is not a revision"));
        }
        self.git(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .map_err(|_| {
            format!(
                "`{rev}` is not a commit of the checkout in {}",
                self.dir.display()
            )
        })
    }

    /// The checked-out branch; `None` on a detached HEAD (as CI checkouts often are).
    pub fn branch(&self) -> Option<String> {
        self.git(&["symbolic-ref", "--quiet", "--short", "HEAD"])
            .ok()
            .filter(|b| !b.is_empty())
    }

    /// The `origin` remote's URL with any credentials taken out (GitLab puts the job
    /// token in it).
    pub fn origin(&self) -> Option<String> {
        let url = self.git(&["remote", "get-url", "origin"]).ok()?;
        Some(without_credentials(&url))
    }

    /// The committer e-mail of `sha`, for who deployed when the CI does not say.
    pub fn committer_email(&self, sha: &str) -> Option<String> {
        self.git(&["log", "-1", "--format=%ce", sha])
            .ok()
            .filter(|e| !e.is_empty())
    }

    /// The subject line of `sha`.
    pub fn subject(&self, sha: &str) -> Option<String> {
        self.git(&["log", "-1", "--format=%s", sha])
            .ok()
            .filter(|s| !s.is_empty())
    }

    /// Whether `sha` is in the checkout (a shallow clone may not have it).
    pub fn has(&self, sha: &str) -> bool {
        self.git(&["cat-file", "-e", &format!("{sha}^{{commit}}")])
            .is_ok()
    }

    /// The commits reachable from `head` and not from `since` (newest first, at most
    /// [`MAX_COMMITS`]); with no `since`, `head` alone.
    pub fn commits(&self, since: Option<&str>, head: &str) -> Result<Vec<Commit>, String> {
        let range = match since {
            Some(since) => format!("{since}..{head}"),
            None => head.to_owned(),
        };
        let max = if since.is_some() { MAX_COMMITS } else { 1 };
        let out = self.git(&[
            "log",
            "--format=%H %cI",
            &format!("--max-count={max}"),
            &range,
            "--",
        ])?;
        out.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let (sha, time) = line
                    .split_once(' ')
                    .ok_or_else(|| format!("unexpected git log line `{line}`"))?;
                let committed_at = DateTime::parse_from_rfc3339(time)
                    .map_err(|_| format!("unexpected commit time `{time}`"))?
                    .with_timezone(&Utc);
                Ok(Commit {
                    sha: sha.to_owned(),
                    committed_at,
                })
            })
            .collect()
    }
}

/// `https://gitlab-ci-token:secret@gitlab.com/g/a.git` → `https://gitlab.com/g/a.git`.
pub fn without_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            // scp-like `git@host:path` does not parse as a URL and carries no secret.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_taken_out() {
        assert_eq!(
            without_credentials("https://gitlab-ci-token:s3cr3t@gitlab.com/g/a.git"),
            "https://gitlab.com/g/a.git"
        );
        assert_eq!(
            without_credentials("git@github.com:acme/web.git"),
            "git@github.com:acme/web.git"
        );
        assert_eq!(
            without_credentials("https://github.com/acme/web"),
            "https://github.com/acme/web"
        );
    }
}
