//! `POST /api/v1/deployments` (and iftrue's `POST /v1/organization/deployment`, same body):
//! raw bytes → `JsonBody<DeploymentIn>` (unique keys, the text rule, serde + the schema's
//! validators) → `to_domain`, the exact path a request body takes before anything is stored.
//! Also the admin replacement body (`PUT /api/v1/admin/deployments/{id}`).
//!
//! Beyond "never panics", an accepted deployment must be storable on both databases (no
//! control character, NUL above all, which PostgreSQL refuses) and within the time rule.
#![no_main]

use api::{
    domain::{EARLIEST, check_text},
    http::{
        body::JsonBody, routes::admin::DeploymentReplacement, shapes::deployment::DeploymentIn,
    },
};
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_796_000_000, 0).unwrap_or_default()
}

fn storable(field: &str, value: &str, free_text: bool) {
    assert!(
        check_text(value, free_text).is_ok(),
        "accepted {field} breaks the text rule: {value:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = JsonBody::<DeploymentIn>::parse(data)
        && let Ok(new) = body.value.to_domain(now())
    {
        storable("repository_url", &new.repository.url, false);
        storable("repository key", &new.repository.key, false);
        storable("title", &new.title, false);
        storable("branch", &new.branch, false);
        storable("environment", &new.environment, false);
        for (field, value, free) in [
            ("team", &new.team, false),
            ("member_id", &new.member_external_id, false),
            ("changelog", &new.changelog, true),
            ("url", &new.url, false),
            ("deployment_node_id", &new.node_id, false),
        ] {
            if let Some(v) = value {
                storable(field, v, free);
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
        for t in [new.started_at, new.finished_at].into_iter().flatten() {
            assert!(
                t >= EARLIEST && t <= now() + api::domain::CLOCK_SKEW,
                "time outside the rule accepted: {t}"
            );
        }
        for c in &new.commits {
            assert!(
                c.committed_at >= EARLIEST,
                "commit time before 1970 accepted"
            );
        }
    }
    let _ = JsonBody::<DeploymentReplacement>::parse(data);
});
