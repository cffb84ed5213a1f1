//! Request headers that poem-openapi's `Header<…>` cannot read faithfully.
//!
//! `Header<Option<String>>` skips a value that is not visible ASCII (`HeaderValue::to_str`
//! fails on `café-1`), so such a key would look absent and the request would be recorded
//! again on every retry. The operations still declare the header (for the spec); its value
//! is read here, from the raw bytes.

use poem::Request;

use crate::core::{self, idempotency};

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The request's `Idempotency-Key`: `None` when absent; 400 when it is not 1–255 visible
/// ASCII characters (whatever its bytes) or is sent more than once.
pub fn idempotency_key(req: &Request) -> Result<Option<String>, core::Error> {
    let mut values = req.headers().get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(core::Error::BadRequest {
            kind: "invalid-idempotency-key",
            detail: "send one Idempotency-Key header, not several".to_owned(),
        });
    }
    // Non-UTF-8 bytes become U+FFFD, which `check` refuses like any non-ASCII character.
    let key = String::from_utf8_lossy(value.as_bytes());
    idempotency::check(&key)?;
    Ok(Some(key.into_owned()))
}
