//! The GitHub-shaped bodies: `POST /api/v3/repos/{o}/{r}/deployments` (`CreateDeploymentIn`)
//! and `…/deployments/{id}/statuses` (`CreateStatusIn`), and the canonical status body
//! (`StatusIn`) that shares `parse_status` with it. Raw bytes → `JsonBody` → the validation
//! the handlers run. The create-deployment handler validates inline (no public function to
//! call), so this target runs the public validators it uses on the parsed fields; see
//! ci/fuzz/FINDINGS.md for the function that should become public.
#![no_main]

use api::{
    body::JsonBody,
    compat::github::{CreateDeploymentIn, CreateStatusIn},
    domain::{StatusState, check_text, normalize_sha, validate_environment},
    routes::statuses::{RawStatus, StatusIn, parse_status},
    store::statuses::NewStatus,
};
use libfuzzer_sys::fuzz_target;

fn storable(status: &NewStatus) {
    for (field, value) in [
        ("description", Some(&status.description)),
        ("log_url", status.log_url.as_ref()),
        ("environment_url", status.environment_url.as_ref()),
        ("environment", status.environment.as_ref()),
    ] {
        if let Some(v) = value {
            assert!(
                !v.contains('\0'),
                "accepted status {field} contains NUL (PostgreSQL cannot store it): {v:?}"
            );
        }
    }
    assert!(status.description.chars().count() <= 140);
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(b) = JsonBody::<CreateDeploymentIn>::parse(body) {
                let b = b.value;
                let _ = check_text(&b.git_ref, false);
                let _ = normalize_sha(&b.git_ref);
                if let Some(task) = &b.task {
                    let _ = check_text(task, false);
                }
                if let Some(env) = &b.environment {
                    let _ = validate_environment(env);
                }
                if let Some(d) = &b.description {
                    let _ = check_text(d, true);
                }
                if let Some(sha) = b
                    .payload
                    .as_ref()
                    .and_then(|p| p.get("sha"))
                    .and_then(|s| s.as_str())
                {
                    let _ = normalize_sha(sha);
                }
            }
        }
        1 => {
            if let Ok(b) = JsonBody::<CreateStatusIn>::parse(body) {
                let Some(state) = b
                    .json
                    .get("state")
                    .and_then(|s| s.as_str())
                    .and_then(StatusState::parse)
                else {
                    panic!(
                        "a parsed GitHub state has no domain state: {:?}",
                        b.json.get("state")
                    );
                };
                let b = b.value;
                if let Ok(status) = parse_status(
                    RawStatus {
                        state,
                        description: b.description.as_deref(),
                        log_url: b
                            .log_url
                            .as_deref()
                            .filter(|u| !u.is_empty())
                            .or(b.target_url.as_deref()),
                        environment_url: b.environment_url.as_deref(),
                        environment: b.environment.as_deref(),
                        auto_inactive: b.auto_inactive,
                    },
                    None,
                ) {
                    storable(&status);
                }
            }
        }
        _ => {
            if let Ok(b) = JsonBody::<StatusIn>::parse(body) {
                let b = b.value;
                if let Ok(status) = parse_status(
                    RawStatus {
                        state: b.state.domain(),
                        description: b.description.as_deref(),
                        log_url: b.log_url.as_deref(),
                        environment_url: b.environment_url.as_deref(),
                        environment: b.environment.as_deref(),
                        auto_inactive: b.auto_inactive,
                    },
                    None,
                ) {
                    storable(&status);
                }
            }
        }
    }
});
