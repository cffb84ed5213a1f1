//! Domain values: validated once when a request is parsed, so storage and metrics only
//! ever see well-formed data.

mod deployment;
mod repository;
mod status;

pub use deployment::{
    ChangeError, CommitInput, DeploymentChange, Errors, NewDeployment, RawDeployment, Status,
    TriggeredBy, check_http_url, check_timing, truncate_micros,
};
pub use repository::RepositoryRef;
pub use status::{MAX_STATUS_DESCRIPTION, StatusState};

/// Organization slugs: 1–64 of `a-z 0-9 - _ .`, starting with a letter or digit.
pub fn validate_slug(slug: &str) -> Result<(), String> {
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && slug.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && slug.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{slug}` is not an organization slug (1-64 of a-z, 0-9, '-', '_', '.', starting with a letter or digit)"
        ))
    }
}

/// Environment names: 1–64 of letters, digits and `- _ . /`.
pub fn validate_environment(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
    if ok {
        Ok(())
    } else {
        Err("must be 1-64 of letters, digits, '-', '_', '.', '/'".to_owned())
    }
}

/// A commit id: 7 to 64 hexadecimal digits, stored lower-case.
pub fn normalize_sha(sha: &str) -> Result<String, String> {
    if (7..=64).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha.to_ascii_lowercase())
    } else {
        Err("must be 7 to 64 hexadecimal digits".to_owned())
    }
}

/// Text that is stored and shown back: no control characters other than newlines/tabs.
pub fn check_text(value: &str, allow_newlines: bool) -> Result<(), String> {
    let bad = value
        .chars()
        .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')));
    if bad {
        Err("must not contain control characters".to_owned())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(validate_slug("acme").is_ok());
        assert!(validate_slug("acme-2.eu").is_ok());
        assert!(validate_slug("").is_err());
        assert!(validate_slug("Acme").is_err());
        assert!(validate_slug("-acme").is_err());
        assert!(validate_slug(&"a".repeat(65)).is_err());
    }

    #[test]
    fn shas() {
        assert_eq!(normalize_sha("FA9BCE5").as_deref(), Ok("fa9bce5"));
        assert!(normalize_sha("fa9bce").is_err());
        assert!(normalize_sha("zzzzzzz").is_err());
    }

    #[test]
    fn environments() {
        assert!(validate_environment("production").is_ok());
        assert!(validate_environment("review/pr-12").is_ok());
        assert!(validate_environment("prod uction").is_err());
        assert!(validate_environment("").is_err());
    }
}
