//! `RepositoryRef::parse`: every repository URL a client sends (`repository_url` of
//! deployments, incidents and hooks, the `repository` filter of lists and metrics).
//! Properties: never panics; an accepted URL is storable (no NUL, for PostgreSQL); the key
//! is lower-case; and the key names the same repository when spelled as an https URL
//! (README: "every spelling of one repository is one repository").
#![no_main]

use api::domain::RepositoryRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = RepositoryRef::parse(input) else {
        return;
    };
    assert!(
        !r.url.contains('\0'),
        "accepted repository URL contains NUL (PostgreSQL cannot store it): {:?}",
        r.url
    );
    assert_eq!(r.key, r.key.to_lowercase(), "key is not lower-case");
    assert!(
        r.key.ends_with(&r.name),
        "name {:?} is not the key's path {:?}",
        r.name,
        r.key
    );
    let again = RepositoryRef::parse(&format!("https://{}", r.key));
    assert_eq!(
        again.as_ref().map(|a| a.key.as_str()),
        Ok(r.key.as_str()),
        "{input:?} has key {:?}, but https://{} does not",
        r.key,
        r.key
    );
});
