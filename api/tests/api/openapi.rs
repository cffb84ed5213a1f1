//! `openapi.yaml` is generated from the code; this fails when the checked-in copy is stale.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test --test api openapi`.

#[test]
fn openapi_yaml_is_up_to_date() {
    let generated = api::http::spec::yaml();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi.yaml is stale: run `UPDATE_OPENAPI=1 cargo test --test api openapi` and commit it"
    );
}

/// Every `#[oai(deny_unknown_fields)]` object is in `http::spec::CLOSED_OBJECTS`, so the spec
/// says `additionalProperties: false` wherever the server refuses unknown fields.
#[test]
fn closed_objects_are_declared_closed() {
    fn sources(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut files = Vec::new();
    sources(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut files,
    );
    let mut closed = Vec::new();
    for file in &files {
        let mut after_deny = false;
        for line in file.lines() {
            if line.contains("#[oai(deny_unknown_fields") {
                after_deny = true;
            } else if after_deny && let Some(rest) = line.trim().strip_prefix("pub struct ") {
                closed.push(rest.split([' ', '{', '<']).next().unwrap().to_owned());
                after_deny = false;
            }
        }
    }
    closed.sort();
    let mut listed: Vec<String> = api::http::spec::CLOSED_OBJECTS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    listed.sort();
    assert_eq!(closed, listed, "update http::spec::CLOSED_OBJECTS");
    let doc = api::http::spec::document();
    for name in api::http::spec::CLOSED_OBJECTS {
        assert_eq!(
            doc["components"]["schemas"][*name]["additionalProperties"],
            serde_yaml::Value::Bool(false),
            "{name}"
        );
    }
}

/// The words the spec lists for a request list are the ones the server takes: each listed
/// word is accepted (201), a word outside the list is refused (422).
#[tokio::test]
async fn listed_words_are_the_accepted_ones() {
    let spec: serde_json::Value = serde_json::from_str(&api::http::spec::json()).unwrap();
    let words = |object: &str, property: &str| -> Vec<String> {
        spec["components"]["schemas"][object]["properties"][property]["items"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{object}.{property} lists no words"))
            .iter()
            .map(|w| w.as_str().unwrap().to_owned())
            .collect()
    };
    let app = crate::helpers::spawn_app_with(|args| {
        args.webhooks.webhook_allow_private_targets = "true".to_owned();
    })
    .await;
    let admin = app.token("acme", &[api::auth::Scope::Admin]);
    let events = words("SubscriptionIn", "events");
    assert_eq!(events, words("SubscriptionPatchIn", "events"));
    assert!(events.contains(&"*".to_owned()) && events.contains(&"incident".to_owned()));
    for event in events.iter().map(String::as_str).chain(["ping", "deploy"]) {
        let resp = app
            .post_json(
                "/api/v1/webhook-subscriptions",
                &admin,
                &serde_json::json!({"url": "http://127.0.0.1:9/x", "events": [event]}),
            )
            .await;
        let expected = if events.iter().any(|e| e == event) {
            201
        } else {
            422
        };
        assert_eq!(resp.status(), expected, "event {event}");
    }
    let scopes = words("TokenIn", "scopes");
    assert_eq!(scopes, words("TrustPolicyIn", "scopes"));
    for scope in scopes.iter().map(String::as_str).chain(["write", ""]) {
        let resp = app
            .post_json(
                "/api/v1/tokens",
                &admin,
                &serde_json::json!({"name": "ci", "scopes": [scope]}),
            )
            .await;
        let expected = if scopes.iter().any(|s| s == scope) {
            201
        } else {
            422
        };
        assert_eq!(resp.status(), expected, "scope {scope:?}");
    }
}
