//! `openapi.yaml` is generated from the code; this fails when the checked-in copy is stale.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test --test api openapi`.

#[test]
fn openapi_yaml_is_up_to_date() {
    let generated = api::openapi_service().spec_yaml();
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
