//! The GitHub-shaped bodies: `POST /api/v3/repos/{o}/{r}/deployments` (`CreateDeploymentIn` →
//! `compat::github::new_deployment`, the handler's own validation) and
//! `…/deployments/{id}/statuses` (`CreateStatusIn`), and the canonical status body
//! (`StatusIn`); both status bodies go through `domain::NewStatus::parse`. Raw bytes →
//! `JsonBody` → the validation the handlers run.
#![no_main]

use api::{
    domain::{NewStatus, RawStatus, RepositoryRef, check_text},
    http::{
        body::JsonBody,
        compat::github::{new_deployment, shapes::CreateDeploymentIn, shapes::CreateStatusIn},
        routes::statuses::StatusIn,
    },
};
use libfuzzer_sys::fuzz_target;

fn storable(status: &NewStatus) {
    for (field, value) in [
        ("log_url", status.log_url.as_ref()),
        ("environment_url", status.environment_url.as_ref()),
        ("environment", status.environment.as_ref()),
    ] {
        if let Some(v) = value {
            assert!(
                check_text(v, false).is_ok(),
                "accepted status {field} breaks the text rule: {v:?}"
            );
        }
    }
    assert!(
        check_text(&status.description, true).is_ok(),
        "accepted description breaks the text rule: {:?}",
        status.description
    );
    assert!(status.description.chars().count() <= 140);
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(b) = JsonBody::<CreateDeploymentIn>::parse(body) {
                let repository =
                    RepositoryRef::parse("https://github.com/acme/web").expect("repository");
                if let Ok((new, github)) = new_deployment(&b.value, repository, None) {
                    for (field, v) in [
                        ("title", &new.title),
                        ("branch", &new.branch),
                        ("environment", &new.environment),
                        ("task", &github.task),
                    ] {
                        assert!(check_text(v, false).is_ok(), "accepted {field}: {v:?}");
                    }
                    assert!(
                        !github.payload.contains("\\u0000"),
                        "accepted payload with NUL"
                    );
                }
            }
        }
        1 => {
            if let Ok(b) = JsonBody::<CreateStatusIn>::parse(body) {
                let b = b.value;
                if let Ok(status) = NewStatus::parse(
                    RawStatus {
                        state: b.state,
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
                if let Ok(status) = NewStatus::parse(
                    RawStatus {
                        state: b.state,
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
