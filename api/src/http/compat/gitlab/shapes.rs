//! The parts of GitLab's webhook payloads dora-tracker reads (GitLab's "Webhook events"
//! documentation: Deployment, Push and Issue hooks). Unknown fields are ignored. GitLab writes
//! times three ways (`2021-04-28T19:50:00Z`, `2021-04-28 21:50:00 +0200`,
//! `2021-04-28 19:50:00 UTC`); [`time`] reads them all.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};

/// A GitLab time in any of its spellings.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f %z") {
        return Some(t.with_timezone(&Utc));
    }
    let naive = text.strip_suffix(" UTC").unwrap_or(text);
    NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

fn time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    parse_time(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a GitLab time")))
}

fn optional_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => parse_time(&text)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a GitLab time"))),
    }
}

#[derive(Debug, Deserialize)]
pub struct Project {
    pub web_url: String,
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub username: Option<String>,
}

/// `X-Gitlab-Event: Deployment Hook`.
#[derive(Debug, Deserialize)]
pub struct DeploymentHook {
    pub status: String,
    #[serde(deserialize_with = "time")]
    pub status_changed_at: DateTime<Utc>,
    pub deployment_id: i64,
    pub deployable_url: Option<String>,
    pub environment: Option<String>,
    pub environment_tier: Option<String>,
    pub project: Project,
    pub sha: Option<String>,
    pub short_sha: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub user: Option<User>,
    pub commit_url: Option<String>,
    pub commit_title: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PushCommit {
    pub id: String,
    #[serde(deserialize_with = "time")]
    pub timestamp: DateTime<Utc>,
}

/// `X-Gitlab-Event: Push Hook`.
#[derive(Debug, Deserialize)]
pub struct PushHook {
    pub before: String,
    pub after: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub project: Project,
    #[serde(default)]
    pub commits: Vec<PushCommit>,
}

#[derive(Debug, Deserialize)]
pub struct Label {
    pub title: String,
}

#[derive(Debug, Deserialize)]
pub struct IssueAttributes {
    pub id: i64,
    pub iid: i64,
    pub title: Option<String>,
    pub description: Option<String>,
    /// `opened` or `closed`.
    pub state: Option<String>,
    /// `open`, `close`, `reopen`, `update`.
    pub action: Option<String>,
    #[serde(deserialize_with = "time")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "time")]
    pub updated_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "optional_time")]
    pub closed_at: Option<DateTime<Utc>>,
    pub url: Option<String>,
    /// `Issue`, `Incident`, … (GitLab 17.2+).
    #[serde(rename = "type")]
    pub work_item_type: Option<String>,
    /// `issue`, `incident` (older GitLab).
    pub issue_type: Option<String>,
    pub severity: Option<String>,
    pub labels: Option<Vec<Label>>,
}

/// `X-Gitlab-Event: Issue Hook` (and `Confidential Issue Hook`).
#[derive(Debug, Deserialize)]
pub struct IssueHook {
    pub object_attributes: IssueAttributes,
    pub labels: Option<Vec<Label>>,
    pub project: Project,
}
