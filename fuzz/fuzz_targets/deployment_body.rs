//! `POST /api/v1/deployments` (and iftrue's `POST /v1/organization/deployment`, same body):
//! raw bytes → `JsonBody<DeploymentIn>` (serde + the schema's validators) → `to_domain`, the
//! exact path a request body takes before anything is stored. Also the admin replacement
//! body (`PUT /api/v1/admin/deployments/{id}`), whose validation after parsing is private.
//!
//! Beyond "never panics", an accepted deployment must be storable on both databases:
//! PostgreSQL refuses NUL in text, so a NUL that reaches a stored string is a 500 there.
#![no_main]

use api::{
    body::JsonBody,
    routes::{admin::DeploymentReplacement, deployments::DeploymentIn},
};
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default()
}

fn storable(field: &str, value: &str) {
    assert!(
        !value.contains('\0'),
        "accepted {field} contains NUL (PostgreSQL cannot store it): {value:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = JsonBody::<DeploymentIn>::parse(data)
        && let Ok(new) = body.value.to_domain(now())
    {
        storable("repository_url", &new.repository.url);
        storable("repository key", &new.repository.key);
        storable("title", &new.title);
        storable("branch", &new.branch);
        storable("environment", &new.environment);
        for (field, value) in [
            ("team", &new.team),
            ("member_id", &new.member_external_id),
            ("changelog", &new.changelog),
            ("url", &new.url),
            ("deployment_node_id", &new.node_id),
        ] {
            if let Some(v) = value {
                storable(field, v);
            }
        }
        assert!(
            (7..=64).contains(&new.commit_id.len())
                && new
                    .commit_id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "commit_id not normalized: {:?}",
            new.commit_id
        );
        assert!(
            new.duration_seconds.is_none_or(|d| d >= 0),
            "negative duration {:?}",
            new.duration_seconds
        );
        if let (Some(s), Some(f)) = (new.started_at, new.finished_at) {
            assert!(s <= f, "finished before it started");
        }
    }
    let _ = JsonBody::<DeploymentReplacement>::parse(data);
});
