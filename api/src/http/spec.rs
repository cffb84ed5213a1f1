//! The served and committed OpenAPI document: poem-openapi's, with what its derive macros
//! cannot say written in afterwards, so that the spec tells the truth (STYLE.md):
//! `additionalProperties: false` on the request objects that refuse unknown fields, and the
//! words a request list may hold (`enum`), taken from the domain's vocabularies.

use std::sync::OnceLock;

use poem::{IntoResponse, Response, handler};
use serde_yaml::Value;

use crate::domain::{OutboundEvent, Scope};

/// Request objects declared `#[oai(deny_unknown_fields)]`: the server refuses a field they
/// do not list (422), so the spec says `additionalProperties: false` for them.
/// `tests/api/openapi.rs` checks this list against the source.
pub const CLOSED_OBJECTS: &[&str] = &[
    "CommitIn",
    "DeployHookIn",
    "DeploymentIn",
    "DeploymentPatch",
    "DeploymentReplacement",
    "IncidentIn",
    "IntegrationIn",
    "IntegrationOptionsIn",
    "IntegrationPatchIn",
    "ResolveIn",
    "ServiceIn",
    "StatusIn",
    "SubscriptionIn",
    "SubscriptionPatchIn",
    "TokenIn",
    "TrustPolicyIn",
];

/// Request properties that are lists of words of a domain vocabulary: (object, property,
/// the words). The server refuses any other word (422); the spec lists them, from the
/// vocabulary itself.
fn vocabularies() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let events: Vec<&str> = OutboundEvent::SUBSCRIBABLE
        .map(OutboundEvent::as_str)
        .into_iter()
        .chain(["*"])
        .collect();
    let scopes: Vec<&str> = Scope::ALL.map(Scope::as_str).to_vec();
    vec![
        ("SubscriptionIn", "events", events.clone()),
        ("SubscriptionPatchIn", "events", events),
        ("TokenIn", "scopes", scopes.clone()),
        ("TrustPolicyIn", "scopes", scopes),
    ]
}

/// The document, built once.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc: Value =
            serde_yaml::from_str(&super::openapi_service().spec_yaml()).unwrap_or(Value::Null);
        if let Some(schemas) = doc
            .get_mut("components")
            .and_then(|c| c.get_mut("schemas"))
            .and_then(Value::as_mapping_mut)
        {
            for name in CLOSED_OBJECTS {
                if let Some(schema) = schemas.get_mut(*name).and_then(Value::as_mapping_mut) {
                    schema.insert("additionalProperties".into(), Value::Bool(false));
                }
            }
            for (object, property, words) in vocabularies() {
                if let Some(items) = schemas
                    .get_mut(object)
                    .and_then(|s| s.get_mut("properties"))
                    .and_then(|p| p.get_mut(property))
                    .and_then(|p| p.get_mut("items"))
                    .and_then(Value::as_mapping_mut)
                {
                    let words = words.into_iter().map(Value::from).collect();
                    items.insert("enum".into(), Value::Sequence(words));
                }
            }
        }
        doc
    })
}

/// `openapi.yaml`.
pub fn yaml() -> String {
    serde_yaml::to_string(document()).unwrap_or_default()
}

/// `openapi.json`.
pub fn json() -> String {
    serde_json::to_string(document()).unwrap_or_default()
}

#[handler]
pub fn serve_json() -> Response {
    json()
        .with_content_type("application/json; charset=utf-8")
        .into_response()
}

#[handler]
pub fn serve_yaml() -> Response {
    yaml()
        .with_content_type("application/x-yaml; charset=utf-8")
        .into_response()
}
