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
